"""The bot's answers to an update are written to the outbox in the update's transaction.

A handler that says "ticket T-2026-000123 opened" and then fails (a full disk at commit, a
lost database connection) would otherwise have told the customer about a ticket that was
never stored; the retry would then open it again - on PostgreSQL under another reference,
since sequences do not roll back. So while an update is handled (bot/middlewares.py), the
Bot API calls that only tell the customer something are queued here instead of sent, and
written to the outbox (bot/outbox.py) in the update's transaction: they commit with it and are
then sent in order and retried until Telegram confirms them; after a rollback they are gone,
and the retry says it again. Calls whose answer the handler needs (getFile, downloads) go out at
once. A queued call returns None to the handler: handlers never read what an answer
returned (the outbox and reply-edit workers, which do, run outside any update).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    TelegramMethod,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage
from storage.services import outbox

log = logging.getLogger(__name__)

# Telling, not asking: nothing a handler does next depends on their result.
DEFERRED = (
    SendMessage,
    EditMessageText,
    EditMessageReplyMarkup,
    AnswerCallbackQuery,
    DeleteMessage,
)

_queue: ContextVar[list[TelegramMethod[Any]] | None] = ContextVar("bot_answers", default=None)


class DeferAnswers(BaseRequestMiddleware):
    """Queues the DEFERRED calls made while `deferred()` is active in this task."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Any:
        queue = _queue.get()
        if queue is not None and isinstance(method, DEFERRED):
            queue.append(method)
            return None
        return await make_request(bot, method)


def install(bot: Bot) -> None:
    """Register on the bot's session once (any Bot: production's, a test's, a bench's)."""
    if not any(isinstance(m, DeferAnswers) for m in bot.session.middleware):
        bot.session.middleware(DeferAnswers())


@contextlib.contextmanager
def deferred() -> Iterator[list[TelegramMethod[Any]]]:
    """Queue the answers made inside the block; the caller writes them with `enqueue`."""
    queue: list[TelegramMethod[Any]] = []
    token = _queue.set(queue)
    try:
        yield queue
    finally:
        _queue.reset(token)


def enqueue(
    session: AsyncSession, chat_id: int, said: list[TelegramMethod[Any]], now: datetime
) -> list[OutboxMessage]:
    """In the update's transaction: the answers become outbox rows (bot/outbox.py), committed
    with what the handler stored, or rolled back with it; never lost once committed."""
    rows = []
    for method in said:
        # Serialised as the Bot API takes it; aiogram's default markers are left to the bot.
        payload = method.model_dump_json(exclude_none=True, exclude_defaults=True)
        rows.append(outbox.enqueue(session, chat_id, method.__api_method__, payload, now))
    return rows
