"""Waiting on a condition with a deadline, never sleep-then-assert."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def until(predicate: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    """Poll `predicate` every 50 ms until it holds; fail after `seconds`."""
    for _ in range(int(seconds / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")
