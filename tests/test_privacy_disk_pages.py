"""After an erasure commits, no page on disk holds the erased subject's data: on SQLite
the database file and its WAL; on PostgreSQL every file of the schema's tables, their
TOAST tables and indexes (read with pg_read_binary_file after a CHECKPOINT, as the test
role is a superuser). PostgreSQL leaves the old version of every updated or deleted row in
its page, so the erasure rewrites the tables it changed; a transaction with an older
snapshot, which could still read those versions, holds the rewrite back until it ends
(the same as a reader holding back SQLite's WAL checkpoint)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from recording_audio_helpers import make_audio
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from recordings.service import IngestMetadata
from storage.db import read_only
from storage.models import DiskCleanup, RecordingNote
from storage.services.disk_cleanup import DiskCleanupWorker
from storage.services.privacy import PrivacyService
from storage.services.privacy_erasure import erase_request
from tests.database_bytes import database_bytes
from tests.privacy_fixtures import NOW, STAFF, SUBJECT, PrivacyWorld, pworld

__all__ = ["pworld"]

# Only in the subject's own rows (contact, texts, form, held message, request), none of
# which the evidence-held recording (linked by the PBX's "0612345678") keeps.
pytestmark = pytest.mark.storage  # CI runs it again on PostgreSQL: the rewrite is tested there

NEEDLES = (SUBJECT.email.encode(), SUBJECT.name.encode(), SUBJECT.phone.encode())


def _found(data: bytes) -> list[bytes]:
    return [n for n in NEEDLES if n in data]


@asynccontextmanager
async def _reader(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that has read the tickets before the erasure and stays open: on
    PostgreSQL it keeps that snapshot (REPEATABLE READ), on SQLite it pins the WAL."""
    async with read_only(engine).connect() as connection:  # on SQLite a deferred BEGIN
        if engine.dialect.name == "postgresql":
            await connection.execution_options(isolation_level="REPEATABLE READ")
        await connection.execute(text("SELECT count(*) FROM tickets"))
        yield connection
        await connection.rollback()


async def _verified(pworld: PrivacyWorld) -> None:
    async with pworld.sessions() as s:
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        await s.commit()


async def test_no_page_holds_the_erased_subject(pworld: PrivacyWorld, engine: AsyncEngine) -> None:
    await _verified(pworld)
    assert _found(await database_bytes(engine)) == list(NEEDLES)  # the scan finds them before

    async with pworld.sessions() as s:
        result = await erase_request(
            pworld.privacy, pworld.recordings, s, pworld.request_id, actor=STAFF
        )
        await s.commit()

    assert {i.type for i in result.items if i.outcome == "anonymised"} >= {"ticket", "message"}
    # Done at the commit, unless a transaction elsewhere in the cluster (other tests) was
    # older than the erasure: then the retry finishes once it ends.
    assert await pworld.disk_cleanup.wait_done()
    assert _found(await database_bytes(engine)) == []


async def test_an_open_reader_holds_the_cleanup_back_until_it_ends(
    pworld: PrivacyWorld, engine: AsyncEngine
) -> None:
    await _verified(pworld)
    async with _reader(engine):
        async with pworld.sessions() as s:
            await erase_request(
                pworld.privacy, pworld.recordings, s, pworld.request_id, actor=STAFF
            )
            await s.commit()
        # Not yet: the reader may still read the old row versions (or WAL frames).
        assert _found(await database_bytes(engine)) != []

    assert await pworld.disk_cleanup.wait_done()  # the retry, now unblocked
    assert _found(await database_bytes(engine)) == []


# Only in a trainer's note on one of the subject's recordings.
NOTE = b"Zonderland belde boos over factuur 4471"


async def _recording_with_a_note_then_another(pworld: PrivacyWorld, tmp_path: Path) -> None:
    """A note on the subject's first recording and a third recording after the evidence-held
    one: the vault commits when it decides each delete, so the first recording's row and
    notes go in a commit of the erasure before its last one."""
    async with pworld.sessions() as s:
        s.add(
            RecordingNote(
                recording_id=SUBJECT.recording_ids[0],
                position_ms=1000,
                text=NOTE.decode(),
                author_staff_id=pworld.staff_id,
                created_at=NOW,
            )
        )
        await s.flush()
        audio = make_audio(tmp_path, "wav_mulaw", frequency=880)
        await pworld.recordings.ingest(
            s, audio, IngestMetadata(started_at=NOW, caller=SUBJECT.caller, agent="bob"), STAFF
        )
        await s.commit()


async def test_tables_changed_in_earlier_commits_of_the_erasure_are_rewritten_too(
    pworld: PrivacyWorld, engine: AsyncEngine, tmp_path: Path
) -> None:
    await _verified(pworld)
    await _recording_with_a_note_then_another(pworld, tmp_path)
    assert NOTE in await database_bytes(engine)

    async with pworld.sessions() as s:
        result = await erase_request(
            pworld.privacy, pworld.recordings, s, pworld.request_id, actor=STAFF
        )
        await s.commit()

    erased = {i.id for i in result.items if i.type == "recording" and i.outcome == "erased"}
    assert SUBJECT.recording_ids[0] in erased and len(erased) == 2
    assert await pworld.disk_cleanup.wait_done()
    assert NOTE not in await database_bytes(engine)
    assert _found(await database_bytes(engine)) == []
    assert await _pending(engine) == 0  # nothing left for a later pass


async def _pending(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(select(func.count()).select_from(DiskCleanup)) or 0


async def test_the_commit_only_records_the_cleanup_and_the_next_start_does_it(
    pworld: PrivacyWorld, engine: AsyncEngine
) -> None:
    """No worker to wake (a process that stopped before it could): the erasure's commit
    neither rewrites nor checkpoints, it leaves rows; a worker started later cleans up."""
    await _verified(pworld)
    unwired = PrivacyService(pworld.clock, pworld.store)
    async with pworld.sessions() as s:
        await erase_request(unwired, pworld.recordings, s, pworld.request_id, actor=STAFF)
        await s.commit()

    assert await _pending(engine) > 0
    assert _found(await database_bytes(engine)) != []  # nothing cleaned on the way

    restarted = DiskCleanupWorker(engine)
    restarted.start()
    try:
        assert await restarted.wait_done()
    finally:
        await restarted.stop()
    assert _found(await database_bytes(engine)) == []
    assert await _pending(engine) == 0


async def test_shutdown_during_a_blocked_pass_logs_what_the_next_start_takes_over(
    pworld: PrivacyWorld, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    await _verified(pworld)
    unwired = PrivacyService(pworld.clock, pworld.store)
    worker = DiskCleanupWorker(engine)
    async with _reader(engine):
        async with pworld.sessions() as s:
            await erase_request(unwired, pworld.recordings, s, pworld.request_id, actor=STAFF)
            await s.commit()
        worker.start()  # its first pass waits for the reader
        await worker.stop(grace=0.2)

    assert "left for the next start" in caplog.text
    assert await _pending(engine) > 0  # still recorded: the restart test shows the rest
