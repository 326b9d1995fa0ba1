"""Shared fixtures: a migrated database (SQLite, or PostgreSQL when
SUPPORTDESK_TEST_DATABASE_URL names one), an S3 endpoint (moto's server on loopback; with
`s3_server` also SeaweedFS, tests/seaweed.py),
and settings pointing at both.

The migrations run once per test run, into a template database; each test gets a copy of
it (SQLite: the file; PostgreSQL: CREATE DATABASE ... TEMPLATE). Tests of the migrations
themselves take `empty_database_url`."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import migrate
from storage.config import Settings
from storage.db import create_engine, create_sessionmaker
from tests.db_template import (
    PG_URL,
    admin_execute,
    copy_sqlite_template,
    pg_database,
    pg_name,
    pg_url,
)
from tests.seaweed import seaweedfs_endpoint  # noqa: F401 - a session fixture, registered here


async def _migrate_to_head(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per run, its WAL folded into the file."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(_migrate_to_head(f"sqlite+aiosqlite:///{path}"))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A PostgreSQL database migrated to head once per run; its name. Requested only when
    PG_URL is set."""
    name = pg_name("tmpl")
    asyncio.run(admin_execute(PG_URL, f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(_migrate_to_head(pg_url(name)))
        yield name
    finally:
        asyncio.run(admin_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database for one test (for tests that run the migrations themselves)."""
    if not PG_URL:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    with pg_database(None) as url:
        yield url


@pytest.fixture
def database_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database at head for one test: a copy of the run's migrated template."""
    if not PG_URL:
        template = request.getfixturevalue("sqlite_template")
        yield copy_sqlite_template(template, tmp_path / "test.sqlite3")
        return
    with pg_database(request.getfixturevalue("pg_template")) as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to head."""
    eng = create_engine(database_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def session(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with session_factory() as s:
        yield s


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server, a real HTTP S3 endpoint on loopback."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(params=["moto", "seaweedfs"])
def s3_server(request: pytest.FixtureRequest) -> str:
    """Each real S3 server in turn: moto, and SeaweedFS (which answers some questions the
    way AWS does, where moto does not)."""
    fixture = "s3_endpoint" if request.param == "moto" else "seaweedfs_endpoint"
    return request.getfixturevalue(fixture)


@pytest.fixture
def s3_bucket() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Embedded-default settings (local object store) on the test database."""
    return Settings(data_dir=tmp_path / "var", database_url=database_url)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests take turns on one worker: each drives a chromium, and two at once on
    a 2-CPU machine make their timing promises (a message live within 2 s) a race."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("browser"))
