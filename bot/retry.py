"""429 for every Bot API call the bot makes (answers too, not only the outbox): wait the
`retry_after` Telegram asks for and try again, a bounded number of times."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class RetryAfterMiddleware(BaseRequestMiddleware):
    """The only 429 retry layer: callers (e.g. the delivery worker) see a TelegramRetryAfter
    only once these attempts are spent, and must not wait-and-resend on their own."""

    def __init__(
        self, attempts: int = 3, max_wait: float = 60.0, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.attempts = attempts
        self.max_wait = max_wait
        self.sleep = sleep  # the clock edge: tests pass a recorder

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts or exc.retry_after > self.max_wait:
                    raise
                log.info(
                    "telegram asks to wait %ss before %s (attempt %d)",
                    exc.retry_after,
                    method.__api_method__,
                    attempt,
                )
                await self.sleep(exc.retry_after)
        raise AssertionError("unreachable")  # pragma: no cover


def install(session: Any, *, sleep: Sleep = asyncio.sleep) -> None:
    """Register on a Bot's session (create_bot)."""
    session.middleware(RetryAfterMiddleware(sleep=sleep))
