"""Erasure on SQLite leaves no trace in the database file itself: freed pages and cells are
zeroed (PRAGMA secure_delete), the FTS5 search indexes are compacted and the WAL is
checkpointed and truncated by the disk cleanup worker once the erasure commits, so neither
the erased texts nor index entries for them linger. Always SQLite: it reads the file's bytes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from storage.services.privacy_erasure import erase_contact
from storage.services.purge import SEARCH_INDEXES
from tests.db_template import copy_sqlite_template
from tests.privacy_fixtures import STAFF, SUBJECT, PrivacyWorld, pworld

__all__ = ["pworld"]


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """This module's own SQLite file (at head), whatever database the rest of the suite uses."""
    return copy_sqlite_template(sqlite_template, tmp_path / "erasure.sqlite3")


def _checkpointed_bytes(path: Path) -> bytes:
    """The database file and its WAL after a checkpoint that empties the WAL."""
    with sqlite3.connect(path) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _fts_tables(conn: sqlite3.Connection) -> list[str]:
    """Every FTS5 index in the schema, not only those the erasure knows of."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        " AND sql LIKE 'CREATE VIRTUAL TABLE%USING fts5%'"
    )
    return [name for (name,) in rows]


def _index_shape(path: Path) -> dict[str, tuple[int, int]]:
    """Per FTS5 index: (rows, bytes) of its segment data."""
    with sqlite3.connect(path) as conn:
        tables = _fts_tables(conn)
        assert set(SEARCH_INDEXES) <= set(tables)
        return {
            table: conn.execute(
                f"SELECT count(*), coalesce(sum(length(block)), 0) FROM {table}_data"
            ).fetchone()
            for table in tables
        }


def _optimize(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        for table in _fts_tables(conn):
            conn.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")


async def test_erased_text_is_gone_from_the_database_file(
    pworld: PrivacyWorld, database_url: str
) -> None:
    path = Path(database_url.removeprefix("sqlite+aiosqlite:///"))
    # The e-mail address is only in the subject's own rows (contact, texts, form, held
    # message), none of which the held evidence recording keeps.
    needle = SUBJECT.email.encode()
    async with pworld.sessions() as s:
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        await s.commit()
    assert needle in await asyncio.to_thread(_checkpointed_bytes, path)

    async with pworld.sessions() as s:
        await erase_contact(
            pworld.privacy,
            pworld.recordings,
            s,
            SUBJECT.contact_id,
            actor=STAFF,
            request_id=pworld.request_id,
        )
        await s.commit()
    assert await pworld.disk_cleanup.wait_done()

    # Before any checkpoint of ours: the worker woken by the erasure's commit emptied the
    # WAL, so neither it nor the database file still holds the erased text.
    wal = path.with_name(path.name + "-wal")
    assert needle not in await asyncio.to_thread(lambda: path.read_bytes() + wal.read_bytes())
    assert await asyncio.to_thread(lambda: wal.stat().st_size) == 0  # truncated
    assert needle not in await asyncio.to_thread(_checkpointed_bytes, path)
    # The indexes were compacted by the erasure: a further 'optimize' finds nothing to drop.
    shape = await asyncio.to_thread(_index_shape, path)
    await asyncio.to_thread(_optimize, path)
    assert await asyncio.to_thread(_index_shape, path) == shape
