"""Scaling out: bot state and update ordering through Redis (127.0.0.1:6379), two admin
instances on one database, two delivery workers on one database (PostgreSQL when the suite
runs on it)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from admin_fixtures import stored_hash
from aiogram import BaseMiddleware, Dispatcher
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from admin.app import create_app
from bot.dispatcher import create_dispatcher
from bot.outbox import deliver_pending
from bot.scaling import STATE_TTL
from storage.clock import FrozenClock
from storage.config import Settings
from storage.db import create_engine, create_sessionmaker
from storage.models import (
    ContactPerson,
    DeliveryState,
    StaffRole,
    StaffUser,
    TicketChannel,
    TicketMessage,
)
from storage.objectstore.local import LocalObjectStore
from storage.services.audit import Actor
from storage.services.tickets import TicketService
from tests.ops_fakes import redis_server
from tests.telegram_fake import make_bot, message_update

pytestmark = pytest.mark.storage

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


def _dispatcher(settings: Settings, sessionmaker: Any, tmp_path: Path) -> Dispatcher:
    clock = FrozenClock(START)
    return create_dispatcher(
        sessionmaker=sessionmaker,
        ticket_service=TicketService(clock),
        object_store=LocalObjectStore(tmp_path / "objects"),
        settings=settings,
        clock=clock,
    )


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def redis_settings(settings: Settings, redis_url: str) -> Settings:
    return settings.model_copy(update={"redis_url": redis_url})


async def test_fsm_state_set_on_one_instance_is_seen_by_another(
    redis_settings: Settings, redis_url: str, session_factory, tmp_path: Path
) -> None:
    one = _dispatcher(redis_settings, session_factory, tmp_path)
    two = _dispatcher(redis_settings, session_factory, tmp_path)
    bot, _ = make_bot()
    user_id = int(uuid.uuid4().int % 10**9)
    try:
        state = one.fsm.get_context(bot, chat_id=user_id, user_id=user_id)
        await state.set_state("Conversation:awaiting_description")
        await state.update_data(category="internet")
        other = two.fsm.get_context(bot, chat_id=user_id, user_id=user_id)
        assert await other.get_state() == "Conversation:awaiting_description"
        assert await other.get_data() == {"category": "internet"}
        # State and data expire: an abandoned conversation does not live in Redis forever.
        redis = Redis.from_url(redis_url)
        try:
            keys = [key async for key in redis.scan_iter(f"supportdesk:*:{user_id}:*")]
            assert len(keys) == 2
            for key in keys:
                assert 0 < await redis.ttl(key) <= STATE_TTL.total_seconds()
        finally:
            await other.clear()
            await redis.aclose()
        assert await state.get_state() is None
    finally:
        await one.fsm.close()
        await two.fsm.close()


class Intervals(BaseMiddleware):
    """Test instrumentation: records when each update's handling starts and ends."""

    def __init__(self, log: list[tuple[float, float]]) -> None:
        self.log = log

    async def __call__(self, handler: Any, event: Any, data: dict[str, Any]) -> Any:
        started = time.monotonic()
        await asyncio.sleep(0.3)  # long enough that unsynchronised handling would overlap
        try:
            return await handler(event, data)
        finally:
            self.log.append((started, time.monotonic()))


async def _feed_concurrently(settings: Settings, session_factory, tmp_path: Path) -> list:
    intervals: list[tuple[float, float]] = []
    dispatchers = [_dispatcher(settings, session_factory, tmp_path) for _ in range(2)]
    for dp in dispatchers:
        # Time inside aiogram's FSM/isolation middleware but outside ours: our DB session
        # would serialise on SQLite's write lock and hide what isolation does.
        manager = dp.update.outer_middleware
        ours = [mw for mw in manager if type(mw).__module__.startswith("bot.")]
        for mw in ours:
            manager.unregister(mw)
        for mw in [Intervals(intervals), *ours]:
            manager.register(mw)
    bot, _ = make_bot()
    user_id = int(uuid.uuid4().int % 10**9)
    try:
        await asyncio.gather(
            dispatchers[0].feed_update(bot, message_update(user_id, "eerste")),
            dispatchers[1].feed_update(bot, message_update(user_id, "tweede")),
        )
    finally:
        for dp in dispatchers:
            await dp.fsm.close()
    assert len(intervals) == 2
    return sorted(intervals)


