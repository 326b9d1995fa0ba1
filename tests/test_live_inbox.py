"""The live inbox over HTTP: a customer message filed by the real bot reaches an agent's
event stream within 2 s, on this instance and on another one sharing the database; the
stream checks the login and role, resumes from Last-Event-ID, lets go of a page that
leaves, and does not hold up a graceful shutdown.

The servers run as `serve` runs them (AppRunner on a TCP port, handlers not cancelled when
the client leaves), not through the test client, so the disconnect is noticed by the
stream itself."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import PASSWORD, World
from aiohttp import web
from pydantic import SecretStr

from admin.app import create_app
from admin.live import BACKLOG_LIMIT, LIVE_FEED, LiveFeed, Subscription
from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import MessageDirection, StaffRole, TicketMessage
from storage.services.live import latest_message_id
from storage.services.tickets import TicketService
from tests.bot_desk import USER, open_desk
from tests.db_failures import refusing_statements
from tests.telegram_fake import TOKEN, HttpBotApi, bot_settings, message_update

pytestmark = pytest.mark.storage

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
STREAM = {"Accept": "text/event-stream"}
WEBHOOK_PATH = "/telegram/hook"
SECRET = "live-inbox-secret"


@dataclass
class Event:
    id: int
    kind: str
    data: dict[str, Any]


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[tuple[web.AppRunner, str]]:
    """The app on a free port the way `serve` runs it."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=25)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield runner, f"http://{host}:{port}"
    finally:
        if runner.server is not None:  # not shut down by the test itself
            await runner.cleanup()


