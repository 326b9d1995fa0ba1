"""A sweeper in a process of its own that holds the lease and its run and blocks in its one
rule until killed: `python tests/sweeper_child.py DATABASE_URL STORE_DIR`. It prints
"holding" once the lease is taken and the run row written."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from recordings.service import RecordingService
from storage.clock import SystemClock
from storage.db import create_engine, create_sessionmaker
from storage.objectstore import LocalObjectStore
from storage.retention.jobs import Job, Outcome
from storage.retention.rules import schedule
from storage.retention.sweeper import Sweeper


async def block(job: Job) -> Outcome:
    print("holding", flush=True)
    await asyncio.Event().wait()
    return Outcome()


async def main(url: str, store_dir: str) -> None:
    engine = create_engine(url)
    clock = SystemClock()
    store = LocalObjectStore(Path(store_dir))
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
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
