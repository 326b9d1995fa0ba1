"""End to end over HTTP: the admin app with a bot token runs the bot (webhook or long
polling), the inbox processor and the delivery worker against a local fake Bot API server on
127.0.0.1 (SUPPORTDESK_TELEGRAM_API_BASE)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from admin.app import SESSIONMAKER, TICKETS, create_app
from admin.auth import Access, is_csrf_exempt, requirement_of
from admin.keys import BOT_TRANSPORT, OBJECT_STORE
from bot import webhook
from bot.processor import RateLimiter
from bot.webhook import SECRET_HEADER
from storage.clock import FrozenClock
from storage.config import ConfigError, Settings
from storage.models import (
    Attachment,
    BotUpdate,
    DeliveryState,
    StaffRole,
    StaffUser,
    Ticket,
    TicketMessage,
)
from tests.db_failures import refusing_commits, refusing_inserts
from tests.waiting import until

pytestmark = pytest.mark.storage

TOKEN = "4242:fake-token"
USER = 8001
WEBHOOK_URL = "https://desk.example.com/telegram/hook"
WEBHOOK_PATH = "/telegram/hook"
SECRET = "s3cret-Token_42"
PHOTO = bytes(range(256)) * 40  # 10 KiB


class FakeBotApi:
    """Speaks just enough of the Bot API over HTTP: getMe, getUpdates, sendMessage,
    set/deleteWebhook, getFile and file downloads; can answer 429 to sendMessage."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.sent: list[dict[str, str]] = []
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.next_id = 1
        self.throttle_sends = 0
        self.report_file_size = True
        self.refuse_webhook = False  # answer setWebhook with 400, as for a bad URL
        self.webhook_set = False
        self.downloads = 0
        self.sends_open: asyncio.Event | None = None  # when set: sendMessage waits for it
        self.stalled_sends = 0
        # --local mode: getFile answers with this absolute path on the server's disk.
        self.local_file_path: str | None = None

    def called(self, method: str) -> list[dict[str, str]]:
        return [form for name, form in self.calls if name == method]

    async def handle(self, request: web.Request) -> web.Response:
        assert request.match_info["token"] == TOKEN
        method = request.match_info["method"]
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.calls.append((method, form))
        if method == "getMe":
            result: Any = {"id": 4242, "is_bot": True, "first_name": "Desk", "username": "desk"}
        elif method == "getUpdates":
            offset = int(form.get("offset", 0))
            pending = [u for u in self.updates if u["update_id"] >= offset]
            if not pending:
                await asyncio.sleep(0.05)
            result = pending
        elif method == "sendMessage":
            if self.sends_open is not None:
                self.stalled_sends += 1
                await self.sends_open.wait()
            if self.throttle_sends:
                self.throttle_sends -= 1
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1},
                    },
                    status=429,
                )
            self.sent.append(form)
            self.next_id += 1
            result = {
                "message_id": self.next_id,
                "date": 1772445600,
                "chat": {"id": int(form["chat_id"]), "type": "private"},
                "text": form["text"],
            }
        elif method == "setWebhook" and self.refuse_webhook:
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: bad webhook: Failed to resolve host",
                },
                status=400,
            )
        elif method == "getFile":
            result = {
                "file_id": form["file_id"],
                "file_unique_id": "uniq-" + form["file_id"],
                "file_path": self.local_file_path or f"photos/{form['file_id']}.jpg",
            }
            if self.report_file_size:
                result["file_size"] = len(PHOTO)
        else:
            self.webhook_set = self.webhook_set or method == "setWebhook"
            result = True
        return web.json_response({"ok": True, "result": result})

    async def download(self, request: web.Request) -> web.StreamResponse:
        assert request.match_info["token"] == TOKEN
        self.downloads += 1
        return web.Response(body=PHOTO, content_type="image/jpeg")


async def serve_fake_api(api: FakeBotApi, port: int = 0) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api.handle)
    app.router.add_get("/file/bot{token}/{path:.+}", api.download)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, bound = runner.addresses[0][:2]
    return runner, f"http://{host}:{bound}"


