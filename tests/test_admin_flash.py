"""The one-time value after a POST (a new API token) lives on the staff session row: behind
several admin instances the redirected GET may land on another one, which still shows it,
once."""

from __future__ import annotations

import re

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World, login
from sqlalchemy import select

from admin.app import create_app
from storage.config import Settings
from storage.db import create_engine
from storage.models import ApiToken, StaffSession
from storage.services.access import token_hash

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