async def test_redis_isolation_serialises_one_users_updates_across_instances(
    redis_settings: Settings, settings: Settings, session_factory, tmp_path: Path
) -> None:
    (_, first_end), (second_start, _) = await _feed_concurrently(
        redis_settings, session_factory, tmp_path
    )
    assert second_start >= first_end
    # Control: without Redis, two instances do handle the same user's updates at once.
    (_, first_end), (second_start, _) = await _feed_concurrently(
        settings, session_factory, tmp_path
    )
    assert second_start < first_end


async def test_two_admin_instances_share_sessions(
    aiohttp_client, database_url, engine, settings: Settings
) -> None:
    from admin_fixtures import CSRF_RE

    async with create_sessionmaker(engine)() as session:
        session.add(
            StaffUser(
                username="alice",
                password_hash=stored_hash(PASSWORD),
                role=StaffRole.AGENT,
                created_at=START,
                updated_at=START,
            )
        )
        await session.commit()
    engines = [create_engine(database_url), create_engine(database_url)]
    try:
        one = await aiohttp_client(create_app(settings, engine=engines[0]))
        two = await aiohttp_client(create_app(settings, engine=engines[1]))
        page = await one.get("/login")
        token = CSRF_RE.search(await page.text()).group(1)  # type: ignore[union-attr]
        response = await one.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
        )
        assert response.status == 303
        session_cookie = next(c.value for c in one.session.cookie_jar if c.key == "sd_session")
        # Instance two has never seen this login: the session lives in the database.
        account = await two.get("/account", cookies={"sd_session": session_cookie})
        assert account.status == 200 and "alice" in await account.text()
        # A state-changing form on instance two with the CSRF token from instance one.
        csrf = CSRF_RE.search(await account.text()).group(1)  # type: ignore[union-attr]
        logout = await two.post(
            "/logout",
            data={"csrf_token": csrf},
            cookies={"sd_session": session_cookie},
            allow_redirects=False,
        )
        assert logout.status in (302, 303)
        after = await one.get("/account", allow_redirects=False)
        assert after.status == 302 and after.headers["Location"].startswith("/login")
    finally:
        for eng in engines:
            await eng.dispose()


async def _outbox(sessionmaker: async_sessionmaker[AsyncSession], count: int) -> list[str]:
    clock = FrozenClock(START)
    service = TicketService(clock)
    async with sessionmaker() as s:
        contact = ContactPerson(
            name="Anna",
            telegram_user_id=6101,
            telegram_chat_id=6101,
            created_at=START,
            updated_at=START,
        )
        staff = StaffUser(
            username="agent",
            password_hash="x",
            role=StaffRole.AGENT,
            created_at=START,
            updated_at=START,
        )
        s.add_all([contact, staff])
        await s.flush()
        ticket, _ = await service.open_ticket(
            s, actor=Actor.system(), channel=TicketChannel.TELEGRAM, text="help", contact=contact
        )
        texts = [f"reply {n}" for n in range(count)]
        for text in texts:
            await service.add_agent_reply(s, ticket.id, staff=staff, text=text)
        await s.commit()
    return texts


async def test_two_delivery_workers_send_each_message_exactly_once(
    database_url: str, session_factory
) -> None:
    texts = await _outbox(session_factory, 24)
    clock = FrozenClock(START)
    engines = [create_engine(database_url), create_engine(database_url)]
    bots = [make_bot(), make_bot()]

    # Both workers start together, list the same due rows and race to claim each one.
    async def worker(index: int) -> None:
        sessionmaker = create_sessionmaker(engines[index])
        while await deliver_pending(bots[index][0], sessionmaker, clock, limit=24):
            pass

    try:
        await asyncio.gather(worker(0), worker(1))
    finally:
        for eng in engines:
            await eng.dispose()
    sent = [text for _, api in bots for text in api.sent_texts()]
    assert sorted(sent) == sorted(texts)  # every message once: none lost, none twice
    async with session_factory() as s:
        states = list(
            await s.scalars(
                select(TicketMessage.delivery_state).where(TicketMessage.text.in_(texts))
            )
        )
    assert states == [DeliveryState.SENT] * len(texts)
