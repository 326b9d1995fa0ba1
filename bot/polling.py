"""Long polling through the inbox: each batch is stored (committed) before the offset moves
past it, then handed to the processor; a repeated update_id is ignored."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.processor import UpdateProcessor
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
            updates = await bot.get_updates(
                offset=offset,
                timeout=POLL_TIMEOUT,
                allowed_updates=allowed_updates,
                request_timeout=POLL_TIMEOUT + 10,
            )
            if updates:  # the whole batch in one commit; known ids are skipped
                await processor.receive_many(
                    [
                        (u.update_id, u, u.model_dump_json(by_alias=True, exclude_none=True))
                        for u in updates
                    ]
                )
                offset = updates[-1].update_id + 1
            backoff = 1.0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("bot polling failed (%s); retrying in %.0fs", type(exc).__name__, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
