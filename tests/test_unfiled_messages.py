"""A message waiting for the customer's ticket choice is filed on their most recent open
ticket once SUPPORTDESK_UNFILED_AFTER has passed (storage.services.unfiled.file_waiting,
run by the bot runtime's loop)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from aiogram.methods import SendMessage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from unfiled_helpers import (
    CHAT,
    WAITING_TEXT,
    assert_filed_on_recent,
    two_tickets_and_a_waiting_message,
)

from bot.outbox import ANSWER_METHODS
from bot.texts import FiledNoticeText, create_i18n
from bot.unfiled import unfiled_loop
from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import OutboxMessage, TicketMessage, UnfiledMessage
from storage.services.tickets import TicketService
from storage.services.unfiled import file_waiting

pytestmark = pytest.mark.storage

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


async def _file_as_of(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, wait: timedelta
) -> int:
    async with sessions() as session:
        filed = await file_waiting(
            session,
            TicketService(clock),
            FiledNoticeText(create_i18n()),
            cutoff=clock.now() - wait,
        )
        await session.commit()
        return filed


def test_the_wait_is_a_setting_of_15_minutes_by_default() -> None:
    assert Settings.model_fields["unfiled_after"].default == 15


async def test_filed_on_the_most_recent_open_ticket_once_the_wait_is_over(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    wait = timedelta(minutes=15)
    async with session_factory() as s:
        waiting = await two_tickets_and_a_waiting_message(s, clock, START)

    clock.set(START + timedelta(minutes=2) + wait - SECOND)
    assert await _file_as_of(session_factory, clock, wait) == 0
    async with session_factory() as s:
        assert [h.text for h in await s.scalars(select(UnfiledMessage))] == [WAITING_TEXT]
        assert list(await s.scalars(select(OutboxMessage))) == []
        assert WAITING_TEXT not in list(await s.scalars(select(TicketMessage.text)))

    clock.set(START + timedelta(minutes=2) + wait + SECOND)
    assert await _file_as_of(session_factory, clock, wait) == 1
    async with session_factory() as s:
        await assert_filed_on_recent(s, waiting)
    # Nothing left to file: a second round does nothing.
    assert await _file_as_of(session_factory, clock, wait) == 0


async def test_the_bot_runtimes_loop_files_them_and_the_outbox_can_send_the_notice(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """bot.unfiled.unfiled_loop (started by BotRuntime) runs file_waiting with the wait of
    the settings; the row it queues is a Bot API call the outbox worker sends."""
    clock = FrozenClock(START)
    async with session_factory() as s:
        waiting = await two_tickets_and_a_waiting_message(s, clock, START)
    clock.set(START + timedelta(minutes=2, seconds=15 * 60 + 1))
    loop = asyncio.create_task(
        unfiled_loop(
            session_factory,
            TicketService(clock),
            clock,
            FiledNoticeText(create_i18n()),
            wait=timedelta(minutes=15),
            interval=0.01,
        )
    )

    async def gone() -> bool:
        async with session_factory() as s:
            return await s.get(UnfiledMessage, waiting.held_id) is None

    try:
        for _ in range(500):
            if await gone():
                break
            await asyncio.sleep(0.02)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    async with session_factory() as s:
        await assert_filed_on_recent(s, waiting)
        row = await s.scalar(select(OutboxMessage))
        assert row is not None
        call = ANSWER_METHODS[row.method].model_validate_json(row.payload)
        assert isinstance(call, SendMessage) and call.chat_id == CHAT
