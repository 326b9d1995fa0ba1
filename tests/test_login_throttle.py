"""Login throttle: one spelling of a username for lookup and throttling, a limit per account
and per client address with a growing wait, and client addresses from trusted proxies only.

Every try that reaches the password check leaves one LoginFailure row until it succeeds (a
try refused for waiting leaves none), so counting rows counts argon2 verifications."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import CSRF_RE, PASSWORD, World
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from admin.app import create_app
from storage.config import Settings
from storage.models import LoginFailure, StaffRole, StaffUser
from storage.services.audit import Actor
from storage.services.contact_form import RATE_MAX
from storage.services.staff import create_user, find_user, normal_username

pytestmark = pytest.mark.storage


async def _try(
    client: TestClient, username: str, password: str, headers: dict[str, str] | None = None
) -> int:
    page = await client.get("/login", headers=headers)
    token = CSRF_RE.search(await page.text()).group(1)  # type: ignore[union-attr]
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        headers=headers,
        allow_redirects=False,
    )
    return response.status


async def _checked(world: World) -> list[tuple[str, str]]:
    """(username key, address) of every try that reached the password check and failed."""
    async with world.sessions() as session:
        rows = await session.execute(
            select(LoginFailure.username, LoginFailure.ip).order_by(LoginFailure.id)
        )
        return [(name, ip) for name, ip in rows]


def _spellings(name: str, count: int) -> list[str]:
    cases = ["".join(c) for c in itertools.product(*((ch, ch.upper()) for ch in name))]
    wraps = [("", ""), (" ", ""), ("", " "), ("\t", ""), ("", "\u00a0"), ("\u200b", "\n")]
    found = [f"{a}{case}{b}" for a, b in wraps for case in cases]
    found.append("".join(chr(ord(ch) - 0x21 + 0xFF01) for ch in name))  # full-width
    assert len(set(found)) >= count
    return found[-count:]


def test_one_spelling_of_a_username() -> None:
    for given in (" bert", "bert ", "\tbert", "BERT", "Bert\u200b", "\u00a0bErT\n", "ｂｅｒｔ"):
        assert normal_username(given) == "bert", repr(given)
    assert normal_username("Straße") == "strasse"
    assert normal_username("a b") == "a b"  # inside is not trimmed (create_user refuses it)


async def test_fifty_spellings_of_one_user_reach_the_password_check_five_times(
    world: World,
) -> None:
    statuses = [await _try(world.client, name, "wrong") for name in _spellings("agent", 50)]
    assert statuses.count(401) == 5 and statuses.count(429) == 45
    assert await _checked(world) == [("agent", "127.0.0.1")] * 5
    # Not a lock: after the wait the right password gets in, typed any way.
    assert await _try(world.client, " AGENT\t", PASSWORD) == 429
    world.clock.advance(timedelta(seconds=30))
    assert await _try(world.client, " AGENT\t", PASSWORD) == 303


async def test_the_wait_doubles_with_every_failure_past_the_limit(world: World) -> None:
    for _ in range(5):
        assert await _try(world.client, "agent", "wrong") == 401
    waits = []
    for _ in range(4):
        world.clock.advance(timedelta(seconds=1))
        page = await world.client.get("/login")
        token = CSRF_RE.search(await page.text()).group(1)  # type: ignore[union-attr]
        response = await world.client.post(
            "/login", data={"username": "agent", "password": "wrong", "csrf_token": token}
        )
        assert response.status == 429
        waits.append(int(response.headers["Retry-After"]) + 1)
        world.clock.advance(timedelta(seconds=waits[-1] - 1))
        assert await _try(world.client, "agent", "wrong") == 401
    assert waits == [30, 60, 120, 240]
    assert len(await _checked(world)) == 9


async def test_fifty_usernames_from_one_address_reach_the_password_check_ten_times(
    world: World,
) -> None:
    statuses = [await _try(world.client, f"guess{n}", "Winter2026!") for n in range(50)]
    assert statuses.count(401) == 10 and statuses.count(429) == 40
    checked = await _checked(world)
    assert len(checked) == 10 and {ip for _, ip in checked} == {"127.0.0.1"}


async def test_existing_and_new_users_are_found_by_any_spelling(world: World) -> None:
    async with world.sessions() as session:
        legacy = StaffUser(
            username="Legacy.User",  # stored before names were normalised
            display_name="Legacy",
            password_hash=world.users[StaffRole.AGENT].password_hash,
            role=StaffRole.AGENT,
            is_active=True,
            created_at=world.clock.now(),
            updated_at=world.clock.now(),
        )
        session.add(legacy)
        new = await create_user(
            session,
            world.clock,
            username=" Nieuwe.Collega ",
            password=PASSWORD,
            role=StaffRole.AGENT,
            actor=Actor.system("test"),
        )
        await session.commit()
        assert new.username == "nieuwe.collega" and new.display_name == "Nieuwe.Collega"
        assert (await find_user(session, "LEGACY.user ")).id == legacy.id  # type: ignore[union-attr]
    assert await _try(world.client, "legacy.user", PASSWORD) == 303
    assert await _try(world.client, "\tNIEUWE.collega", PASSWORD) == 303


def _settings(settings: Settings, **changes: object) -> Settings:
    return Settings(data_dir=settings.data_dir, database_url=settings.database_url, **changes)


async def _client(aiohttp_client, world: World, engine, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(settings, clock=world.clock, engine=engine))


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    world: World, aiohttp_client, engine, settings: Settings
) -> None:
    client = await _client(aiohttp_client, world, engine, _settings(settings))
    forged = {"X-Forwarded-For": "203.0.113.9", "Forwarded": "for=198.51.100.4"}
    assert await _try(client, "agent", "wrong", forged) == 401
    assert await _checked(world) == [("agent", "127.0.0.1")]
    # Nor does a fresh forged address per try escape the address limit.
    for n in range(12):
        await _try(client, f"spray{n}", "wrong", {"X-Forwarded-For": f"203.0.113.{n}"})
    assert {ip for _, ip in await _checked(world)} == {"127.0.0.1"}
    assert len(await _checked(world)) == 10


async def test_forwarded_for_from_a_trusted_proxy_is_honoured(
    world: World, aiohttp_client, engine, settings: Settings
) -> None:
    trusted = _settings(settings, trusted_proxies="10.0.0.0/8, 127.0.0.1")
    client = await _client(aiohttp_client, world, engine, trusted)
    # The client's address is the rightmost one that is not one of our proxies.
    chain = {"X-Forwarded-For": "192.0.2.66, 203.0.113.9, 10.1.2.3"}
    assert await _try(client, "agent", "wrong", chain) == 401
    assert await _try(client, "agent", "wrong", {"Forwarded": 'for="198.51.100.4:5000"'}) == 401
    assert await _try(client, "agent", "wrong", {"Forwarded": 'for="[2001:db8::7]"'}) == 401
    assert await _try(client, "agent", "wrong") == 401  # no header: the proxy itself
    ips = [ip for _, ip in await _checked(world)]
    assert ips == ["203.0.113.9", "198.51.100.4", "2001:db8::7", "127.0.0.1"]
    # Each visitor behind the proxy has an address limit of their own.
    for n in range(11):
        status = await _try(client, f"spray{n}", "wrong", {"X-Forwarded-For": "192.0.2.1"})
        assert status == (401 if n < 10 else 429)
    assert await _try(client, "spray", "wrong", {"X-Forwarded-For": "192.0.2.2"}) == 401


async def test_contact_form_limit_is_per_visitor_behind_a_trusted_proxy(
    world: World, aiohttp_client, engine, settings: Settings
) -> None:
    proxied = await _client(
        aiohttp_client, world, engine, _settings(settings, trusted_proxies="127.0.0.1")
    )
    form = {"name": "Els Bol", "email": "els@bol.example", "message": "Geen verbinding."}

    async def send(client: TestClient, visitor: str) -> int:
        headers = {"X-Forwarded-For": visitor}
        page = await client.get("/contact", headers=headers)
        token = CSRF_RE.search(await page.text()).group(1)  # type: ignore[union-attr]
        data = {**form, "csrf_token": token}
        response = await client.post(
            "/contact", data=data, headers=headers, allow_redirects=False
        )
        return response.status

    assert [await send(proxied, "192.0.2.1") for _ in range(RATE_MAX + 1)][-1] == 429
    assert await send(proxied, "192.0.2.2") == 303
    direct = await _client(aiohttp_client, world, engine, _settings(settings))
    assert await send(direct, "192.0.2.3") == 303  # the peer 127.0.0.1 is a new sender here
    for _ in range(RATE_MAX):
        await send(direct, "192.0.2.3")
    assert await send(direct, "192.0.2.4") == 429  # a forged header does not help


async def test_rows_count_every_password_check(world: World) -> None:
    """The evidence the tests above rely on: each checked, failed try is one row."""
    for n in range(3):
        assert await _try(world.client, f"nobody{n}", "wrong") == 401
    async with world.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LoginFailure)) == 3
