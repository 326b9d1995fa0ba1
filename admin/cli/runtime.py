"""What every `supportdesk` command shares: one settings loader, one runtime (engine,
migrations, object store) opened and closed in one place, and one way to run the
command's coroutine and turn refusals into exit codes.

Exit codes: 0 done, 1 the work was refused or failed (a ServiceError, a failed check),
2 bad configuration or bad usage (click's own code for a bad option)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from recordings.policy import policy_from_settings
from recordings.service import RecordingService
from storage import migrate as migrations
from storage.clock import Clock, SystemClock, parse_moment
from storage.config import ConfigError, Settings, ensure_data_dir, load_settings
from storage.db import create_engine, create_sessionmaker
from storage.objectstore import ObjectStore, create_object_store
from storage.services.disk_cleanup import DiskCleanupWorker
from storage.services.errors import ServiceError

T = TypeVar("T")

CONFIG_ERROR = 2
REFUSED = 1
# A command waits this long (seconds) for the disk cleanup after its erasures at exit: a
# pass retries for about three minutes while an older transaction holds it back.
CLI_CLEANUP_GRACE = 200.0


def fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def cli_settings() -> Settings:
    """Settings from the environment, with DATA_DIR in place (SQLite file, local store,
    secret key, temp files); a bad setting ends the command with one line and exit 2."""
    try:
        settings = load_settings()
        ensure_data_dir(settings)
    except ConfigError as exc:
        fail(str(exc), CONFIG_ERROR)
    return settings


@dataclass
class CliRuntime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: ObjectStore
    # Cleans the database files after an erasure run by the command (None: not migrated).
    disk_cleanup: DiskCleanupWorker | None = None
    clock: Clock = field(default_factory=SystemClock)

    def recordings(self) -> RecordingService:
        """The service with the settings' policy: its deletes also clear cached waveforms."""
        return RecordingService(self.clock, self.store, policy_from_settings(self.settings))

    async def in_session(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """One service call in its own session, committed when it returns."""
        async with self.sessions() as session:
            result = await work(session)
            await session.commit()
            return result

    async def revision(self) -> str | None:
        return await migrations.current_revision(self.engine)


@asynccontextmanager
async def cli_runtime(
    settings: Settings, *, migrate: bool = True, bucket: bool = False
) -> AsyncIterator[CliRuntime]:
    """Open the engine, upgrade the schema (unless `migrate=False`: a command that only
    inspects it), open the object store (creating the bucket with `bucket=True`) and close
    both however the command ends. With the schema upgraded, the disk cleanup worker runs
    too: the command waits for the cleanup after its own erasures (or logs what is left for
    the server's next pass)."""
    engine = create_engine(settings.effective_database_url)
    store: ObjectStore | None = None
    cleanup: DiskCleanupWorker | None = None
    try:
        if migrate:
            await migrations.upgrade(engine)
            cleanup = DiskCleanupWorker(engine)
            cleanup.start(first_pass=False)
        store = create_object_store(settings)
        if bucket:
            await store.ensure_bucket()
        yield CliRuntime(settings, engine, create_sessionmaker(engine), store, cleanup)
    finally:
        if cleanup is not None:
            await cleanup.stop(grace=CLI_CLEANUP_GRACE)
        if store is not None:
            await store.close()
        await engine.dispose()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a ServiceError ends it with its message and exit 1, a
    ConfigError found on the way (e.g. webhook mode without a secret) with exit 2."""
    try:
        return asyncio.run(coro)
    except ServiceError as exc:
        fail(f"error: {exc.message}", REFUSED)
    except ConfigError as exc:
        fail(str(exc), CONFIG_ERROR)


def moment_option(value: str | None, settings: Settings, option: str) -> datetime | None:
    """An ISO date/time option as UTC (SUPPORTDESK_TIMEZONE without an offset)."""
    if not value:
        return None
    try:
        return parse_moment(value, settings.zone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
