"""Running `supportdesk` commands in-process with click's CliRunner, on a clean
environment: only the SUPPORTDESK_* variables a test names are set."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from admin.cli import main

Env = dict[str, str | None]


def cli_env(data_dir: Path, database_url: str, **extra: str) -> Env:
    """DATA_DIR and the database, plus `extra`; every other SUPPORTDESK_* variable unset."""
    env: Env = {name: None for name in os.environ if name.startswith("SUPPORTDESK_")}
    env["SUPPORTDESK_DATA_DIR"] = str(data_dir)
    env["SUPPORTDESK_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def invoke(env: Env, *args: str, input: str | None = None) -> Result:
    """Run `supportdesk ARGS` like an operator would; result.stdout / .stderr are apart.
    An exception other than the command's own exit propagates (no silent exit code 1)."""
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


async def ainvoke(env: Env, *args: str) -> Result:
    """`invoke` from an async test: the command runs its own event loop, so in a thread."""
    return await asyncio.to_thread(invoke, env, *args)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`serve` installs its root log handler on the runner's stderr; put logging back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)
