"""An agent's edited reply reaches the customer's chat: TicketService.edit_reply keeps the
history and queues the edit; the delivery loop carries it to Telegram (editMessageText)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import TelegramMethod
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery import deliver_pending, delivery_loop
from bot.reply_edits import deliver_pending_edits
from storage.clock import FrozenClock
from storage.models import (
    ContactPerson,
    DeliveryState,
    MessageEdit,
    StaffRole,
    StaffUser,
    TicketChannel,
    TicketMessage,
)
from storage.services.audit import Actor
from storage.services.errors import InvalidInput, NotFound
from storage.services.tickets import TicketService
from tests.telegram_fake import TOKEN, RecordingSession

pytestmark = pytest.mark.storage

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CHAT = 7001


class EditingSession(RecordingSession):
    """The recording fake, plus editMessageText (which the delivery worker may call now)."""

    def _result(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        if method.__api_method__ == "editMessageText":
            return True
        return super()._result(bot, method)


async def _setup(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> tuple[int, int, int]:
    """A Telegram ticket with one agent reply; (reply id, staff id, other staff id)."""
    service = TicketService(clock)
    async with sessionmaker() as s:
        contact = ContactPerson(
            name="Anna", telegram_user_id=CHAT, telegram_chat_id=CHAT,
            created_at=START, updated_at=START,
        )  # fmt: skip
        staff = [
            StaffUser(username=name, password_hash="x", role=StaffRole.AGENT,
                      created_at=START, updated_at=START)
            for name in ("agent", "colleague")
        ]  # fmt: skip
        s.add_all([contact, *staff])
        await s.flush()
        ticket, _ = await service.open_ticket(
            s, actor=Actor.system(), channel=TicketChannel.TELEGRAM, text="help", contact=contact
        )
        reply = await service.add_agent_reply(
            s, ticket.id, staff=staff[0], text="Herstart u de router?"
        )
        await s.commit()
        return reply.id, staff[0].id, staff[1].id


async def _edit(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, reply_id: int,
    staff_id: int, text: str,
) -> None:  # fmt: skip
    async with sessionmaker() as s:
        staff = await s.get(StaffUser, staff_id)
        assert staff is not None
        await TicketService(clock).edit_reply(s, reply_id, staff=staff, text=text)
        await s.commit()


async def _edits(sessionmaker: async_sessionmaker[AsyncSession]) -> list[MessageEdit]:
    async with sessionmaker() as s:
        return list(await s.scalars(select(MessageEdit).order_by(MessageEdit.id)))


async def test_edit_of_a_sent_reply_is_edited_in_the_chat(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    api = EditingSession()
    bot = Bot(TOKEN, session=api)
    reply_id, staff_id, _ = await _setup(session_factory, clock)
    assert await deliver_pending(bot, session_factory, clock) == 1
    async with session_factory() as s:
        telegram_id = await s.scalar(
            select(TicketMessage.telegram_message_id).where(TicketMessage.id == reply_id)
        )
    assert telegram_id is not None

    await _edit(session_factory, clock, reply_id, staff_id, "Herstart u het modem?")
    [edit] = await _edits(session_factory)
    assert (
        edit.previous_text == "Herstart u de router?" and edit.new_text == "Herstart u het modem?"
    )
    assert edit.delivery_state == DeliveryState.PENDING

    assert await deliver_pending_edits(bot, session_factory, clock) == 1
    [call] = api.calls("editMessageText")
    assert (call.chat_id, call.message_id, call.text) == (  # type: ignore[attr-defined]
        CHAT,
        telegram_id,
        "Herstart u het modem?",
    )
    [edit] = await _edits(session_factory)
    assert edit.delivery_state == DeliveryState.SENT
    assert await deliver_pending_edits(bot, session_factory, clock) == 0
    async with session_factory() as s:
        reply = await s.get(TicketMessage, reply_id)
        assert reply is not None and reply.text == "Herstart u het modem?"
        assert reply.edited_at == START
    assert api.unexpected == []


async def test_edit_before_sending_goes_out_as_the_new_text(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    api = EditingSession()
    bot = Bot(TOKEN, session=api)
    reply_id, staff_id, _ = await _setup(session_factory, clock)
    await _edit(session_factory, clock, reply_id, staff_id, "Eerst het modem graag.")
    assert await deliver_pending_edits(bot, session_factory, clock) == 0  # not sent yet
    await deliver_pending(bot, session_factory, clock)
    assert api.sent_texts() == ["Eerst het modem graag."]
    # Telegram already shows the new text: "not modified" counts as done
    api.fail_next("editMessageText", 400, "Bad Request: message is not modified")
    assert await deliver_pending_edits(bot, session_factory, clock) == 1
    [edit] = await _edits(session_factory)
    assert edit.delivery_state == DeliveryState.SENT and edit.delivery_error is None


async def test_blocked_chat_makes_the_edit_undeliverable(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    api = EditingSession()
    bot = Bot(TOKEN, session=api)
    reply_id, staff_id, _ = await _setup(session_factory, clock)
    await deliver_pending(bot, session_factory, clock)
    await _edit(session_factory, clock, reply_id, staff_id, "Nieuwe tekst")
    api.fail_next("editMessageText", 403, "Forbidden: bot was blocked by the user")
    await deliver_pending_edits(bot, session_factory, clock)
    [edit] = await _edits(session_factory)
    assert edit.delivery_state == DeliveryState.UNDELIVERABLE and "blocked" in (
        edit.delivery_error or ""
    )


async def test_bad_edits_are_refused_and_leave_nothing(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    reply_id, staff_id, colleague_id = await _setup(session_factory, clock)
    with pytest.raises(InvalidInput, match="only the author"):
        await _edit(session_factory, clock, reply_id, colleague_id, "mijn tekst")
    with pytest.raises(InvalidInput, match="empty"):
        await _edit(session_factory, clock, reply_id, staff_id, "   ")
    with pytest.raises(NotFound):
        await _edit(session_factory, clock, reply_id - 1, staff_id, "klant tekst")
    assert await _edits(session_factory) == []


async def test_delivery_loop_carries_edits(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    api = EditingSession()
    bot = Bot(TOKEN, session=api)
    reply_id, staff_id, _ = await _setup(session_factory, clock)
    await deliver_pending(bot, session_factory, clock)
    await _edit(session_factory, clock, reply_id, staff_id, "Via de lus")
    loop = asyncio.create_task(delivery_loop(bot, session_factory, clock, interval=0.05))
    try:
        for _ in range(100):
            if api.calls("editMessageText"):
                break
            await asyncio.sleep(0.05)
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    [call] = api.calls("editMessageText")
    assert call.text == "Via de lus"  # type: ignore[attr-defined]


async def test_edits_to_a_restricted_contact_are_not_sent(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Restriction of processing (GDPR art. 18) stops edits of earlier replies too."""
    from storage.models import ContactPrivacy, Ticket

    clock = FrozenClock(START)
    api = EditingSession()
    bot = Bot(TOKEN, session=api)
    reply_id, staff_id, _ = await _setup(session_factory, clock)
    await deliver_pending(bot, session_factory, clock)
    async with session_factory() as s:
        contact_id = await s.scalar(
            select(Ticket.contact_id)
            .join(TicketMessage, TicketMessage.ticket_id == Ticket.id)
            .where(TicketMessage.id == reply_id)
        )
        assert contact_id is not None
        s.add(ContactPrivacy(contact_id=contact_id, restricted_at=START))
        await s.commit()
    await _edit(session_factory, clock, reply_id, staff_id, "Nieuwe tekst")
    await deliver_pending_edits(bot, session_factory, clock)
    assert api.calls("editMessageText") == []
    [edit] = await _edits(session_factory)
    assert edit.delivery_state == DeliveryState.UNDELIVERABLE
