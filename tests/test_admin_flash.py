"""The one-time value after a POST (a new API token) lives on the staff session row: behind
several admin instances the redirected GET may land on another one, which still shows it,
once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World, login
from sqlalchemy import select

from admin.app import create_app
from storage.config import Settings
from storage.db import create_engine
from storage.models import ApiToken, StaffSession
from storage.sealing import FLASH_PURPOSE, Sealer
from storage.services.access import put_flash, token_hash

pytestmark = pytest.mark.storage

TOKEN_RE = re.compile(r"<code>([^<]+)</code>")


async def test_a_new_token_is_shown_once_by_another_instance(
    world: World, aiohttp_client, settings: Settings, database_url: str
) -> None:
    first = world.client
    engine = create_engine(database_url)  # a second process: its own pool, same database
    try:
        second = await aiohttp_client(create_app(settings, clock=world.clock, engine=engine))
        csrf = await login(first, "agent")
        second.session.cookie_jar.update_cookies(
            {c.key: c.value for c in first.session.cookie_jar}, second.make_url("/")
        )
        made = await first.post(
            "/account/tokens",
            data={"csrf_token": csrf, "name": "cron", "expires_in": ""},
            allow_redirects=False,
        )
        assert made.status == 303
        page = await (await second.get("/account")).text()
        [shown] = TOKEN_RE.findall(page)
        async with world.sessions() as session:
            stored = await session.scalar(select(ApiToken.token_hash))
            flashes = list(await session.scalars(select(StaffSession.flash)))
        assert stored == token_hash(shown)
        assert flashes == [None]  # read once, then gone from the database too
        assert TOKEN_RE.findall(await (await second.get("/account")).text()) == []
        assert TOKEN_RE.findall(await (await first.get("/account")).text()) == []
    finally:
        await engine.dispose()


async def test_the_session_row_holds_the_new_token_sealed(world: World) -> None:
    client = world.client
    csrf = await login(client, "agent")
    made = await client.post(
        "/account/tokens",
        data={"csrf_token": csrf, "name": "backup", "expires_in": ""},
        allow_redirects=False,
    )
    assert made.status == 303
    async with world.sessions() as session:
        [stored] = [f for f in await session.scalars(select(StaffSession.flash)) if f]
    assert "sdt_" not in stored and "api_token" not in stored and "expires_at" not in stored
    [shown] = TOKEN_RE.findall(await (await client.get("/account")).text())
    assert shown.startswith("sdt_") and shown not in stored
    async with world.sessions() as session:
        assert await session.scalar(select(ApiToken.token_hash)) == token_hash(shown)


async def test_a_row_sealed_under_another_secret_key_shows_nothing(world: World) -> None:
    client = world.client
    await login(client, "agent")
    async with world.sessions() as session:
        [record] = list(await session.scalars(select(StaffSession)))
        await put_flash(
            session,
            Sealer("another secret key", FLASH_PURPOSE),
            record.id,
            "api_token",
            "sdt_forged",
            world.clock.now() + timedelta(minutes=5),
        )
        await session.commit()
    page = await (await client.get("/account")).text()
    assert "sdt_forged" not in page and TOKEN_RE.findall(page) == []
    async with world.sessions() as session:
        assert list(await session.scalars(select(StaffSession.flash))) == [None]


def test_a_sealer_opens_only_its_own_purpose_and_key() -> None:
    sealed = Sealer("key one", FLASH_PURPOSE).seal("sdt_abc")
    assert "sdt_abc" not in sealed
    assert Sealer("key one", FLASH_PURPOSE).unseal(sealed) == "sdt_abc"
    assert Sealer("key two", FLASH_PURPOSE).unseal(sealed) is None
    assert Sealer("key one", "another purpose").unseal(sealed) is None
    assert Sealer("key one", FLASH_PURPOSE).unseal('{"name": "api_token"}') is None
