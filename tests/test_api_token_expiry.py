"""API tokens with an optional expiry: refused from the moment they expire, shown with their
expiry on /account, set from the account page and from `supportdesk create-token`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import CSRF_RE, World, login
from cli_fixtures import cli_env, invoke
from click.testing import CliRunner
from sqlalchemy import select

from admin.api import PREFIX
from admin.cli import main
from admin.parsing import parse_duration
from storage.db import create_engine, create_sessionmaker
from storage.models import ApiToken
from storage.services import access
from storage.services.audit import Actor
from storage.services.errors import InvalidInput

pytestmark = pytest.mark.storage


def test_durations_for_token_lifetimes() -> None:
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration(" 12H ") == timedelta(hours=12)
    assert parse_duration("4w") == timedelta(weeks=4)
    for bad in ("", "90", "d", "0d", "-1d", "1.5d", "90 days", "3661d", "1y", "９０d"):
        with pytest.raises(InvalidInput):
            parse_duration(bad)


async def _token(world: World, expires_at: datetime | None) -> str:
    async with world.sessions() as session:
        _, token = await access.create_api_token(
            session,
            world.clock,
            username="agent",
            name="script",
            actor=Actor.system("test"),
            expires_at=expires_at,
        )
        await session.commit()
    return token


async def test_a_token_is_refused_from_its_expiry_on(world: World) -> None:
    expires = world.clock.now() + timedelta(days=90)
    token = await _token(world, expires)
    forever = await _token(world, None)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await world.client.get(f"{PREFIX}/tickets", headers=headers)).status == 200
    world.clock.set(expires - timedelta(seconds=1))
    assert (await world.client.get(f"{PREFIX}/tickets", headers=headers)).status == 200
    world.clock.set(expires)
    refused = await world.client.get(f"{PREFIX}/tickets", headers=headers)
    assert refused.status == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    forever_headers = {"Authorization": f"Bearer {forever}"}
    assert (await world.client.get(f"{PREFIX}/tickets", headers=forever_headers)).status == 200


async def test_an_expiry_in_the_past_is_refused(world: World) -> None:
    async with world.sessions() as session:
        with pytest.raises(InvalidInput):
            await access.create_api_token(
                session,
                world.clock,
                username="agent",
                name="late",
                actor=Actor.system("test"),
                expires_at=world.clock.now(),
            )
        assert list(await session.scalars(select(ApiToken))) == []


async def test_account_page_sets_and_shows_the_expiry(world: World) -> None:
    client = world.client
    csrf = await login(client, "agent")
    made = await client.post(
        "/account/tokens", data={"csrf_token": csrf, "name": "cron", "expires_in": "30d"}
    )
    assert made.status == 200
    made = await client.post(
        "/account/tokens", data={"csrf_token": csrf, "name": "forever", "expires_in": ""}
    )
    bad = await client.post(
        "/account/tokens", data={"csrf_token": csrf, "name": "odd", "expires_in": "soon"}
    )
    assert bad.status == 422 and "geen duur" in await bad.text()
    async with world.sessions() as session:
        tokens = {t.name: t for t in await session.scalars(select(ApiToken))}
    assert set(tokens) == {"cron", "forever"}
    assert tokens["cron"].expires_at == world.clock.now() + timedelta(days=30)
    assert tokens["forever"].expires_at is None
    page = await (await client.get("/account")).text()
    # 2026-11-27 09:00 UTC + 30 days, shown in Amsterdam time.
    assert "verloopt 2026-12-27 10:00" in page and "verloopt niet" in page
    world.clock.advance(timedelta(days=31))
    await login(client, "agent")
    page = await (await client.get("/account")).text()
    assert "verlopen</strong> 2026-12-27 10:00" in page
    assert CSRF_RE.search(page)


def test_cli_creates_a_token_that_expires(tmp_path: Path, database_url: str) -> None:
    env = cli_env(tmp_path / "var", database_url, SUPPORTDESK_PASSWORD="a-long-enough-secret")
    assert invoke(env, "create-user", "Bert", "--role", "agent").exit_code == 0
    bad = CliRunner().invoke(main, ["create-token", "bert", "--expires-in", "90x"], env=env)
    assert bad.exit_code == 2 and "--expires-in" in bad.stderr and "90x" in bad.stderr
    before = datetime.now(UTC)
    made = invoke(env, "create-token", " BERT", "--expires-in", "90d", "--name", "nightly")
    assert made.exit_code == 0, made.stderr
    after = datetime.now(UTC)
    assert made.stdout.strip().startswith(access.TOKEN_PREFIX)
    assert "expires" in made.stderr

    async def stored() -> ApiToken:
        engine = create_engine(database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                token = await session.scalar(select(ApiToken))
                assert token is not None
                return token
        finally:
            await engine.dispose()

    token = asyncio.run(stored())
    assert token.expires_at is not None and token.name == "nightly"
    assert before + timedelta(days=90) <= token.expires_at <= after + timedelta(days=90)
