"""A message waiting for the customer's ticket choice is filed on their most recent open
ticket once SUPPORTDESK_UNFILED_AFTER has passed (storage.services.unfiled.file_waiting,
run by the bot runtime's loop)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.methods import SendMessage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from unfiled_helpers import (
    CHAT,
    WAITING_TEXT,
    assert_filed_on_recent,
    two_tickets_and_a_waiting_message,
)

from admin.app import SESSIONMAKER, create_app
from bot.outbox import ANSWER_METHODS
from bot.texts import FiledNoticeText, create_i18n, translate
from bot.unfiled import TicketQuestionAgain, unfiled_loop
from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import (
    ContactPerson,
    OutboxMessage,
    Ticket,
    TicketChannel,
    TicketMessage,
    UnfiledMessage,
)
from storage.services.audit import Actor
from storage.services.tickets import TicketService
from storage.services.unfiled import file_waiting, remind_waiting
from tests.telegram_fake import TOKEN, HttpBotApi, bot_settings, text_update_json
from tests.waiting import until

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
    """bot.unfiled.unfiled_loop (started by BotRuntime) runs file_waiting_each with the wait of
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
            TicketQuestionAgain(create_i18n()),
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


USER = 8401
WAIT = timedelta(minutes=15)


def _customer_text(update_id: int, text: str) -> dict[str, Any]:
    return text_update_json(update_id, USER, text)


async def _two_open_tickets(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> list[Ticket]:
    """The customer's tickets, most recent activity first."""
    service = TicketService(clock)
    async with sessions() as s:
        contact = ContactPerson(
            name="Klaas", telegram_user_id=USER, telegram_chat_id=USER, language="nl",
            created_at=clock.now(), updated_at=clock.now(),
        )  # fmt: skip
        s.add(contact)
        await s.flush()
        tickets = []
        for text in ("Storing op de lijn", "Factuur klopt niet"):
            ticket, _ = await service.open_ticket(
                s, actor=Actor.customer(contact.id), channel=TicketChannel.TELEGRAM,
                text=text, contact=contact, telegram_chat_id=USER,
            )  # fmt: skip
            tickets.append(ticket)
            clock.advance(timedelta(minutes=1))
        await s.commit()
        return tickets[::-1]


async def test_the_question_is_asked_again_through_the_outbox_before_the_message_is_filed(
    aiohttp_client: Any, engine: AsyncEngine, settings: Settings
) -> None:
    """The bot runs (long polling) against the HTTP Bot API fake. Halfway through the wait
    the same periodic job asks once more, with the ticket buttons; at the end of the wait
    it files the message on the most recent open ticket and says so."""
    api = HttpBotApi(TOKEN)
    runner, base = await api.serve()
    clock = FrozenClock(START)
    client = await aiohttp_client(
        create_app(bot_settings(settings, base), engine=engine, clock=clock)
    )
    sessions = client.app[SESSIONMAKER]
    recent, older = await _two_open_tickets(sessions, clock)
    asked_at = clock.now()
    api.updates.append(_customer_text(1, WAITING_TEXT))
    await until(lambda: _shown(api, 1))
    i18n = create_i18n()
    assert api.texts(USER) == [translate(i18n, "nl", "which_ticket")]
    question = TicketQuestionAgain(i18n)

    async def remind() -> int:
        async with sessions() as s:
            asked = await remind_waiting(
                s, TicketService(clock), question, wait=WAIT, remind_after=WAIT / 2
            )
            await s.commit()
            return asked

    clock.set(asked_at + WAIT / 2 - SECOND)
    assert await remind() == 0  # not yet
    clock.set(asked_at + timedelta(minutes=8))
    loop = asyncio.create_task(
        unfiled_loop(
            sessions, TicketService(clock), clock, FiledNoticeText(i18n), question,
            wait=WAIT, interval=0.02,
        )
    )  # fmt: skip
    try:
        await until(lambda: _shown(api, 2))
        again = translate(i18n, "nl", "which_ticket_again", reference=recent.reference, minutes=7)
        assert api.texts(USER)[1] == again
        buttons = [row[0]["text"] for row in api.markups[USER][1]["inline_keyboard"]]
        assert buttons == [
            f"{recent.reference} {recent.subject[:40]}",
            f"{older.reference} {older.subject[:40]}",
            translate(i18n, "nl", "new_ticket_button"),
        ]
        assert await remind() == 0  # asked once only
        clock.set(asked_at + WAIT + SECOND)
        await until(lambda: _shown(api, 3))
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await runner.cleanup()
    filed = translate(i18n, "nl", "held_filed_recent", reference=recent.reference)
    assert api.texts(USER)[2:] == [filed]
    async with sessions() as s:
        assert list(await s.scalars(select(UnfiledMessage))) == []
        texts = await s.scalars(
            select(TicketMessage.text).where(TicketMessage.ticket_id == recent.id)
        )
        assert WAITING_TEXT in list(texts)


async def _shown(api: HttpBotApi, count: int) -> bool:
    return len(api.texts(USER)) >= count
