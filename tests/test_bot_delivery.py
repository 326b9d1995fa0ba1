"""The delivery worker: agent replies (the outbox) to the customer's chat."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from aiogram import Bot
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import retry
from bot.outbox import deliver_pending
from bot.telegram_text import split_text
from storage.clock import FrozenClock
from storage.models import (
    ContactPerson,
    DeliveryState,
    ReplyChunk,
    StaffRole,
    StaffUser,
    TicketChannel,
    TicketMessage,
)
from storage.services.audit import Actor
from storage.services.tickets import TicketService
from tests.telegram_fake import RecordingSession, make_bot

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


async def _chunks(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[int, int]]:
    """(position, Telegram message id) of every recorded reply chunk, in order."""
    async with sessionmaker() as s:
        chunks = (await s.scalars(select(ReplyChunk).order_by(ReplyChunk.position))).all()
    return [(c.position, c.telegram_message_id) for c in chunks]


def test_split_text_respects_telegram_limit() -> None:
    assert split_text("kort") == ["kort"]
    chunks = split_text("a" * 10_000)
    assert [len(c) for c in chunks] == [4096, 4096, 1808]
    words = split_text(("woord " * 2000).strip())
    assert all(len(c) <= 4096 for c in words) and "".join(words) == ("woord " * 2000).strip()


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
    assert await _chunks(session_factory) == [(0, 1000), (1, 1001), (2, 1002)]
    # a second round (e.g. after a restart) sends nothing again
    assert await deliver_pending(bot, session_factory, clock, limit=10) == 0
    assert len(api.calls("sendMessage")) == 3
    assert api.unexpected == []


def _throttled_bot() -> tuple[Bot, RecordingSession, list[float]]:
    """The recording fake with the production 429 layer (bot/retry.py, as create_bot
    installs it) and a recorded instead of a real wait."""
    bot, api = make_bot()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    retry.install(api, sleep=sleep)
    return bot, api, waits


async def test_retry_after_is_waited_once_and_retried_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    reply_id = await _reply(session_factory, clock, "antwoord")
    bot, api, waits = _throttled_bot()
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    await deliver_pending(bot, session_factory, clock)
    assert waits == [3]  # one wait per 429, not one per retry layer
    assert len(api.calls("sendMessage")) == 2  # the 429, then one resend
    row = await _row(session_factory, reply_id)
    assert row.delivery_state == DeliveryState.SENT and row.delivery_attempts == 1


async def test_persistent_429_is_a_failed_attempt_not_a_second_retry_loop(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """When the session's retries are spent the worker does not resend on its own (that would
    multiply the calls): it records a failed attempt, due again after retry_after."""
    clock = FrozenClock(START)
    reply_id = await _reply(session_factory, clock, "antwoord")
    bot, api, waits = _throttled_bot()
    for _ in range(4):
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    await deliver_pending(bot, session_factory, clock)
    assert waits == [7, 7]  # the middleware's 3 attempts: 2 waits between them
    assert len(api.calls("sendMessage")) == 3
    row = await _row(session_factory, reply_id)
    assert row.delivery_state == DeliveryState.PENDING and row.delivery_attempts == 1
    assert row.next_attempt_at == START + timedelta(seconds=7)
    assert "retry after 7" in (row.delivery_error or "")
    assert await deliver_pending(bot, session_factory, clock) == 0  # not due yet
    clock.advance(timedelta(seconds=7))
    assert await deliver_pending(bot, session_factory, clock) == 1  # one 429 left, then sent
    assert waits == [7, 7, 7] and len(api.calls("sendMessage")) == 5
    row = await _row(session_factory, reply_id)
    assert row.delivery_state == DeliveryState.SENT and row.delivery_attempts == 2


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
    await deliver_pending(bot, session_factory, clock)
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
    await deliver_pending(bot, session_factory, clock)
    row = await _row(session_factory, reply_id)
    assert row.delivery_state == DeliveryState.PENDING and row.delivery_attempts == 1
    assert row.next_attempt_at == START + timedelta(seconds=5)
    assert await deliver_pending(bot, session_factory, clock) == 0  # not due yet
    clock.advance(timedelta(seconds=5))
    assert await deliver_pending(bot, session_factory, clock) == 1
    row = await _row(session_factory, reply_id)
    assert row.delivery_state == DeliveryState.SENT and row.delivery_attempts == 2


async def test_a_long_reply_cut_off_midway_resumes_without_resending(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The second of three chunks fails: the retry sends the second and third only, so the
    customer never sees the first twice, and all three are known for later edits."""
    clock = FrozenClock(START)
    text = ("Wij kijken ernaar. " * 600).strip()
    reply_id = await _reply(session_factory, clock, text)
    bot, api = make_bot()
    api.fail_next("sendMessage", 500, "Internal Server Error", after=1)
    await deliver_pending(bot, session_factory, clock)
    assert (await _row(session_factory, reply_id)).delivery_state == DeliveryState.PENDING
    clock.advance(timedelta(seconds=5))
    assert await deliver_pending(bot, session_factory, clock) == 1
    row = await _row(session_factory, reply_id)
    assert row.delivery_state == DeliveryState.SENT and row.telegram_message_id == 1000
    first, second, third = split_text(text)
    assert api.sent_texts() == [first, second, second, third]  # the failed one, then the rest
    assert await _chunks(session_factory) == [(0, 1000), (1, 1001), (2, 1002)]


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
