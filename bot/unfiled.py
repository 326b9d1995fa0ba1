"""The bot runtime's loop that files unfiled messages (the customer did not pick a ticket
within SUPPORTDESK_UNFILED_AFTER minutes) on their most recent open ticket; the service
function is storage.services.unfiled.file_waiting."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.clock import Clock
from storage.services.tickets import TicketService
from storage.services.unfiled import FiledNotice, file_waiting

log = logging.getLogger(__name__)

BATCH = 50


async def unfiled_loop(
    sessionmaker: async_sessionmaker[AsyncSession],
    ticket_service: TicketService,
    clock: Clock,
    notice: FiledNotice,
    *,
    wait: timedelta,
    interval: float = 30.0,
) -> None:
    """Run until cancelled: file what waited longer than `wait`, a batch per transaction;
    idle `interval` seconds when nothing is left."""
    while True:
        try:
            async with sessionmaker() as session:
                filed = await file_waiting(
                    session, ticket_service, notice, cutoff=clock.now() - wait, limit=BATCH
                )
                await session.commit()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("filing unfiled messages failed")
            filed = 0
        if filed < BATCH:
            await asyncio.sleep(interval)
