"""An agent's edited reply reaches the customer's chat: TicketService.edit_reply keeps the
history and queues the edit; the delivery loop carries it to Telegram (editMessageText)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import TelegramMethod
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery import split_text
from bot.delivery_worker import delivery_loop
from bot.outbox import deliver_pending, deliver_pending_edits
from bot.reply_edit_delivery import SURPLUS_MARKER
from bot.texts import create_i18n, translate
from storage import migrate
from storage.clock import FrozenClock
from storage.db import create_engine, create_sessionmaker
from storage.models import (
    ContactPerson,
    DeliveryState,
    MessageEdit,
    ReplyChunk,
    StaffRole,
    StaffUser,
    TicketChannel,
    TicketMessage,
)
from storage.services.audit import Actor
from storage.services.errors import Forbidden, InvalidInput, NotFound
from storage.services.tickets import TicketService
from tests.telegram_fake import TOKEN, RecordingSession

pytestmark = pytest.mark.storage

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CHAT = 7001


class EditingSession(RecordingSession):
    """The recording fake, plus editMessageText (which the delivery worker may call now)."""

    def _result(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        if method.__api_method__ in ("editMessageText", "deleteMessage"):
            return True
        return super()._result(bot, method)


async def _setup(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    text: str = "Herstart u de router?",
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
        reply = await service.add_agent_reply(s, ticket.id, staff=staff[0], text=text)
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
    with pytest.raises(Forbidden, match="only the reply's author"):
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


# Replies over 4096 characters: every chunk follows the edit.


def _long(word: str, chunks: int) -> str:
    """A text that split_text cuts into exactly `chunks` messages."""
    text = " ".join(f"{word}{n}" for n in range(900 * chunks))[: 4000 * chunks].strip()
    assert len(split_text(text)) == chunks
    return text


async def _chunk_rows(
    sessionmaker: async_sessionmaker[AsyncSession], reply_id: int
) -> list[tuple[int, int]]:
    async with sessionmaker() as s:
        rows = await s.scalars(
            select(ReplyChunk)
            .where(ReplyChunk.message_id == reply_id)
            .order_by(ReplyChunk.position)
        )
        return [(row.position, row.telegram_message_id) for row in rows]


def _edits_made(api: EditingSession) -> list[tuple[int, str]]:
    return [(c.message_id, c.text) for c in api.calls("editMessageText")]  # type: ignore[attr-defined]


async def _sent_long_reply(
    sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock, chunks: int
) -> tuple[EditingSession, Bot, int, int]:
    api = EditingSession()
    bot = Bot(TOKEN, session=api)
    reply_id, staff_id, _ = await _setup(sessionmaker, clock, _long("oud", chunks))
    assert await deliver_pending(bot, sessionmaker, clock) == 1
    assert await _chunk_rows(sessionmaker, reply_id) == [(n, 1000 + n) for n in range(chunks)]
    return api, bot, reply_id, staff_id


async def test_edit_of_a_long_reply_edits_every_chunk(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    api, bot, reply_id, staff_id = await _sent_long_reply(session_factory, clock, 3)
    new_text = _long("nieuw", 3)
    await _edit(session_factory, clock, reply_id, staff_id, new_text)
    assert await deliver_pending_edits(bot, session_factory, clock) == 1
    assert _edits_made(api) == list(zip([1000, 1001, 1002], split_text(new_text), strict=True))
    assert len(api.calls("sendMessage")) == 3 and api.calls("deleteMessage") == []
    assert (await _edits(session_factory))[0].delivery_state == DeliveryState.SENT
    assert api.unexpected == []


async def test_longer_edit_sends_the_extra_chunks_after_the_reply(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    api, bot, reply_id, staff_id = await _sent_long_reply(session_factory, clock, 1)
    first, second, third = split_text(new_text := _long("langer", 3))
    await _edit(session_factory, clock, reply_id, staff_id, new_text)
    assert await deliver_pending_edits(bot, session_factory, clock) == 1
    assert _edits_made(api) == [(1000, first)]
    extra = api.calls("sendMessage")[1:]
    assert [m.text for m in extra] == [second, third]  # type: ignore[attr-defined]
    # each extra chunk answers the one before it, so it reads as the continuation
    assert [m.reply_parameters.message_id for m in extra] == [1000, 1001]  # type: ignore[attr-defined]
    assert await _chunk_rows(session_factory, reply_id) == [(0, 1000), (1, 1001), (2, 1002)]

    # the next edit edits all three, sends nothing
    again = _long("weer", 3)
    await _edit(session_factory, clock, reply_id, staff_id, again)
    assert await deliver_pending_edits(bot, session_factory, clock) == 1
    assert _edits_made(api)[1:] == list(zip([1000, 1001, 1002], split_text(again), strict=True))
    assert len(api.calls("sendMessage")) == 3


async def test_shorter_edit_deletes_the_surplus_chunks(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    api, bot, reply_id, staff_id = await _sent_long_reply(session_factory, clock, 3)
    await _edit(session_factory, clock, reply_id, staff_id, "Kort: het is opgelost.")
    assert await deliver_pending_edits(bot, session_factory, clock) == 1
    assert _edits_made(api) == [(1000, "Kort: het is opgelost.")]
    assert [m.message_id for m in api.calls("deleteMessage")] == [1001, 1002]  # type: ignore[attr-defined]
    assert await _chunk_rows(session_factory, reply_id) == [(0, 1000)]
    assert (await _edits(session_factory))[0].delivery_state == DeliveryState.SENT


async def test_surplus_chunk_telegram_will_not_delete_is_blanked_and_reused(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Bots may delete their messages for 48 hours only; after that the chunk is edited to
    a marker, and a later longer edit writes into it again."""
    clock = FrozenClock(START)
    api, bot, reply_id, staff_id = await _sent_long_reply(session_factory, clock, 2)
    api.fail_next("deleteMessage", 400, "Bad Request: message can't be deleted for everyone")
    await _edit(session_factory, clock, reply_id, staff_id, "Kort.")
    assert await deliver_pending_edits(bot, session_factory, clock) == 1
    assert _edits_made(api) == [(1000, "Kort."), (1001, SURPLUS_MARKER)]
    assert await _chunk_rows(session_factory, reply_id) == [(0, 1000), (1, 1001)]
    assert (await _edits(session_factory))[0].delivery_state == DeliveryState.SENT

    longer = _long("terug", 2)
    await _edit(session_factory, clock, reply_id, staff_id, longer)
    assert await deliver_pending_edits(bot, session_factory, clock) == 1
    assert _edits_made(api)[2:] == list(zip([1000, 1001], split_text(longer), strict=True))
    assert len(api.calls("sendMessage")) == 2  # only the original two