@pytest.fixture
async def fake_api() -> AsyncIterator[tuple[FakeBotApi, str]]:
    api = FakeBotApi()
    runner, base = await serve_fake_api(api)
    yield api, base
    await runner.cleanup()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 27, 10, 0, tzinfo=UTC))


def bot_settings(settings: Settings, base: str, **extra: Any) -> Settings:
    return settings.model_copy(
        update={"telegram_token": SecretStr(TOKEN), "telegram_api_base": base, **extra}
    )


def webhook_settings(settings: Settings, base: str, **extra: Any) -> Settings:
    return bot_settings(
        settings, base, webhook_url=WEBHOOK_URL, webhook_secret=SecretStr(SECRET), **extra
    )


def message(update_id: int, text: str, *, user: int = USER, **content: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text} if text else {}
    body.update(content)
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1772445600,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "A", "language_code": "en"},
            **body,
        },
    }


def photo(update_id: int, *, with_size: bool = True) -> dict[str, Any]:
    size = {"file_size": len(PHOTO)} if with_size else {}
    item = {"file_id": "ph1", "file_unique_id": "uq1", "width": 64, "height": 40, **size}
    return message(update_id, "", photo=[item])


@pytest.fixture
def failing_inserts() -> Iterator[list[type]]:
    """An injected database failure: inserting a row of a listed class raises."""
    failing: list[type] = []
    with refusing_inserts(lambda: failing):
        yield failing


