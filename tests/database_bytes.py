"""Every byte a test database keeps on disk for our tables: on SQLite the database file
and its WAL; on PostgreSQL every file of the schema's tables, their TOAST tables and all
their indexes, read with pg_read_binary_file after a CHECKPOINT (the test role is a
superuser)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

SCHEMA_FILES = text(
    "SELECT pg_relation_filepath(c.oid) FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i', 'm')"
    " UNION SELECT pg_relation_filepath(c.reltoastrelid) FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND c.reltoastrelid <> 0"
    " UNION SELECT pg_relation_filepath(i.indexrelid) FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indrelid = c.reltoastrelid"
    " WHERE n.nspname = current_schema()"
)


async def database_bytes(engine: AsyncEngine) -> bytes:
    """Every byte the database keeps on disk for our tables."""
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database or "")
        wal = path.with_name(path.name + "-wal")
        return await asyncio.to_thread(
            lambda: path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        )
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("CHECKPOINT"))  # shared buffers written to the files
        files = [f for f in await connection.scalars(SCHEMA_FILES) if f]
        read = text("SELECT pg_read_binary_file(:path)")
        pages = [await connection.scalar(read, {"path": f}) for f in files]
    assert len(files) > 50  # tables, indexes, TOAST: the scan sees the whole schema
    return b"".join(pages)
