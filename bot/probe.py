"""Bot API connectivity for /readyz."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiogram import Bot

CHECK_TIMEOUT = 5


class BotProbe:
    """getMe against the Bot API, cached briefly so frequent probes do not hammer it."""

    def __init__(self, bot: Bot | None, ttl: float = 30.0, failure_ttl: float = 5.0) -> None:
        self.bot = bot
        self.ttl, self.failure_ttl = ttl, failure_ttl
        self._result: dict[str, object] | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()
        # Set by the bot runtime while it cannot serve yet (e.g. webhook not registered).
        self.not_ready: str | None = None

    async def check(self) -> dict[str, object]:
        if self.bot is None:
            return {"ok": True, "state": "disabled"}
        if self.not_ready is not None:
            return {"ok": False, "state": self.not_ready}
        async with self._lock:
            if self._result is not None and time.monotonic() < self._until:
                return {**self._result, "cached": True}
            try:
                me = await self.bot.get_me(request_timeout=CHECK_TIMEOUT)
                result: dict[str, object] = {"ok": True, "state": "connected", "id": me.id}
                if me.username:
                    result["username"] = me.username
                ttl = self.ttl
            except Exception as exc:
                # The message of a Telegram error may echo the request; the type is enough.
                result = {"ok": False, "state": "unreachable", "error": type(exc).__name__}
                ttl = self.failure_ttl
            self._result, self._until = result, time.monotonic() + ttl
            return result