async def _count(sessionmaker: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def _customer_texts(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as s:
        rows = await s.scalars(select(TicketMessage.text).order_by(TicketMessage.id))
        return list(rows)


async def _inbox_row(sessionmaker: async_sessionmaker[AsyncSession], update_id: int) -> BotUpdate:
    async with sessionmaker() as s:
        row = await s.get(BotUpdate, update_id)
        assert row is not None
        return row


async def _post(client: Any, body: dict[str, Any], secret: str | None = SECRET) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    response = await client.post(WEBHOOK_PATH, data=json.dumps(body), headers=headers)
    return int(response.status)


async def _agent_reply(app: web.Application, text: str) -> int:
    async with app[SESSIONMAKER]() as s:
        ticket = await s.scalar(select(Ticket))
        assert ticket is not None
        staff = StaffUser(
            username="agent",
            password_hash="x",
            role=StaffRole.AGENT,
            created_at=ticket.created_at,
            updated_at=ticket.created_at,
        )
        s.add(staff)
        await s.flush()
        reply = await app[TICKETS].add_agent_reply(s, ticket.id, staff=staff, text=text)
        await s.commit()
        return reply.id


async def _wait_delivered(app: web.Application, reply_id: int) -> None:
    async def sent() -> bool:
        async with app[SESSIONMAKER]() as s:
            row = await s.get(TicketMessage, reply_id)
            return row is not None and row.delivery_state == DeliveryState.SENT

    # The worker records SENT after the HTTP call returns: wait for the stored state.
    await until(sent)


async def test_polling_ticket_answer_and_agent_reply(
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
) -> None:
    api, base = fake_api
    app = create_app(bot_settings(settings, base), engine=engine, clock=clock)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        api.updates.append(message(1, "Internet down"))
        await until(lambda: _has_sent(api, 1))
        assert "has been created" in api.sent[0]["text"]
        # Answers go out after the update's commit (bot/answers.py): the ticket is stored.
        async with app[SESSIONMAKER]() as s:
            ticket = await s.scalar(select(Ticket))
            assert ticket is not None and ticket.reference in api.sent[0]["text"]
        reply_id = await _agent_reply(app, "We are on it")
        await _wait_delivered(app, reply_id)
        assert api.sent[1] == {"chat_id": str(USER), "text": "We are on it"}
        assert not api.called("setWebhook")
        assert app[BOT_TRANSPORT].bot.token == TOKEN  # the admin reaches the bot (notices)
    finally:
        await asyncio.wait_for(runner.cleanup(), 10)


UNREADABLE_NOTE = "[message this bot version cannot read: message_id, date, chat, from, text]"


def _unreadable(update_id: int, text: str, *, chat: int = USER) -> dict[str, Any]:
    """A message this aiogram cannot validate (its chat lacks the type)."""
    update = message(update_id, text)
    update["message"]["chat"] = {"id": chat}
    return update


async def test_polling_files_an_update_it_cannot_read_and_keeps_going(
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An update in a shape this aiogram cannot parse fails the whole getUpdates answer; the
    offset must still pass it, or no customer's update after it would ever arrive. It is
    stored and filed as a readable note (never lost); without a private chat's user to file
    it for, it is marked handled and logged."""
    api, base = fake_api
    app = create_app(bot_settings(settings, base), engine=engine, clock=clock)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        api.updates.extend(
            [_unreadable(1, "kapot"), message(2, "Internet down"), _unreadable(3, "x", chat=-7)]
        )
        await until(lambda: _processed(app[SESSIONMAKER], 3))
        await until(lambda: _processed(app[SESSIONMAKER], 2))
        assert await _processed(app[SESSIONMAKER], 1)
        api.updates.append(message(4, "Nog steeds"))
        await until(lambda: _processed(app[SESSIONMAKER], 4))
        assert await _customer_texts(app[SESSIONMAKER]) == [
            UNREADABLE_NOTE,
            "Internet down",
            "Nog steeds",
        ]
        assert "bot update 1 cannot be read" in caplog.text and "kapot" not in caplog.text
        assert "bot update 3 cannot be read" in caplog.text
    finally:
        await asyncio.wait_for(runner.cleanup(), 10)


async def test_polling_skips_update_ids_already_in_the_inbox(
    engine: AsyncEngine, settings: Settings, fake_api: tuple[FakeBotApi, str], clock: FrozenClock
) -> None:
    api, base = fake_api
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with sessionmaker() as s:  # handled before (e.g. by the webhook, or a restart)
        s.add(
            BotUpdate(
                update_id=1,
                payload="",
                received_at=clock.now(),
                next_attempt_at=clock.now(),
                processed_at=clock.now(),
                attempts=0,
            )
        )
        await s.commit()
    app = create_app(bot_settings(settings, base), engine=engine, clock=clock)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        api.updates.extend([message(1, "already handled"), message(2, "new one")])
        await until(lambda: _has_sent(api, 1))
        await until(lambda: _processed(sessionmaker, 2))
        assert await _customer_texts(sessionmaker) == ["new one"]
        assert len(api.sent) == 1
    finally:
        await asyncio.wait_for(runner.cleanup(), 10)


async def test_webhook_with_secret_stores_answers_and_delivers_agent_reply(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
) -> None:
    api, base = fake_api
    client = await aiohttp_client(
        create_app(webhook_settings(settings, base), engine=engine, clock=clock)
    )
    app = client.app
    await until(lambda: _webhook_set(api))  # registered in the background
    [registered] = api.called("setWebhook")
    assert registered["url"] == WEBHOOK_URL and registered["secret_token"] == SECRET
    assert "message" in json.loads(registered["allowed_updates"])
    assert not api.called("getUpdates")

    assert await _post(client, message(7, "Internet down")) == 200
    await until(lambda: _has_sent(api, 1))
    assert "has been created" in api.sent[0]["text"]
    await until(lambda: _processed(app[SESSIONMAKER], 7))
    assert await _customer_texts(app[SESSIONMAKER]) == ["Internet down"]
    handled = await _inbox_row(app[SESSIONMAKER], 7)
    assert handled.payload == "" and handled.user_id is None  # the ticket holds the text

    reply_id = await _agent_reply(app, "We are on it")
    await _wait_delivered(app, reply_id)
    assert api.sent[1] == {"chat_id": str(USER), "text": "We are on it"}


async def test_webhook_without_the_right_secret_is_refused_and_stores_nothing(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    caplog: pytest.LogCaptureFixture,
    clock: FrozenClock,
) -> None:
    api, base = fake_api
    client = await aiohttp_client(
        create_app(webhook_settings(settings, base), engine=engine, clock=clock)
    )
    caplog.set_level(logging.INFO)
    assert await _post(client, message(1, "hi"), secret="wrong-secret-value") == 401
    assert await _post(client, message(2, "hi"), secret=None) == 401
    assert await _post(client, message(3, "hi"), secret="") == 401
    # A refused request never reaches the processor, whose receive stores (and commits)
    # an update before the webhook answers: nothing can still be on its way.
    assert await _count(client.app[SESSIONMAKER], BotUpdate) == 0
    assert await _count(client.app[SESSIONMAKER], Ticket) == 0
    assert api.sent == []
    assert "without the right secret" in caplog.text
    assert "wrong-secret-value" not in caplog.text and SECRET not in caplog.text


async def test_webhook_repeated_update_id_is_handled_once(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
) -> None:
    api, base = fake_api
    client = await aiohttp_client(
        create_app(webhook_settings(settings, base), engine=engine, clock=clock)
    )
    update = message(11, "Line is noisy")
    assert await _post(client, update) == 200
    await until(lambda: _processed(client.app[SESSIONMAKER], 11))
    assert await _post(client, update) == 200  # Telegram redelivers: 200, nothing new
    assert await asyncio.gather(_post(client, update), _post(client, update)) == [200, 200]
    # The same customer's next update runs in the same lane, after anything the repeats
    # could have queued: once it is handled, a second run of update 11 would have shown.
    assert await _post(client, message(12, "Still noisy")) == 200
    await until(lambda: _processed(client.app[SESSIONMAKER], 12))
    assert await _customer_texts(client.app[SESSIONMAKER]) == ["Line is noisy", "Still noisy"]
    await until(lambda: _has_sent(api, 1))  # answers follow the commit
    assert len(api.sent) == 1  # one confirmation; the follow-up adds to the same ticket


async def test_webhook_bad_body_is_refused(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
) -> None:
    _, base = fake_api
    client = await aiohttp_client(
        create_app(webhook_settings(settings, base), engine=engine, clock=clock)
    )
    response = await client.post(WEBHOOK_PATH, data=b"{not json", headers={SECRET_HEADER: SECRET})
    assert response.status == 400
    assert await _count(client.app[SESSIONMAKER], BotUpdate) == 0


async def test_webhook_body_without_an_integer_update_id_is_refused(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
) -> None:
    _, base = fake_api
    client = await aiohttp_client(
        create_app(webhook_settings(settings, base), engine=engine, clock=clock)
    )
    for body in [{"message": {}}, {"update_id": "5"}, {"update_id": True}, [1]]:
        assert await _post(client, body) == 400  # type: ignore[arg-type]
    assert await _count(client.app[SESSIONMAKER], BotUpdate) == 0


async def test_webhook_stores_and_files_an_update_it_cannot_read(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
) -> None:
    api, base = fake_api
    client = await aiohttp_client(
        create_app(webhook_settings(settings, base), engine=engine, clock=clock)
    )
    assert await _post(client, _unreadable(21, "kapot")) == 200
    assert await _count(client.app[SESSIONMAKER], BotUpdate) == 1  # stored before the 200
    await until(lambda: _processed(client.app[SESSIONMAKER], 21))
    assert await _customer_texts(client.app[SESSIONMAKER]) == [UNREADABLE_NOTE]
    await until(lambda: _has_sent(api, 1))  # the new ticket's confirmation, via the outbox
    assert await _post(client, _unreadable(22, "x", chat=-7)) == 200  # no customer: handled
    await until(lambda: _processed(client.app[SESSIONMAKER], 22))
    assert await _customer_texts(client.app[SESSIONMAKER]) == [UNREADABLE_NOTE]
    assert len(api.sent) == 1


async def test_failed_handling_stays_in_the_inbox_and_is_retried(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
    failing_inserts: list[type],
) -> None:
    api, base = fake_api
    client = await aiohttp_client(
        create_app(webhook_settings(settings, base), engine=engine, clock=clock)
    )
    sessionmaker = client.app[SESSIONMAKER]
    failing_inserts.append(TicketMessage)
    assert await _post(client, message(21, "Router blinks red")) == 200

    async def failed_once() -> bool:
        return (await _inbox_row(sessionmaker, 21)).attempts == 1

    await until(failed_once)
    row = await _inbox_row(sessionmaker, 21)
    assert row.processed_at is None and row.last_error == "RuntimeError"
    assert "Router blinks red" in row.payload
    assert row.next_attempt_at > clock.now()  # backs off
    assert await _count(sessionmaker, Ticket) == 0

    failing_inserts.clear()  # the database is back
    clock.advance(timedelta(minutes=10))
    client.app[BOT_TRANSPORT].processor.kick()
    await until(lambda: _processed(sessionmaker, 21))
    assert await _customer_texts(sessionmaker) == ["Router blinks red"]
    await until(lambda: _said(api, "has been created"))  # answers follow the commit


async def test_a_retry_due_while_the_failed_attempt_is_finishing_is_not_lost(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
    failing_inserts: list[type],
) -> None:
    """The inbox scan claims the retry while the lane still tells the customer that the
    message arrived: the claim is not dropped as 'queued here already', nor pushed back."""
    api, base = fake_api
    client = await aiohttp_client(
        create_app(webhook_settings(settings, base), engine=engine, clock=clock)
    )
    sessionmaker = client.app[SESSIONMAKER]
    api.sends_open = asyncio.Event()
    failing_inserts.append(TicketMessage)
    assert await _post(client, message(22, "Fax line is dead")) == 200

    async def failed_and_telling() -> bool:
        return api.stalled_sends == 1 and (await _inbox_row(sessionmaker, 22)).attempts == 1

    await until(failed_and_telling)
    failing_inserts.clear()
    clock.advance(timedelta(minutes=10))
    processor = client.app[BOT_TRANSPORT].processor
    processor.kick()

    async def scanned() -> bool:  # claimed (or, before the fix, its lease renewed)
        return (await _inbox_row(sessionmaker, 22)).next_attempt_at > clock.now()

    try:
        # On SQLite the scan takes its turn after the lane; on PostgreSQL it runs now.
        if not processor.serial:
            await until(scanned)
    finally:
        api.sends_open.set()  # the lane finishes the failed attempt
    await until(lambda: _processed(sessionmaker, 22))
    assert await _customer_texts(sessionmaker) == ["Fax line is dead"]


async def test_answers_go_out_only_after_the_commit(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
) -> None:
    """A handler that announced a new ticket and then failed to commit told the customer
    nothing about it; the retry announces the ticket that was actually stored, once."""
    api, base = fake_api
    client = await aiohttp_client(
        create_app(webhook_settings(settings, base), engine=engine, clock=clock)
    )
    sessionmaker = client.app[SESSIONMAKER]
    failing = [True]

    async def failed_once() -> bool:
        return (await _inbox_row(sessionmaker, 31)).attempts == 1

    with refusing_commits(lambda: [Ticket] if failing[0] else []):
        assert await _post(client, message(31, "Fax kapot")) == 200
        await until(failed_once)
        await until(lambda: _has_sent(api, 1))  # "received, it will be processed"
        assert await _count(sessionmaker, Ticket) == 0
        assert not [m for m in api.sent if "has been created" in m["text"]]
        assert len(api.sent) == 1
        failing[0] = False  # the database is back
        clock.advance(timedelta(minutes=10))
        client.app[BOT_TRANSPORT].processor.kick()
        await until(lambda: _processed(sessionmaker, 31))
        await until(lambda: _said(api, "has been created"))  # answers follow the commit
    created = [m["text"] for m in api.sent if "has been created" in m["text"]]
    async with sessionmaker() as s:
        ticket = await s.scalar(select(Ticket))
    assert ticket is not None and len(created) == 1 and ticket.reference in created[0]


async def test_pending_updates_are_handled_at_start_up(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
) -> None:
    api, base = fake_api
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with sessionmaker() as s:  # stored, then the process died before handling it
        s.add(
            BotUpdate(
                update_id=31,
                payload=json.dumps(message(31, "Stored before the crash")),
                received_at=clock.now(),
                next_attempt_at=clock.now(),
                attempts=0,
            )
        )
        await s.commit()
    await aiohttp_client(create_app(webhook_settings(settings, base), engine=engine, clock=clock))
    await until(lambda: _processed(sessionmaker, 31))
    assert await _customer_texts(sessionmaker) == ["Stored before the crash"]
    await until(lambda: _has_sent(api, 1))  # answers follow the commit
    assert len(api.sent) == 1


async def test_webhook_mode_without_secret_refuses_to_start(
    settings: Settings, fake_api: tuple[FakeBotApi, str]
) -> None:
    _, base = fake_api
    broken = bot_settings(settings, base, webhook_url=WEBHOOK_URL)
    with pytest.raises(ConfigError, match="SUPPORTDESK_WEBHOOK_SECRET"):
        create_app(broken)
    no_path = bot_settings(
        settings, base, webhook_url="https://desk.example.com", webhook_secret=SecretStr(SECRET)
    )
    with pytest.raises(ConfigError, match="SUPPORTDESK_WEBHOOK_URL"):
        create_app(no_path)


def test_webhook_route_declares_public_access_and_csrf_exemption(settings: Settings) -> None:
    app = create_app(webhook_settings(settings, "http://127.0.0.1:9"))
    [route] = [
        r for r in app.router.routes() if r.resource and r.resource.canonical == WEBHOOK_PATH
    ]
    assert route.method == "POST"
    assert requirement_of(route.handler) == Access.PUBLIC and is_csrf_exempt(route.handler)


async def test_rate_limit_queues_one_users_messages_in_order(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
) -> None:
    _, base = fake_api
    limited = webhook_settings(settings, base, bot_rate_per_second=5.0, bot_rate_burst=1)
    client = await aiohttp_client(create_app(limited, engine=engine, clock=clock))
    start = time.monotonic()
    for n in range(1, 5):
        assert await _post(client, message(40 + n, f"part {n}")) == 200
    assert await _post(client, message(50, "someone else", user=USER + 1)) == 200

    async def all_stored() -> bool:
        return len(await _customer_texts(client.app[SESSIONMAKER])) == 5

    await until(all_stored)
    elapsed = time.monotonic() - start
    texts = await _customer_texts(client.app[SESSIONMAKER])
    mine = [text for text in texts if text.startswith("part")]
    assert mine == ["part 1", "part 2", "part 3", "part 4"]  # delayed, not dropped, in order
    assert elapsed >= 0.55  # three waits of 0.2 s after the burst of one
    assert texts.index("someone else") < texts.index("part 4")  # other users are not queued


def test_rate_limiter_bucket() -> None:
    now = [100.0]
    limiter = RateLimiter(rate=1.0, burst=3, monotonic=lambda: now[0])
    assert [limiter.delay(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.delay(1) == pytest.approx(1.0)
    assert limiter.delay(2) == 0.0  # per user
    now[0] += 1.0  # the booked message has waited its second
    assert limiter.delay(1) == pytest.approx(1.0)
    now[0] += 10.0
    assert limiter.delay(1) == 0.0


async def test_bots_own_answer_waits_out_429_and_is_sent(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
) -> None:
    api, base = fake_api
    client = await aiohttp_client(
        create_app(webhook_settings(settings, base), engine=engine, clock=clock)
    )
    api.throttle_sends = 1
    assert await _post(client, message(61, "Slow line")) == 200
    await until(lambda: _has_sent(api, 1))
    assert "has been created" in api.sent[0]["text"]
    assert len(api.called("sendMessage")) == 2  # the 429, then the retry
    await until(lambda: _processed(client.app[SESSIONMAKER], 61))


async def test_photo_is_streamed_into_the_object_store(
    aiohttp_client: Any,
    engine: AsyncEngine,
    tmp_path: Any,
    s3_endpoint: str,
    s3_bucket: str,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
    failing_inserts: list[type],
) -> None:
    _, base = fake_api
    s3 = Settings(
        data_dir=tmp_path,
        s3_endpoint=s3_endpoint,
        s3_access_key="test",
        s3_secret_key="testtest",
        s3_bucket=s3_bucket,
    )
    client = await aiohttp_client(
        create_app(webhook_settings(s3, base), engine=engine, clock=clock)
    )
    sessionmaker, store = client.app[SESSIONMAKER], client.app[OBJECT_STORE]

    # The transaction fails after the object was put: the object is removed again.
    failing_inserts.append(Attachment)
    assert await _post(client, photo(71)) == 200

    async def failed_once() -> bool:
        return (await _inbox_row(sessionmaker, 71)).attempts == 1

    await until(failed_once)
    assert await store.list("attachments/") == []
    assert await _count(sessionmaker, Attachment) == 0
    assert await _count(sessionmaker, Ticket) == 0

    failing_inserts.clear()
    clock.advance(timedelta(minutes=10))
    client.app[BOT_TRANSPORT].processor.kick()
    await until(lambda: _processed(sessionmaker, 71))
    async with sessionmaker() as s:
        [attachment] = list(await s.scalars(select(Attachment)))
    assert attachment.size == len(PHOTO) and attachment.media_type == "image/jpeg"
    [stored] = await store.list("attachments/")
    assert stored.key == attachment.object_key
    assert await (await store.get(attachment.object_key)).read_all() == PHOTO


async def test_file_growing_past_the_limit_while_streaming_is_refused(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
) -> None:
    api, base = fake_api
    api.report_file_size = False  # the Bot API does not always know the size
    limited = webhook_settings(settings, base, bot_media_max_bytes=4096)
    client = await aiohttp_client(create_app(limited, engine=engine, clock=clock))
    assert await _post(client, photo(81, with_size=False)) == 200
    await until(lambda: _processed(client.app[SESSIONMAKER], 81))
    await until(lambda: _has_sent(api, 2))  # answers follow the commit
    assert len(api.sent) == 2 and "could not be stored" in api.sent[1]["text"]
    assert await _count(client.app[SESSIONMAKER], Attachment) == 0
    assert await client.app[OBJECT_STORE].list("attachments/") == []
    # the agent sees it was refused, not just "[photo]"
    assert await _customer_texts(client.app[SESSIONMAKER]) == [
        "[photo] [not stored: over the 4 KB limit]"
    ]


SERVER_DIR = "/var/lib/telegram-bot-api"  # the --dir of telegram-bot-api --local


@pytest.fixture
def local_mode(settings: Settings, tmp_path: Any, fake_api: tuple[FakeBotApi, str]) -> Settings:
    """Settings for a --local Bot API server whose --dir (SERVER_DIR there) is mounted at
    tmp_path/bot-api-volume here, holding a photo where telegram-bot-api puts it; the secret
    beside the volume must never be read."""
    local_dir = tmp_path / "bot-api-volume"
    (local_dir / TOKEN / "photos").mkdir(parents=True)
    (local_dir / TOKEN / "photos" / "file_0.jpg").write_bytes(PHOTO)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for customers")
    (local_dir / TOKEN / "photos" / "link.jpg").symlink_to(secret)
    return webhook_settings(
        settings,
        fake_api[1],
        telegram_api_local_dir=str(local_dir),
        telegram_api_server_dir=SERVER_DIR,
    )


async def test_local_bot_api_server_file_is_read_from_its_directory(
    aiohttp_client: Any,
    engine: AsyncEngine,
    local_mode: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
) -> None:
    """A self-hosted server in --local mode serves no downloads over HTTP: getFile names a
    path on its disk, which is read through the shared volume."""
    api, _ = fake_api
    api.local_file_path = f"{SERVER_DIR}/{TOKEN}/photos/file_0.jpg"
    client = await aiohttp_client(create_app(local_mode, engine=engine, clock=clock))
    assert await _post(client, photo(91)) == 200
    await until(lambda: _processed(client.app[SESSIONMAKER], 91))
    async with client.app[SESSIONMAKER]() as s:
        [attachment] = list(await s.scalars(select(Attachment)))
    stored = await client.app[OBJECT_STORE].get(attachment.object_key)
    assert await stored.read_all() == PHOTO
    assert api.downloads == 0


@pytest.mark.parametrize("case", ["climbs out", "symlink out", "elsewhere", "missing"])
async def test_local_bot_api_path_outside_its_directory_is_refused(
    aiohttp_client: Any,
    engine: AsyncEngine,
    local_mode: Settings,
    tmp_path: Any,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
    case: str,
) -> None:
    api, _ = fake_api
    mounted = Path(local_mode.telegram_api_local_dir)
    secret = tmp_path / "secret.txt"
    api.local_file_path = {
        # enough ../ to reach / from the mounted directory, then down to the secret
        "climbs out": f"{SERVER_DIR}/{'../' * len(mounted.parts)}{str(secret).lstrip('/')}",
        "symlink out": f"{SERVER_DIR}/{TOKEN}/photos/link.jpg",
        "elsewhere": str(secret),
        "missing": f"{SERVER_DIR}/{TOKEN}/photos/gone.jpg",
    }[case]
    client = await aiohttp_client(create_app(local_mode, engine=engine, clock=clock))
    assert await _post(client, photo(92)) == 200
    await until(lambda: _processed(client.app[SESSIONMAKER], 92))
    await until(lambda: _has_sent(api, 2))
    assert "could not be stored" in api.sent[1]["text"]
    assert await _count(client.app[SESSIONMAKER], Attachment) == 0
    assert await client.app[OBJECT_STORE].list("attachments/") == []
    assert await _customer_texts(client.app[SESSIONMAKER]) == [
        "[photo] [not stored: the Bot API server's file could not be read]"
    ]
    assert api.downloads == 0


async def _has_sent(api: FakeBotApi, count: int) -> bool:
    return len(api.sent) >= count


async def _said(api: FakeBotApi, fragment: str) -> bool:
    return any(fragment in sent["text"] for sent in api.sent)


async def _processed(sessionmaker: async_sessionmaker[AsyncSession], update_id: int) -> bool:
    async with sessionmaker() as s:
        row = await s.get(BotUpdate, update_id)
        return row is not None and row.processed_at is not None


async def _webhook_set(api: FakeBotApi) -> bool:
    return api.webhook_set


async def _readyz(client: Any) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    return response.status, await response.json()


def _our_log(caplog: pytest.LogCaptureFixture) -> str:
    """Our log lines (the fake Bot API's own access log shows the token in its paths)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_serves_while_the_bot_api_is_away_and_registers_later(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    port = _free_port()  # nothing listens there yet: the Bot API is unreachable
    base = f"http://127.0.0.1:{port}"
    client = await aiohttp_client(
        create_app(webhook_settings(settings, base), engine=engine, clock=clock)
    )
    assert (await client.get("/healthz")).status == 200  # the admin is up
    status, body = await _readyz(client)
    assert status == 503 and body["bot"] == {"ok": False, "state": "webhook_not_registered"}

    async def failure_logged() -> bool:
        return "telegram setWebhook failed (TelegramNetworkError, attempt 1)" in caplog.text

    await until(failure_logged)
    api = FakeBotApi()
    runner, _ = await serve_fake_api(api, port)  # the Bot API comes back
    try:
        await until(lambda: _webhook_set(api), seconds=15)  # retried with backoff
        [registered] = api.called("setWebhook")
        assert registered["url"] == WEBHOOK_URL and registered["secret_token"] == SECRET
        status, body = await _readyz(client)
        assert status == 200 and body["bot"]["state"] == "connected", body
        assert "telegram webhook registered" in caplog.text
        assert TOKEN not in _our_log(caplog) and SECRET not in _our_log(caplog)
        assert await _post(client, message(95, "Storing verholpen?")) == 200
        await until(lambda: _has_sent(api, 1))
    finally:
        await asyncio.wait_for(runner.cleanup(), 10)


async def test_webhook_refused_by_telegram_is_logged_and_retried_slowly(
    aiohttp_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    fake_api: tuple[FakeBotApi, str],
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, base = fake_api
    api.refuse_webhook = True
    assert webhook.REFUSED_RETRY >= 300  # slowly in production; quick for this test
    monkeypatch.setattr(webhook, "REFUSED_RETRY", 0.2)
    caplog.set_level(logging.INFO)
    client = await aiohttp_client(
        create_app(webhook_settings(settings, base), engine=engine, clock=clock)
    )

    async def refusals(count: int) -> bool:
        return len(api.called("setWebhook")) >= count

    await until(lambda: refusals(2))
    assert (await client.get("/healthz")).status == 200
    status, body = await _readyz(client)
    assert status == 503 and body["bot"]["state"] == "webhook_not_registered"
    line = next(r.getMessage() for r in caplog.records if "refused setWebhook" in r.getMessage())
    assert "bad webhook: Failed to resolve host" in line and "SUPPORTDESK_WEBHOOK_URL" in line
    assert TOKEN not in _our_log(caplog) and SECRET not in _our_log(caplog)

    api.refuse_webhook = False  # e.g. the DNS record was fixed
    await until(lambda: _webhook_set(api))
    status, body = await _readyz(client)
    assert status == 200, body
