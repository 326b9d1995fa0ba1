"""A sweeper in a process of its own that holds the lease and its run and blocks in its one
rule until killed: `python tests/sweeper_child.py`, configured like `supportdesk` by the
SUPPORTDESK_* environment (database, object store). It prints "holding" once the lease is
taken and the run row written."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from recordings.service import RecordingService
from storage.clock import SystemClock
from storage.config import load_settings
from storage.db import create_engine, create_sessionmaker
from storage.objectstore import create_object_store
from storage.retention.jobs import Job, Outcome
from storage.retention.rules import schedule
from storage.retention.sweeper import Sweeper


async def block(job: Job) -> Outcome:
    print("holding", flush=True)
    await asyncio.Event().wait()
    return Outcome()


async def main() -> None:
    settings = load_settings()
    engine = create_engine(settings.effective_database_url)
    clock = SystemClock()
    store = create_object_store(settings)
    rules = (replace(schedule({})[0], key="blocks_until_killed", sweep=block),)
    sweeper = Sweeper(
        create_sessionmaker(engine),
        store,
        clock,
        rules,
        recordings=RecordingService(clock, store),
        heartbeat=timedelta(seconds=1),
    )
    try:
        await sweeper.run(trigger="test")
    finally:
        await store.close()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
