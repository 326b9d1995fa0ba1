"""The delivery worker: agent replies (the outbox) to the customer's chat."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery import deliver_pending, split_text
from storage.clock import FrozenClock
from storage.models import (
    ContactPerson,
    DeliveryState,
    StaffRole,
    StaffUser,
    TicketChannel,
    TicketMessage,
)
from storage.services.audit import Actor
from storage.services.tickets import TicketService
from tests.telegram_fake import make_bot

pytestmark = pytest.mark.storage

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CHAT = 6001


async def _reply(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    text: str,
    chat_id: int | None = CHAT,
) -> int:
    service = TicketService(clock)
    async with sessionmaker() as s:
        contact = ContactPerson(
            name="Anna",
            telegram_user_id=chat_id,
            telegram_chat_id=chat_id,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        staff = StaffUser(
            username=f"agent{chat_id}",
            password_hash="x",
            role=StaffRole.AGENT,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        s.add_all([contact, staff])
        await s.flush()
        ticket, _ = await service.open_ticket(
            s, actor=Actor.system(), channel=TicketChannel.TELEGRAM, text="help", contact=contact
        )
        reply = await service.add_agent_reply(s, ticket.id, staff=staff, text=text)
        await s.commit()
        return reply.id


async def _row(sessionmaker: async_sessionmaker[AsyncSession], message_id: int) -> TicketMessage:
    async with sessionmaker() as s:
        row = await s.scalar(select(TicketMessage).where(TicketMessage.id == message_id))
        assert row is not None
        return row


async def _no_sleep(_: float) -> None:
    return None


def test_split_text_respects_telegram_limit() -> None:
    assert split_text("kort") == ["kort"]
    chunks = split_text("a" * 10_000)
    assert [len(c) for c in chunks] == [4096, 4096, 1808]
    words = split_text(("woord " * 2000).strip())
    assert all(len(c) <= 4096 for c in words) and " ".join(words) == ("woord " * 2000).strip()


async def test_reply_is_sent_once_and_marked_sent(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    reply_id = await _reply(session_factory, clock, "Wij kijken ernaar. " * 600)
    bot, api = make_bot()
    assert await deliver_pending(bot, session_factory, clock, limit=10) == 1
    row = await _row(session_factory, reply_id)
    assert row.delivery_state == DeliveryState.SENT
    sent = api.calls("sendMessage")
    assert len(sent) == 3 and all(len(r.text) <= 4096 for r in sent)  # type: ignore[attr-defined]
    assert all(r.chat_id == CHAT for r in sent)  # type: ignore[attr-defined]
    assert row.telegram_message_id == 1000 and row.telegram_chat_id == CHAT
    # a second round (e.g. after a restart) sends nothing again
    assert await deliver_pending(bot, session_factory, clock, limit=10) == 0
    assert len(api.calls("sendMessage")) == 3
    assert api.unexpected == []


async def test_retry_after_is_waited_and_retried(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    reply_id = await _reply(session_factory, clock, "antwoord")
    bot, api = make_bot()
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    await deliver_pending(bot, session_factory, clock, sleep=sleep)
    assert waits == [3]
    assert (await _row(session_factory, reply_id)).delivery_state == DeliveryState.SENT
    assert len(api.calls("sendMessage")) == 2


@pytest.mark.parametrize(
    ("status", "description"),
    [(403, "Forbidden: bot was blocked by the user"), (400, "Bad Request: chat not found")],
)
async def test_blocked_or_missing_chat_is_undeliverable(
    session_factory: async_sessionmaker[AsyncSession], status: int, description: str
) -> None:
    clock = FrozenClock(START)
    reply_id = await _reply(session_factory, clock, "antwoord")
    bot, api = make_bot()
    api.fail_next("sendMessage", status, description)
    await deliver_pending(bot, session_factory, clock, sleep=_no_sleep)
    row = await _row(session_factory, reply_id)
    assert row.delivery_state == DeliveryState.UNDELIVERABLE
    assert row.delivery_error and description.split(": ")[1] in row.delivery_error
    assert await deliver_pending(bot, session_factory, clock) == 0


async def test_transient_error_backs_off_then_succeeds(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    reply_id = await _reply(session_factory, clock, "antwoord")
    bot, api = make_bot()
    api.fail_next("sendMessage", 500, "Internal Server Error")
    await deliver_pending(bot, session_factory, clock, sleep=_no_sleep)
    row = await _row(session_factory, reply_id)
    assert row.delivery_state == DeliveryState.PENDING and row.delivery_attempts == 1
    assert row.next_attempt_at == START + timedelta(seconds=5)
    assert await deliver_pending(bot, session_factory, clock) == 0  # not due yet
    clock.advance(timedelta(seconds=5))
    assert await deliver_pending(bot, session_factory, clock) == 1
    row = await _row(session_factory, reply_id)
    assert row.delivery_state == DeliveryState.SENT and row.delivery_attempts == 2


async def test_oldest_first_in_small_batches(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    first = await _reply(session_factory, clock, "een", chat_id=7001)
    second = await _reply(session_factory, clock, "twee", chat_id=7002)
    bot, api = make_bot()
    assert await deliver_pending(bot, session_factory, clock, limit=1) == 1
    assert api.sent_texts() == ["een"]
    assert (await _row(session_factory, second)).delivery_state == DeliveryState.PENDING
    assert await deliver_pending(bot, session_factory, clock, limit=1) == 1
    assert api.sent_texts() == ["een", "twee"]
    assert (await _row(session_factory, first)).delivery_state == DeliveryState.SENT


async def test_no_transaction_is_open_while_telegram_is_called(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A slow Bot API must not hold a write lock: while the send is in flight another session
    can update the very row being delivered (SQLite would block on any open write, PostgreSQL
    on the row lock)."""
    clock = FrozenClock(START)
    reply_id = await _reply(session_factory, clock, "antwoord")
    bot, api = make_bot()
    concurrent_writes: list[bool] = []
    send = api.make_request

    async def send_while_writing(
        bot_: object,
        method: object,
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> object:
        if getattr(method, "__api_method__", "") == "sendMessage":
            async with session_factory() as s:
                row = await s.get(TicketMessage, reply_id)
                assert row is not None
                row.delivery_error = "probe"
                await asyncio.wait_for(s.commit(), timeout=3)
            concurrent_writes.append(True)
        return await send(bot_, method, timeout)  # type: ignore[arg-type]

    api.make_request = send_while_writing  # type: ignore[method-assign,assignment]
    assert await deliver_pending(bot, session_factory, clock) == 1
    assert concurrent_writes == [True]
    row = await _row(session_factory, reply_id)
    assert row.delivery_state == DeliveryState.SENT and row.delivery_error is None