@asynccontextmanager
async def logged_in(base: str, username: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = await (await http.get("/login")).text()
        token = CSRF_RE.search(page).group(1)  # type: ignore[union-attr]
        form = {"username": username, "password": PASSWORD, "csrf_token": token}
        async with http.post("/login", data=form, allow_redirects=False) as response:
            assert response.status == 303, await response.text()
        yield http


async def next_event(stream: aiohttp.ClientResponse) -> Event:
    """The next event of the stream (comments and `retry:` skipped)."""
    fields: dict[str, str] = {}
    while True:
        line = (await stream.content.readline()).decode()
        assert line, "the stream ended"
        line = line.rstrip("\n")
        if line:
            name, _, value = line.partition(": ")
            fields[name] = value
            continue
        if "event" in fields:
            return Event(int(fields["id"]), fields["event"], json.loads(fields["data"]))
        fields = {}


async def until(condition: Callable[[], bool | Awaitable[bool]], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        outcome = condition()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def test_a_bot_message_reaches_the_stream_within_two_seconds(
    world: World, settings: Settings, engine, session_factory, clock: FrozenClock, tmp_path: Path
) -> None:
    app = create_app(settings, clock=clock, engine=engine)
    async with (
        served(app) as (_, base),
        logged_in(base, "agent") as http,
        open_desk(session_factory, tmp_path, settings) as desk,
        http.get("/live/events", headers=STREAM) as stream,
    ):
        assert stream.status == 200
        assert stream.headers["Content-Type"] == "text/event-stream"
        await desk.feed(message_update(USER, "De <b>fax</b> doet het niet"))
        async with asyncio.timeout(2):
            opened = await next_event(stream)
        [ticket] = await desk.tickets()
        assert opened.kind == "ticket" and opened.id > 0
        assert opened.data["ticket_id"] == ticket.id
        assert opened.data["reference"] == ticket.reference
        assert opened.data["subject"] == ticket.subject  # as stored: the page sets textContent
        assert opened.data["url"] == f"/tickets/{ticket.id}"
        assert opened.data["unread"] == 1

        await desk.feed(message_update(USER, "En de printer ook niet"))
        async with asyncio.timeout(2):
            added = await next_event(stream)
        assert (added.kind, added.data["ticket_id"]) == ("message", ticket.id)
        assert added.id > opened.id and added.data["unread"] == 2
        assert await desk.texts(ticket.id) == [
            "De <b>fax</b> doet het niet",
            "En de printer ook niet",
        ]


async def test_the_stream_is_for_staff_who_may_see_tickets(
    world: World, settings: Settings, engine, clock: FrozenClock
) -> None:
    app = create_app(settings, clock=clock, engine=engine)
    async with served(app) as (_, base):
        async with aiohttp.ClientSession(base) as anonymous:
            async with anonymous.get("/live/events", headers=STREAM) as refused:
                assert refused.status == 401
        async with logged_in(base, "trainer") as trainer:
            async with trainer.get("/live/events", headers=STREAM) as refused:
                assert refused.status == 403
        async with logged_in(base, "privacy-officer") as officer:
            async with officer.get("/live/events", headers=STREAM) as allowed:
                assert allowed.status == 200


async def test_a_message_filed_on_one_instance_is_announced_on_another(
    world: World, settings: Settings, engine, clock: FrozenClock
) -> None:
    telegram = HttpBotApi(TOKEN)
    api_runner, api_base = await telegram.serve()
    webhook_settings = bot_settings(
        settings,
        api_base,
        webhook_url="https://desk.example.com" + WEBHOOK_PATH,
        webhook_secret=SecretStr(SECRET),
    )
    update = message_update(USER, "Storing bij instantie A").model_dump(
        mode="json", exclude_none=True
    )
    try:
        # A runs the bot (webhook); B has its own engine on the same database.
        async with (
            served(create_app(webhook_settings, clock=clock, engine=engine)) as (_, base_a),
            served(create_app(settings, clock=clock)) as (_, base_b),
            logged_in(base_b, "agent") as http,
            http.get("/live/events", headers=STREAM) as stream,
            aiohttp.ClientSession(base_a) as telegram_side,
        ):
            assert stream.status == 200
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with telegram_side.post(WEBHOOK_PATH, json=update, headers=headers) as posted:
                assert posted.status == 200
            async with asyncio.timeout(2):
                event = await next_event(stream)
            assert event.kind == "ticket" and event.data["unread"] == 1
    finally:
        await api_runner.cleanup()


async def test_a_reconnect_resumes_after_its_last_event_id(
    world: World, settings: Settings, engine, session_factory, clock: FrozenClock, tmp_path: Path
) -> None:
    app = create_app(settings, clock=clock, engine=engine)
    async with (
        served(app) as (_, base),
        logged_in(base, "agent") as http,
        open_desk(session_factory, tmp_path, settings) as desk,
    ):
        page = await (await http.get("/")).text()
        after = int(re.search(r"/live/events\?after=(\d+)", page).group(1))  # type: ignore[union-attr]
        # Written while no page listens: the first after the page was rendered ...
        await desk.feed(message_update(USER, "Eerste bericht"))
        async with http.get(f"/live/events?after={after}", headers=STREAM) as stream:
            first = await asyncio.wait_for(next_event(stream), 2)
        assert first.kind == "ticket" and first.id > after
        # ... and the next one, missed between two connections: Last-Event-ID brings it.
        await desk.feed(message_update(USER, "Tweede bericht"))
        resumed = {**STREAM, "Last-Event-ID": str(first.id)}
        async with http.get(f"/live/events?after={after}", headers=resumed) as stream:
            second = await asyncio.wait_for(next_event(stream), 2)
        assert second.kind == "message" and second.id > first.id
        assert second.data["ticket_id"] == first.data["ticket_id"]


async def test_a_quiet_stream_beats_a_page_that_leaves_is_released_shutdown_is_quick(
    world: World, settings: Settings, engine, clock: FrozenClock
) -> None:
    app = create_app(settings, clock=clock, engine=engine)
    async with served(app) as (runner, base), logged_in(base, "agent") as http:
        feed = app[LIVE_FEED]
        feed.heartbeat = 0.2  # instead of 15 s
        stream = await http.get("/live/events", headers=STREAM)
        await until(lambda: feed.subscriber_count == 1)
        assert feed.polling
        async with asyncio.timeout(2):  # a quiet stream still speaks: proxies keep it open
            while (await stream.content.readline()) != b": heartbeat\n":
                pass
        stream.close()  # the tab is closed
        await until(lambda: feed.subscriber_count == 0, seconds=3)
        await until(lambda: not feed.polling)  # nobody listens: the database is left alone

        async with http.get("/live/events", headers=STREAM) as open_stream:
            await until(lambda: feed.subscriber_count == 1)
            started = time.monotonic()
            await runner.cleanup()  # graceful shutdown with a page still listening
            assert time.monotonic() - started < 5
            await asyncio.wait_for(open_stream.content.read(), 1)  # the stream has ended


async def announced(subscription: Subscription) -> int:
    event = await subscription.next(2)
    assert event is not None, "nothing announced within 2 s"
    return event.id


async def test_the_feed_counts_since_the_last_reply_and_announces_late_commits(
    world: World, clock: FrozenClock
) -> None:
    """Ids are handed out before commit (a PostgreSQL sequence): a message whose lower id
    commits after a higher one is still announced."""
    tickets = TicketService(clock)
    feed = LiveFeed(world.sessions, lambda ticket_id: f"/tickets/{ticket_id}", interval=0.05)
    try:
        async with feed.subscription() as subscription:
            async with world.sessions() as s:
                await tickets.add_agent_reply(
                    s, world.ticket_id, staff=world.users[StaffRole.AGENT], text="Wij kijken"
                )
                customer = await tickets.add_customer_message(s, world.ticket_id, text="Dank")
                await s.commit()
            event = await subscription.next(2)  # the reply itself is not announced
            assert event is not None and event.id == customer.id
            assert (event.kind, event.data["unread"]) == ("message", 1)

            async with world.sessions() as s:
                latest = await latest_message_id(s)
            for late in (latest + 5, latest + 3):  # + 3 commits after + 5
                async with world.sessions() as s:
                    s.add(
                        TicketMessage(
                            id=late,
                            ticket_id=world.ticket_id,
                            direction=MessageDirection.IN,
                            text=f"bericht {late}",
                            created_at=clock.now(),
                        )
                    )
                    await s.commit()
                assert await announced(subscription) == late
    finally:
        await feed.close()
    assert feed.subscriber_count == 0


async def test_a_failed_first_poll_leaves_no_subscription_behind_and_the_poller_stops(
    world: World,
) -> None:
    feed = LiveFeed(world.sessions, lambda ticket_id: f"/tickets/{ticket_id}", interval=0.05)
    try:
        newest = re.compile(r"max\(ticket_messages\.id\)", re.IGNORECASE)
        with refusing_statements(lambda sql: bool(newest.search(sql))):
            with pytest.raises(RuntimeError, match="injected"):
                async with feed.subscription():
                    pytest.fail("subscribed although the poller could not start")
        assert feed.subscriber_count == 0 and not feed.polling
        async with feed.subscription():
            assert feed.polling
        await until(lambda: not feed.polling)  # nobody listens: the poller stopped
        assert feed.subscriber_count == 0
    finally:
        await feed.close()


async def _add_messages(
    world: World, clock: FrozenClock, direction: MessageDirection, count: int
) -> int:
    """`count` messages on the world's ticket; the id of the last."""
    async with world.sessions() as s:
        rows = [
            TicketMessage(
                ticket_id=world.ticket_id, direction=direction, text=f"m{n}", created_at=clock.now()
            )
            for n in range(count)
        ]
        s.add_all(rows)
        await s.commit()
        return rows[-1].id


async def test_a_reconnect_after_many_desk_replies_still_gets_the_customer_message(
    world: World, settings: Settings, engine, clock: FrozenClock
) -> None:
    app = create_app(settings, clock=clock, engine=engine)
    async with world.sessions() as s:
        cursor = await latest_message_id(s)
    await _add_messages(world, clock, MessageDirection.OUT, BACKLOG_LIMIT + 100)
    customer = await _add_messages(world, clock, MessageDirection.IN, 1)
    async with served(app) as (_, base), logged_in(base, "agent") as http:
        resumed = {**STREAM, "Last-Event-ID": str(cursor)}
        async with http.get("/live/events", headers=resumed) as stream:
            event = await asyncio.wait_for(next_event(stream), 2)
    assert (event.id, event.kind) == (customer, "message")


async def test_a_quiet_stream_moves_its_last_event_id_past_the_desk_replies(
    world: World, settings: Settings, engine, clock: FrozenClock
) -> None:
    app = create_app(settings, clock=clock, engine=engine)
    async with served(app) as (_, base), logged_in(base, "agent") as http:
        feed = app[LIVE_FEED]
        feed.heartbeat = 0.2
        async with http.get("/live/events", headers=STREAM) as stream:
            await until(lambda: feed.subscriber_count == 1)
            reply = await _add_messages(world, clock, MessageDirection.OUT, 3)
            seen = 0
            async with asyncio.timeout(5):  # the heartbeat carries the id the page is at
                while seen < reply:
                    line = (await stream.content.readline()).decode()
                    if line.startswith("id: "):
                        seen = int(line[4:])
    assert seen == reply
