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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import read_only
from storage.services.privacy_erasure import erase_request
from tests.database_bytes import database_bytes
from tests.privacy_fixtures import STAFF, SUBJECT, PrivacyWorld, pworld

__all__ = ["pworld"]

# Only in the subject's own rows (contact, texts, form, held message, request), none of
# which the evidence-held recording (linked by the PBX's "0612345678") keeps.
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
