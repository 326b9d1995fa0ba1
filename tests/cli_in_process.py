"""Run the `supportdesk` CLI in this process (click's CliRunner) instead of a subprocess.

The commands call asyncio.run, so from an async test they run in a worker thread."""

from __future__ import annotations

import asyncio
import os

from click.testing import CliRunner, Result

from admin.cli import main


def invoke(args: list[str], env: dict[str, str]) -> Result:
    """`supportdesk *args` with only the given SUPPORTDESK_* variables set."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SUPPORTDESK_")}
    return CliRunner().invoke(main, args, env=unset | env)


async def invoke_async(args: list[str], env: dict[str, str]) -> Result:
    return await asyncio.to_thread(invoke, args, env)
