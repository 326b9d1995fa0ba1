"""Shared fixtures for the admin tests: an app on a migrated DB, one user per role, a ticket."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from admin.app import create_app
from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import StaffRole, StaffUser, TicketChannel
from storage.services.audit import Actor
from storage.services.tickets import TicketService

PASSWORD = "correct horse battery"


def stored_hash(password: str) -> str:
    """A staff row's password hash with argon2's cheapest parameters: a login verifies with
    the parameters inside the stored hash, and the suite logs in hundreds of times (the
    defaults cost ~120 ms of CPU each). Passwords the app sets itself get its defaults."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(password)


PASSWORD_HASH = stored_hash(PASSWORD)
__all__ = ["clock", "world"]

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class World:
    client: TestClient
    clock: FrozenClock
    users: dict[StaffRole, StaffUser]
    ticket_id: int
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))


@pytest.fixture
async def world(aiohttp_client, engine, settings: Settings, session_factory, clock) -> World:
    users: dict[StaffRole, StaffUser] = {}
    async with session_factory() as session:
        for role in StaffRole:
            user = StaffUser(
                username=role.value.replace("_", "-"),
                display_name=role.value.title(),
                password_hash=PASSWORD_HASH,
                role=role,
                is_active=True,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
            session.add(user)
            users[role] = user
        ticket, _ = await TicketService(clock).open_ticket(
            session,
            actor=Actor.system("test"),
            channel=TicketChannel.TELEGRAM,
            text="My internet is down <script>alert(1)</script>",
        )
        await session.commit()
        ticket_id = ticket.id
    client = await aiohttp_client(create_app(settings, clock=clock, engine=engine))
    return World(client, clock, users, ticket_id, session_factory)


async def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in with a fresh cookie jar; return the session's CSRF token."""
    client.session.cookie_jar.clear()
    page = await client.get("/login")
    token = CSRF_RE.search(await page.text()).group(1)  # type: ignore[union-attr]
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    home = await client.get("/account")
    assert home.status == 200
    match = CSRF_RE.search(await home.text())
    assert match
    return match.group(1)
