"""Copies of the test run's migrated template database (see conftest's `sqlite_template`
and `pg_template`): a SQLite file copy, or a PostgreSQL CREATE DATABASE ... TEMPLATE."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import create_engine

PG_URL = os.environ.get("SUPPORTDESK_TEST_DATABASE_URL", "")


def copy_sqlite_template(template: Path, target: Path) -> str:
    """A migrated database at `target` (a copy of the template); its URL."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    for suffix in ("-wal", "-shm"):  # empty after the TRUNCATE checkpoint; copied if present
        side = template.with_name(template.name + suffix)
        if side.exists():
            shutil.copyfile(side, target.with_name(target.name + suffix))
    return f"sqlite+aiosqlite:///{target}"


async def admin_execute(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def pg_url(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def pg_name(kind: str) -> str:
    return f"sd_{kind}_{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def pg_database(template: str | None) -> Iterator[str]:
    """A new PostgreSQL database (a copy of `template`, or empty) for as long as the
    block runs; its URL. Not inside a running event loop."""
    name = pg_name("test")
    clause = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(admin_execute(PG_URL, f'CREATE DATABASE "{name}"{clause}'))
    try:
        yield pg_url(name)
    finally:
        asyncio.run(admin_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
