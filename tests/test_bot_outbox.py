"""The outbox end to end: the admin app runs the bot (long polling) against the HTTP Bot API
fake with injected faults. Every bot answer and agent reply arrives exactly once as far as
the fake can tell, in order per chat; while Telegram is away the ticket page and the API say
"retrying" with the error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from admin.app import SESSIONMAKER, TICKETS, create_app
from bot import inbox
from bot.outbox import deliver_pending
from bot.processor import UpdateProcessor
from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import OutboxMessage, OutboxState, StaffRole, StaffUser, Ticket, TicketMessage
from storage.services import access
from storage.services.audit import Actor
from tests.admin_fixtures import PASSWORD_HASH, login
from tests.bot_desk import USER as DESK_USER
from tests.bot_desk import Desk, open_desk
from tests.telegram_fake import (
    HttpBotApi,
    bot_settings,
    http_bot_api,
    message_update,
    text_update_json,
)
from tests.waiting import until

pytestmark = pytest.mark.storage
__all__ = ["http_bot_api"]  # a fixture, used by name

USER = 8101
OTHER = 8102
EN = {"Accept-Language": "en"}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 27, 10, 0, tzinfo=UTC))


def message(update_id: int, text: str, user: int = USER) -> dict[str, Any]:
    return text_update_json(update_id, user, text, language="en")


async def _app(
    aiohttp_client: Any, engine: AsyncEngine, settings: Settings, base: str, clock: FrozenClock
) -> TestClient:
    return await aiohttp_client(
        create_app(bot_settings(settings, base), engine=engine, clock=clock)
    )


async def _staff(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> StaffUser:
    async with sessions() as s:
        staff = StaffUser(
            username="agent",
            password_hash=PASSWORD_HASH,
            role=StaffRole.AGENT,
            is_active=True,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        s.add(staff)
        await s.commit()
        return staff


async def _reply(client: TestClient, staff: StaffUser, text: str) -> int:
    async with client.app[SESSIONMAKER]() as s:
        ticket = await s.scalar(select(Ticket))
        assert ticket is not None
        reply = await client.app[TICKETS].add_agent_reply(s, ticket.id, staff=staff, text=text)
        await s.commit()
        return reply.id


async def _outbox(sessions: async_sessionmaker[AsyncSession], chat_id: int) -> list[OutboxMessage]:
    async with sessions() as s:
        rows = await s.scalars(
            select(OutboxMessage).where(OutboxMessage.chat_id == chat_id).order_by(OutboxMessage.id)
        )
        return list(rows)


async def _sent_in_order(
    api: HttpBotApi, sessions: async_sessionmaker[AsyncSession], chat_id: int
) -> list[int]:
    """Telegram's ids of the chat's outbox rows, in the outbox's order; every row sent."""
    rows = await _outbox(sessions, chat_id)
    assert all(r.state == OutboxState.SENT for r in rows), [(r.method, r.last_error) for r in rows]
    assert all(r.method == "sendMessage" or r.method == "reply" for r in rows)
    return [r.sent_message_id for r in rows if r.sent_message_id is not None]


async def _settled(sessions: async_sessionmaker[AsyncSession], *chats: int) -> bool:
    for chat_id in chats:
        rows = await _outbox(sessions, chat_id)
        if not rows or any(r.state == OutboxState.PENDING for r in rows):
            return False
    return True


async def _retrying(sessions: async_sessionmaker[AsyncSession], reply_id: int) -> bool:
    async with sessions() as s:
        reply = await s.get(TicketMessage, reply_id)
        return reply is not None and reply.delivery_failing_since is not None


