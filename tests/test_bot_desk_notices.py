"""Notices from the desk to the customer (an agent closed or reopened the ticket) go through
the bot's outbox: queued with the change, exactly once, in the customer's language, behind
earlier replies of the chat, and delivered after a Bot API outage. The admin app runs the bot
(long polling) against the HTTP Bot API fake."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from admin.app import SESSIONMAKER, TICKETS, create_app
from bot.texts import create_i18n, translate
from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import OutboxMessage, OutboxState, StaffRole, StaffUser, Ticket
from storage.services import access
from storage.services.audit import Actor
from tests.admin_fixtures import PASSWORD_HASH, login
from tests.telegram_fake import HttpBotApi, bot_settings, http_bot_api, text_update_json
from tests.waiting import until

pytestmark = pytest.mark.storage
__all__ = ["http_bot_api"]  # a fixture, used by name

USER = 8301


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 27, 10, 0, tzinfo=UTC))


def customer_message(update_id: int, text: str) -> dict[str, Any]:
    return text_update_json(update_id, USER, text)


async def _desk(
    aiohttp_client: Any, engine: AsyncEngine, settings: Settings, base: str, clock: FrozenClock
) -> TestClient:
    client = await aiohttp_client(
        create_app(bot_settings(settings, base), engine=engine, clock=clock)
    )
    async with client.app[SESSIONMAKER]() as s:
        s.add(
            StaffUser(
                username="agent",
                password_hash=PASSWORD_HASH,
                role=StaffRole.AGENT,
                is_active=True,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        await s.commit()
    return client


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as s:
        return list(
            await s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.chat_id == USER)
                .order_by(OutboxMessage.id)
            )
        )


async def _settled(sessions: async_sessionmaker[AsyncSession], count: int) -> bool:
    rows = await _rows(sessions)
    return len(rows) == count and all(r.state == OutboxState.SENT for r in rows)


async def _opened_ticket(client: TestClient, api: HttpBotApi) -> Ticket:
    sessions = client.app[SESSIONMAKER]
    api.updates.append(customer_message(1, "Mijn internet valt steeds weg"))
    await until(lambda: _settled(sessions, 1))
    async with sessions() as s:
        ticket = await s.scalar(select(Ticket))
        assert ticket is not None
        return ticket


def _notice(key: str, ticket: Ticket) -> str:
    return translate(
        create_i18n(), "nl", key, reference=ticket.reference, subject=ticket.subject[:80]
    )


async def test_close_and_reopen_each_tell_the_customer_once_in_their_language(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    http_bot_api: tuple[HttpBotApi, str],
    clock: FrozenClock,
) -> None:
    api, base = http_bot_api
    client = await _desk(aiohttp_client, engine, settings, base, clock)
    ticket = await _opened_ticket(client, api)
    csrf = await login(client, "agent")
    client.session.cookie_jar.update_cookies({"lang": "en"})  # the agent's language is not theirs
    for _ in range(2):  # a second close (a double click) changes nothing and says nothing
        response = await client.post(f"/tickets/{ticket.id}/close", data={"csrf_token": csrf})
        assert response.status == 200
    await until(lambda: _settled(client.app[SESSIONMAKER], 2))
    for _ in range(2):
        response = await client.post(f"/tickets/{ticket.id}/reopen", data={"csrf_token": csrf})
        assert response.status == 200
    await until(lambda: _settled(client.app[SESSIONMAKER], 3))
    shown = api.texts(USER)
    assert shown[1:] == [_notice("agent_closed", ticket), _notice("agent_reopened", ticket)]
    assert "gesloten" in shown[1] and "heropend" in shown[2]  # Dutch, the customer's language
    assert api.calls.count("sendMessage") == 3


async def test_notices_wait_out_an_outage_behind_an_earlier_reply(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    http_bot_api: tuple[HttpBotApi, str],
    clock: FrozenClock,
) -> None:
    """Telegram is away when the agent replies, closes and reopens (through the API): the
    close and reopen still commit at once, each with its notice queued; once Telegram is
    back the chat shows the reply first, then the two notices, each exactly once."""
    api, base = http_bot_api
    client = await _desk(aiohttp_client, engine, settings, base, clock)
    sessions = client.app[SESSIONMAKER]
    ticket = await _opened_ticket(client, api)
    async with sessions() as s:
        staff = await s.scalar(select(StaffUser))
        assert staff is not None
        _, token = await access.create_api_token(
            s, clock, username="agent", name="test", actor=Actor.system()
        )
        await s.commit()
    headers = {"Authorization": f"Bearer {token}"}

    api.outage = True
    async with sessions() as s:
        await client.app[TICKETS].add_agent_reply(s, ticket.id, staff=staff, text="Reply A")
        await s.commit()
    for action in ("close", "reopen"):
        response = await client.post(f"/api/v1/tickets/{ticket.id}/{action}", headers=headers)
        assert response.status == 200, await response.text()
    rows = await _rows(sessions)
    assert [r.method for r in rows] == ["sendMessage", "reply", "sendMessage", "sendMessage"]
    assert all(r.state == OutboxState.PENDING for r in rows[1:])
    await until(lambda: _tried(sessions))  # the outage was met, not skipped
    assert api.texts(USER) == [api.texts(USER)[0]]  # nothing new shown meanwhile

    api.outage = False
    for _ in range(20):  # past every backoff
        clock.advance(timedelta(minutes=10))
        if await _settled(sessions, 4):
            break
        await asyncio.sleep(0.3)
    await until(lambda: _settled(sessions, 4))
    assert api.texts(USER)[1:] == [
        "Reply A",
        _notice("agent_closed", ticket),
        _notice("agent_reopened", ticket),
    ]
    assert any(r.startswith("sendMessage: 502") for r in api.refused)


async def _tried(sessions: async_sessionmaker[AsyncSession]) -> bool:
    return any(r.last_error for r in await _rows(sessions))


async def test_two_concurrent_closes_tell_the_customer_once(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    http_bot_api: tuple[HttpBotApi, str],
    clock: FrozenClock,
) -> None:
    """Two agents close the same ticket at once (two requests, two sessions): only the close
    that changed the state queues the customer's notice."""
    api, base = http_bot_api
    client = await _desk(aiohttp_client, engine, settings, base, clock)
    sessions = client.app[SESSIONMAKER]
    ticket = await _opened_ticket(client, api)
    tokens = []
    async with sessions() as s:
        for name in ("first", "second"):  # one token each: no shared row serialises them
            _, token = await access.create_api_token(
                s, clock, username="agent", name=name, actor=Actor.system()
            )
            tokens.append(token)
        await s.commit()
    api.outage = True  # the notices stay in the outbox, where they are counted

    responses = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/tickets/{ticket.id}/close",
                headers={"Authorization": f"Bearer {token}"},
            )
            for token in tokens
        )
    )
    assert [r.status for r in responses] == [200, 200]
    rows = await _rows(sessions)
    texts = [json.loads(r.payload).get("text") for r in rows]
    assert texts[1:] == [_notice("agent_closed", ticket)]  # after the first answer: one notice