async def test_interrupted_chunk_edit_resumes_without_sending_twice(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    api, bot, reply_id, staff_id = await _sent_long_reply(session_factory, clock, 1)
    chunks = split_text(new_text := _long("hervat", 3))
    await _edit(session_factory, clock, reply_id, staff_id, new_text)
    # the second extra chunk fails: the first one is sent and remembered
    sends = api.make_request
    extra_sends = 0

    async def fail_second_extra(
        bot_: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> Any:
        nonlocal extra_sends
        if method.__api_method__ == "sendMessage":
            extra_sends += 1
            if extra_sends == 2:
                api.fail_next("sendMessage", 500, "Internal Server Error")
        return await sends(bot_, method, timeout)

    api.make_request = fail_second_extra  # type: ignore[method-assign]
    assert await deliver_pending_edits(bot, session_factory, clock) == 1
    [edit] = await _edits(session_factory)
    assert edit.delivery_state == DeliveryState.PENDING and edit.delivery_attempts == 1
    assert await _chunk_rows(session_factory, reply_id) == [(0, 1000), (1, 1001)]

    clock.advance(timedelta(seconds=5))  # the first backoff step
    api.fail_next("editMessageText", 400, "Bad Request: message is not modified")
    assert await deliver_pending_edits(bot, session_factory, clock) == 1
    [edit] = await _edits(session_factory)
    assert edit.delivery_state == DeliveryState.SENT
    texts = [m.text for m in api.calls("sendMessage")[1:]]  # type: ignore[attr-defined]
    assert texts == [chunks[1], chunks[2], chunks[2]]  # the failed try, then once more
    assert _edits_made(api) == [(1000, chunks[0]), (1000, chunks[0]), (1001, chunks[1])]
    assert await _chunk_rows(session_factory, reply_id) == [(0, 1000), (1, 1001), (2, 1002)]


async def _grow_to_two_chunks(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    reply_id: int,
    staff_id: int,
    first_id: int,
    api: EditingSession,
) -> None:
    """Edit the reply to two chunks: its known message is edited, one more is sent."""
    bot = Bot(TOKEN, session=api)
    api.requests.clear()
    first, second = split_text(text := _long("twee", 2))
    await _edit(sessionmaker, clock, reply_id, staff_id, text)
    assert await deliver_pending_edits(bot, sessionmaker, clock) == 1
    assert _edits_made(api) == [(first_id, first)]
    assert api.sent_texts() == [second]


async def test_reply_without_chunk_rows_is_edited_through_its_message_id(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """E.g. sent by an instance still on the old code during a rolling upgrade."""
    clock = FrozenClock(START)
    api, _, reply_id, staff_id = await _sent_long_reply(session_factory, clock, 1)
    async with session_factory() as s:
        await s.execute(delete(ReplyChunk))
        await s.commit()
    await _grow_to_two_chunks(session_factory, clock, reply_id, staff_id, 1000, api)
    assert await _chunk_rows(session_factory, reply_id) == [(0, 1000), (1, 1001)]


async def test_replies_sent_before_migration_0013_become_chunk_zero(
    empty_database_url: str,
) -> None:
    engine = create_engine(empty_database_url)
    try:
        # The rows are made through today's models, then the schema goes back to before
        # 0013: a reply sent then has its message id on the message, and no chunk rows.
        await migrate.upgrade(engine)
        sessionmaker = create_sessionmaker(engine)
        clock = FrozenClock(START)
        reply_id, staff_id, _ = await _setup(sessionmaker, clock)
        await migrate.downgrade(engine, "0013-1")
        async with sessionmaker() as s:
            await s.execute(
                update(TicketMessage)
                .where(TicketMessage.id == reply_id)
                .values(
                    delivery_state=DeliveryState.SENT,
                    telegram_chat_id=CHAT,
                    telegram_message_id=555,
                )
            )
            await s.commit()
        await migrate.upgrade(engine)
        assert await _chunk_rows(sessionmaker, reply_id) == [(0, 555)]
        await _grow_to_two_chunks(sessionmaker, clock, reply_id, staff_id, 555, EditingSession())
        assert await _chunk_rows(sessionmaker, reply_id) == [(0, 555), (1, 1000)]
    finally:
        await engine.dispose()


async def test_edit_of_a_long_reply_keeps_the_ticket_heading_it_went_out_with(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """With two open tickets a reply starts with "About ticket ...:"; its edit, split again,
    starts with that same heading - even when only one ticket is open by then."""
    clock = FrozenClock(START)
    api = EditingSession()
    bot = Bot(TOKEN, session=api)
    reply_id, staff_id, _ = await _setup(session_factory, clock, "placeholder")
    service = TicketService(clock)
    async with session_factory() as s:
        reply = await s.get(TicketMessage, reply_id)
        assert reply is not None
        ticket = await service.get(s, reply.ticket_id)
        contact = await s.get(ContactPerson, ticket.contact_id)
        other, _ = await service.open_ticket(
            s, actor=Actor.system(), channel=TicketChannel.TELEGRAM, text="ook", contact=contact
        )
        reply.text = _long("oud", 2)  # long before it was sent
        await s.commit()
        reference, language = ticket.reference, contact.language  # type: ignore[union-attr]
    heading = translate(create_i18n(), language, "reply_reference", reference=reference)
    assert await deliver_pending(bot, session_factory, clock) == 1
    sent = [m.text for m in api.calls("sendMessage")]  # type: ignore[attr-defined]
    assert sent == split_text(f"{heading}\n\n{_long('oud', 2)}") and len(sent) >= 2
    async with session_factory() as s:  # the other ticket is closed: one open ticket left
        await service.close(s, other.id, actor=Actor.system())
        await s.commit()

    new_text = _long("nieuw", 2)
    await _edit(session_factory, clock, reply_id, staff_id, new_text)
    assert await deliver_pending_edits(bot, session_factory, clock) == 1
    expected = split_text(f"{heading}\n\n{new_text}")
    ids = [row[1] for row in await _chunk_rows(session_factory, reply_id)]
    edited = _edits_made(api)
    assert edited[0] == (ids[0], expected[0]) and expected[0].startswith(heading)
    shown = [text for _, text in edited] + [
        m.text for m in api.calls("sendMessage")[len(sent) :]  # type: ignore[attr-defined]
    ]
    assert shown == expected
    assert api.unexpected == []
