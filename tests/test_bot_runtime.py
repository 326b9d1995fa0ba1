"""End to end over HTTP: the admin app with a bot token runs polling and the delivery
worker against a local fake Bot API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from admin.app import SESSIONMAKER, TICKETS, create_app
from storage.config import Settings
from storage.models import DeliveryState, StaffRole, StaffUser, Ticket, TicketMessage

pytestmark = pytest.mark.storage

TOKEN = "4242:fake-token"
USER = 8001


class FakeBotApi:
    """Speaks just enough of the Bot API over HTTP: getMe, getUpdates, sendMessage."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.sent: list[dict[str, str]] = []
        self.calls: list[str] = []
        self.next_id = 1

    async def handle(self, request: web.Request) -> web.Response:
        assert request.match_info["token"] == TOKEN
        method = request.match_info["method"]
        self.calls.append(method)
        form = dict(await request.post())
        if method == "getMe":
            result: Any = {"id": 4242, "is_bot": True, "first_name": "Desk", "username": "desk"}
        elif method == "getUpdates":
            offset = int(str(form.get("offset", 0)))
            pending = [u for u in self.updates if u["update_id"] >= offset]
            if not pending:
                await asyncio.sleep(0.05)
            result = pending
        elif method == "sendMessage":
            self.sent.append({k: str(v) for k, v in form.items()})
            self.next_id += 1
            result = {
                "message_id": self.next_id,
                "date": 1772445600,
                "chat": {"id": int(str(form["chat_id"])), "type": "private"},
                "text": str(form["text"]),
            }
        else:
            result = True
        return web.json_response({"ok": True, "result": result})


@pytest.fixture
async def fake_api() -> AsyncIterator[tuple[FakeBotApi, str]]:
    api = FakeBotApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield api, f"http://{host}:{port}"
    await runner.cleanup()


async def _until(predicate: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def test_polling_ticket_answer_and_agent_reply(
    engine: AsyncEngine, settings: Settings, fake_api: tuple[FakeBotApi, str]
) -> None:
    api, base = fake_api
    bot_settings = settings.model_copy(
        update={
            "telegram_token": settings.telegram_token.__class__(TOKEN),
            "telegram_api_base": base,
        }
    )
    app = create_app(bot_settings, engine=engine)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        api.updates.append(
            {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "date": 1772445600,
                    "chat": {"id": USER, "type": "private"},
                    "from": {"id": USER, "is_bot": False, "first_name": "A", "language_code": "en"},
                    "text": "Internet down",
                },
            }
        )
        await _until(lambda: _has_sent(api, 1))
        assert "has been created" in api.sent[0]["text"]
        sessionmaker = app[SESSIONMAKER]
        async with sessionmaker() as s:
            ticket = await s.scalar(select(Ticket))
            assert ticket is not None and ticket.reference in api.sent[0]["text"]
            staff = StaffUser(
                username="agent",
                password_hash="x",
                role=StaffRole.AGENT,
                created_at=ticket.created_at,
                updated_at=ticket.created_at,
            )
            s.add(staff)
            await s.flush()
            reply = await app[TICKETS].add_agent_reply(
                s, ticket.id, staff=staff, text="We are on it"
            )
            await s.commit()
        reply_id = reply.id

        async def reply_sent() -> bool:
            async with sessionmaker() as s:
                row = await s.get(TicketMessage, reply_id)
                return row is not None and row.delivery_state == DeliveryState.SENT

        # The worker records SENT after the HTTP call returns: wait for the stored state.
        await _until(reply_sent)
        assert api.sent[1] == {"chat_id": str(USER), "text": "We are on it"}
    finally:
        await asyncio.wait_for(runner.cleanup(), 10)


async def _has_sent(api: FakeBotApi, count: int) -> bool:
    return len(api.sent) >= count
