"""The WAL checkpoint after an erasure is retried while a reader blocks it: a reader holding
a read transaction open (an old snapshot) during the erasure keeps the erased texts in the
WAL; once it ends, the retry empties the WAL, and neither the file nor the WAL holds them.
Always SQLite: it reads the file's bytes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from storage.services.privacy_erasure import erase_request
from tests.db_template import copy_sqlite_template
from tests.privacy_fixtures import STAFF, SUBJECT, PrivacyWorld, pworld

__all__ = ["pworld"]


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """This module's own SQLite file (at head), whatever database the rest of the suite uses."""
    return copy_sqlite_template(sqlite_template, tmp_path / "checkpoint.sqlite3")


def _open_reader(path: Path) -> sqlite3.Connection:
    """A connection inside a read transaction: its snapshot pins the WAL."""
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM contact_persons").fetchone()
    return reader


def _end_reader(reader: sqlite3.Connection) -> None:
    reader.execute("COMMIT")
    reader.close()


def _file_and_wal(path: Path) -> tuple[bytes, bytes]:
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes(), wal.read_bytes() if wal.exists() else b""


async def test_checkpoint_waits_for_the_reader_then_the_erased_text_is_gone(
    pworld: PrivacyWorld, database_url: str
) -> None:
    path = Path(database_url.removeprefix("sqlite+aiosqlite:///"))
    needle = SUBJECT.email.encode()  # only in the subject's own rows (none kept as evidence)
    async with pworld.sessions() as s:
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        await s.commit()

    reader = await asyncio.to_thread(_open_reader, path)
    try:
        async with pworld.sessions() as s:
            await erase_request(
                pworld.privacy, pworld.recordings, s, pworld.request_id, actor=STAFF
            )
            await s.commit()  # the checkpoint after the commit is blocked by the reader
        database, wal = await asyncio.to_thread(_file_and_wal, path)
        assert wal, "the blocked checkpoint left the WAL in place"
        assert needle in database + wal  # the old pages: not yet overwritten
    finally:
        await asyncio.to_thread(_end_reader, reader)

    assert await pworld.disk_cleanup.wait_done()  # the retry, now unblocked
    database, wal = await asyncio.to_thread(_file_and_wal, path)
    assert wal == b""  # truncated
    assert needle not in database
