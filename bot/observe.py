"""One log line per bot update: id, type, Telegram user id, duration, outcome. Never the
update's content (message text, phone numbers in shared contacts, file ids)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from storage.logs import fields

log = logging.getLogger("supportdesk.bot")

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UpdateLogMiddleware(BaseMiddleware):
    """Outer update middleware; register it first so it times everything after it."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await handler(event, data)
            outcome = "handled"
            return result
        finally:
            update_id = event.update_id if isinstance(event, Update) else None
            update_type = event.event_type if isinstance(event, Update) else type(event).__name__
            user = data.get("event_from_user")
            log.info(
                "update %s %s",
                update_type,
                outcome,
                extra=fields(
                    event="bot_update",
                    update_id=update_id,
                    update_type=update_type,
                    user_id=user.id if user is not None else None,
                    outcome=outcome,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                ),
            )