async def _api_headers(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> dict:
    async with sessions() as s:
        _, token = await access.create_api_token(
            s, clock, username="agent", name="test", actor=Actor.system()
        )
        await s.commit()
    return {"Authorization": f"Bearer {token}", **EN}


async def test_outage_keeps_replies_and_answers_in_order_and_shows_retrying(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    http_bot_api: tuple[HttpBotApi, str],
    clock: FrozenClock,
) -> None:
    api, base = http_bot_api
    client = await _app(aiohttp_client, engine, settings, base, clock)
    sessions = client.app[SESSIONMAKER]
    staff = await _staff(sessions, clock)
    api.updates.append(message(1, "Internet down"))
    await until(lambda: _settled(sessions, USER))
    assert "has been created" in api.texts(USER)[0]

    api.outage = True  # the Bot API is away: every send answers 502
    first = await _reply(client, staff, "Reply A")
    second = await _reply(client, staff, "Reply B")
    await until(lambda: _retrying(sessions, first))
    api.updates.append(message(2, "/tickets"))  # its answer queues behind both replies
    await until(lambda: _has_rows(sessions, USER, 4))

    # Visible from the first failed attempt: the API and the ticket page say so, with the error.
    headers = await _api_headers(sessions, clock)
    async with sessions() as s:
        ticket = await s.scalar(select(Ticket))
        assert ticket is not None
    body = await (await client.get(f"/api/v1/tickets/{ticket.id}", headers=headers)).json()
    by_id = {m["id"]: m for m in body["messages"]}
    assert by_id[first]["delivery"] == "retrying"
    detail = by_id[first]["delivery_detail"]
    assert detail["attempts"] == 1 and detail["retrying_since"] and detail["last_error"]
    assert by_id[second]["delivery"] == "pending"  # waits behind A, never tried before it
    await login(client, "agent")
    page = await (await client.get(f"/tickets/{ticket.id}", headers=EN)).text()
    assert "retrying since" in page and "last error:" in page

    # Telegram comes back flaky: a dropped connection, then a 429 the session waits out.
    api.outage = False
    api.drop(1)
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    for _ in range(10):  # past every backoff
        clock.advance(timedelta(minutes=10))
        if await _settled(sessions, USER):
            break
        await asyncio.sleep(0.5)
    await until(lambda: _settled(sessions, USER))
    shown = api.texts(USER)
    # Each row shown once, in the outbox's order (message ids are unique per call).
    assert api.message_ids[USER] == await _sent_in_order(api, sessions, USER)
    assert len(shown) == 4 and shown[1:3] == ["Reply A", "Reply B"]
    assert "has been created" in shown[0] and "Reply" not in shown[3]  # /tickets: last
    assert any("502" in r for r in api.refused) and "sendMessage: dropped" in api.refused
    body = await (await client.get(f"/api/v1/tickets/{ticket.id}", headers=headers)).json()
    states = {m["id"]: m["delivery"] for m in body["messages"]}
    assert states[first] == states[second] == "sent"


async def _has_rows(sessions: async_sessionmaker[AsyncSession], chat_id: int, count: int) -> bool:
    return len(await _outbox(sessions, chat_id)) >= count


async def test_answers_survive_429s_per_chat_and_a_lost_connection(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    http_bot_api: tuple[HttpBotApi, str],
    clock: FrozenClock,
) -> None:
    """A /tickets answer refused with 429 more often than the session retries is kept and sent
    after retry_after; another chat is answered meanwhile."""
    api, base = http_bot_api
    client = await _app(aiohttp_client, engine, settings, base, clock)
    sessions = client.app[SESSIONMAKER]
    for _ in range(3):
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    api.updates.append(message(1, "/tickets"))
    await until(lambda: _waiting_out_429(sessions, USER))
    api.updates.append(message(2, "Printer broken", user=OTHER))
    await until(lambda: _settled(sessions, OTHER))  # not held up by USER's 429s
    assert not await _settled(sessions, USER)
    clock.advance(timedelta(seconds=2))
    await until(lambda: _settled(sessions, USER))
    for chat_id in (USER, OTHER):
        assert api.message_ids[chat_id] == await _sent_in_order(api, sessions, chat_id)
        assert len(api.texts(chat_id)) == 1
    assert api.refused.count("sendMessage: 429") == 3


async def _waiting_out_429(sessions: async_sessionmaker[AsyncSession], chat_id: int) -> bool:
    rows = await _outbox(sessions, chat_id)
    return bool(rows) and rows[0].last_error is not None and "retry after" in rows[0].last_error


async def test_a_crashed_instances_updates_resume_within_ten_seconds(
    session_factory: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    """An instance stored (and leased) an update, then was killed: another instance's scan
    takes it over once the short lease ran out, well within 10 s of the crash."""
    await inbox.store_updates(session_factory, clock, [(77, "{}", USER)])
    assert await inbox.claim_due(session_factory, clock) == []  # leased to the dead one
    scan = timedelta(seconds=UpdateProcessor.__init__.__kwdefaults__["scan_interval"])
    assert inbox.LEASE + scan <= timedelta(seconds=10)
    clock.advance(inbox.LEASE)
    assert [d.update_id for d in await inbox.claim_due(session_factory, clock)] == [77]


@pytest.fixture
async def desk(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path, settings: Settings
) -> AsyncIterator[Desk]:
    async with open_desk(session_factory, tmp_path, settings) as opened:
        yield opened


async def test_a_failed_confirmation_with_its_buttons_is_kept_and_sent_once_later(
    desk: Desk,
) -> None:
    """The answer is an outbox row committed with the ticket: a 5xx does not lose it, the
    retry sends the very same message (text and category buttons), and only once."""
    desk.api.fail_next("sendMessage", 502, "Bad Gateway")
    await desk.feed(message_update(DESK_USER, "Mijn internet ligt eruit", language="nl"))
    [ticket] = await desk.tickets(DESK_USER)
    [failed] = desk.api.calls("sendMessage")
    [row] = await _outbox(desk.sessionmaker, DESK_USER)
    assert row.state == OutboxState.PENDING and "Bad Gateway" in (row.last_error or "")
    assert row.failing_since == desk.clock.now() and row.failed_attempts == 1

    assert await deliver_pending(desk.bot, desk.sessionmaker, desk.clock) == 0  # backing off
    desk.clock.advance(timedelta(seconds=5))
    assert await deliver_pending(desk.bot, desk.sessionmaker, desk.clock) == 1
    _, sent = desk.api.calls("sendMessage")
    assert sent.text == failed.text and ticket.reference in sent.text  # type: ignore[attr-defined]
    assert sent.reply_markup == failed.reply_markup is not None  # type: ignore[attr-defined]
    [row] = await _outbox(desk.sessionmaker, DESK_USER)
    assert row.state == OutboxState.SENT and row.sent_message_id is not None
    assert row.failing_since is None and row.failed_attempts == 1
    assert row.payload == "{}"  # the words are in the chat now, not kept here
    desk.clock.advance(timedelta(hours=1))
    assert await deliver_pending(desk.bot, desk.sessionmaker, desk.clock) == 0
    assert len(desk.api.calls("sendMessage")) == 2
