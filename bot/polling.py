"""Long polling through the inbox: each batch is stored (committed) before the offset moves
past it, then handed to the processor; a repeated update_id is ignored."""

from __future__ import annotations

import asyncio
import json
import logging

from aiogram import Bot
from aiogram.exceptions import ClientDecodeError
from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.processor import UpdateProcessor, readable_update
from storage.clock import Clock

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25


async def polling_loop(
    bot: Bot,
    processor: UpdateProcessor,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    allowed_updates: list[str],
) -> None:
    offset: int | None = None
    backoff = 1.0
    webhook_removed = False
    while True:
        try:
            if not webhook_removed:  # getUpdates is refused while a webhook is set
                await bot.delete_webhook(drop_pending_updates=False)
                webhook_removed = True
            updates, last_id = await _fetch(bot, offset, allowed_updates)
            if updates:  # the whole batch in one commit; known ids are skipped
                await processor.receive_many(updates)
            if last_id is not None:
                offset = last_id + 1
            backoff = 1.0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("bot polling failed (%s); retrying in %.0fs", type(exc).__name__, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


async def _fetch(
    bot: Bot, offset: int | None, allowed_updates: list[str]
) -> tuple[list[tuple[int, Update, str]], int | None]:
    """One getUpdates: (update_id, update, payload to store) for each, and the last
    update_id in the answer. An update this aiogram cannot read (a newer Bot API shape)
    would fail the whole batch, and since the offset could never pass it, every customer's
    updates after it: the batch is read one by one, the unreadable one stored raw and filed
    as a placeholder (bot/processor.py readable_update), never skipped."""
    try:
        updates = await bot.get_updates(
            offset=offset,
            timeout=POLL_TIMEOUT,
            allowed_updates=allowed_updates,
            request_timeout=POLL_TIMEOUT + 10,
        )
        items = [
            (u.update_id, u, u.model_dump_json(by_alias=True, exclude_none=True)) for u in updates
        ]
        return items, updates[-1].update_id if updates else None
    except ClientDecodeError as exc:
        raw = exc.data.get("result") if isinstance(exc.data, dict) else None
        if not isinstance(raw, list) or not all(
            isinstance(item, dict)
            and isinstance(item.get("update_id"), int)
            and not isinstance(item.get("update_id"), bool)
            for item in raw
        ):
            raise  # not a batch of updates: retried with backoff
    items = [(item["update_id"], readable_update(item, bot), json.dumps(item)) for item in raw]
    return items, max(item["update_id"] for item in raw) if raw else None
