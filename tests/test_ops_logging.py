"""Log hygiene: a full scenario (bot over a fake Bot API, staff login, web reply, API with a
bearer token, contact form) logged as JSON; the log has one line per request and per
update, and never the message texts, phone numbers, tokens or the password."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime

import pytest
from admin_fixtures import stored_hash
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import select

from admin.app import SESSIONMAKER, create_app
from storage.clock import SystemClock
from storage.config import Settings
from storage.logs import configure_logging
from storage.models import DeliveryState, StaffRole, StaffUser, Ticket, TicketMessage
from storage.services.access import create_api_token
from storage.services.audit import Actor
from tests.ops_fakes import BOT_TOKEN, running_fake_telegram, wait_until

pytestmark = pytest.mark.storage

PASSWORD = "paarden-batterij-nietje-42"
CUSTOMER = 7345
PHONE = "+31612345678"
CUSTOMER_TEXT = "Mijn nummer is 06-12345678, de centrale piept (geheim-klant-Q7)"
WEB_REPLY = "We bellen u terug (geheim-web-R8)"
API_REPLY = "Monteur komt morgen (geheim-api-S9)"
FORM_MESSAGE = "Graag teruggebeld (geheim-formulier-T1)"
FORM_PHONE = "+31 20 555 0199"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _contact_update(update_id: int) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1772445600,
            "chat": {"id": CUSTOMER, "type": "private"},
            "from": {"id": CUSTOMER, "is_bot": False, "first_name": "Klant"},
            "contact": {"phone_number": PHONE, "first_name": "Klant", "user_id": CUSTOMER},
        },
    }


async def test_full_scenario_log_has_ids_but_no_content_or_secrets(
    engine, settings, tmp_path
) -> None:
    stream = io.StringIO()
    async with running_fake_telegram() as (fake, base):
        bot_settings = settings.model_copy(
            update={
                "telegram_token": SecretStr(BOT_TOKEN),
                "telegram_api_base": base,
                "log_format": "json",
                "log_level": "DEBUG",
            }
        )
        root_level = logging.getLogger().level
        handler = configure_logging(bot_settings, stream)
        app = create_app(bot_settings, engine=engine)
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            token = await _scenario(client, app, fake)
        finally:
            await client.close()
            logging.getLogger().removeHandler(handler)
            logging.getLogger().setLevel(root_level)

    log = stream.getvalue()
    lines = log.splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for secret in (
        CUSTOMER_TEXT,
        "geheim",
        PHONE,
        "612345678",
        "12345678",
        "555 0199",
        WEB_REPLY,
        API_REPLY,
        FORM_MESSAGE,
        BOT_TOKEN,
        BOT_TOKEN.split(":")[1],
        token,
        PASSWORD,
    ):
        leaks = [line[:200] for line in lines if secret in line]
        assert not leaks, f"log leaks {secret!r}: {leaks}"

    requests = [r for r in records if r.get("event") == "http_request"]
    seen = {(r["method"], r["route"], r["status"]) for r in requests}
    assert ("POST", "/login", 303) in seen
    assert ("POST", "/tickets/{id}/reply", 303) in seen
    assert ("POST", "/api/v1/tickets/{id}/replies", 201) in seen
    assert ("POST", "/contact", 303) in seen  # then GET /contact/sent
    for r in requests:
        assert set(r) >= {"request_id", "duration_ms", "staff_user_id"}
    api_call = next(r for r in requests if r["route"] == "/api/v1/tickets/{id}/replies")
    assert isinstance(api_call["staff_user_id"], int)
    updates = [r for r in records if r.get("event") == "bot_update"]
    assert {(u["update_id"], u["update_type"], u["user_id"]) for u in updates} >= {
        (1, "message", CUSTOMER),
        (2, "message", CUSTOMER),
    }


async def _scenario(client: TestClient, app: web.Application, fake) -> str:  # type: ignore[no-untyped-def]
    sessionmaker = app[SESSIONMAKER]
    # The customer writes (with a phone number in the text) and shares their contact card.
    fake.add_text_update(1, CUSTOMER, CUSTOMER_TEXT)
    fake.updates.append(_contact_update(2))
    await wait_until(lambda: _handled(sessionmaker, 2))
    now = datetime.now(UTC)
    async with sessionmaker() as s:
        s.add(
            StaffUser(
                username="agent",
                password_hash=stored_hash(PASSWORD),
                role=StaffRole.AGENT,
                created_at=now,
                updated_at=now,
            )
        )
        await s.flush()
        _, token = await create_api_token(
            s, SystemClock(), username="agent", name="script", actor=Actor.system("test")
        )
        await s.commit()
        ticket = await s.scalar(select(Ticket))
        assert ticket is not None
        ticket_id = ticket.id

    page = await client.get("/login")
    csrf = CSRF_RE.search(await page.text()).group(1)  # type: ignore[union-attr]
    login = await client.post(
        "/login",
        data={"username": "agent", "password": PASSWORD, "csrf_token": csrf},
        allow_redirects=False,
    )
    assert login.status == 303
    ticket_page = await client.get(f"/tickets/{ticket_id}")
    csrf = CSRF_RE.search(await ticket_page.text()).group(1)  # type: ignore[union-attr]
    reply = await client.post(
        f"/tickets/{ticket_id}/reply",
        data={"text": WEB_REPLY, "csrf_token": csrf},
        allow_redirects=False,
    )
    assert reply.status == 303
    api = await client.post(
        f"/api/v1/tickets/{ticket_id}/replies",
        json={"text": API_REPLY},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status == 201, await api.text()

    client.session.cookie_jar.clear()
    form_page = await client.get("/contact")
    csrf = CSRF_RE.search(await form_page.text()).group(1)  # type: ignore[union-attr]
    form = await client.post(
        "/contact",
        data={
            "csrf_token": csrf,
            "name": "Jan Jansen",
            "email": "jan@example.nl",
            "phone": FORM_PHONE,
            "message": FORM_MESSAGE,
        },
    )
    assert form.status == 200, await form.text()

    async def delivered() -> bool:
        async with sessionmaker() as s:
            states = await s.scalars(
                select(TicketMessage.delivery_state).where(
                    TicketMessage.text.in_([WEB_REPLY, API_REPLY])
                )
            )
            return list(states) == [DeliveryState.SENT] * 2

    await wait_until(delivered)
    assert {WEB_REPLY, API_REPLY} <= {sent["text"] for sent in fake.sent}
    return token


async def _handled(sessionmaker, update_id: int) -> bool:  # type: ignore[no-untyped-def]
    async with sessionmaker() as s:
        texts = list(await s.scalars(select(TicketMessage.text)))
    return len(texts) >= update_id


def test_configured_secrets_are_masked_even_in_tracebacks(tmp_path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        telegram_token=SecretStr(BOT_TOKEN),
        metrics_token=SecretStr("short"),
        log_format="json",
    )
    stream = io.StringIO()
    root_level = logging.getLogger().level
    handler = configure_logging(settings, stream)
    try:
        try:
            raise RuntimeError(f"cannot reach /bot{BOT_TOKEN}/getMe")
        except RuntimeError:
            logging.getLogger("test").exception("call to %s failed", f"/bot{BOT_TOKEN}/getMe")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(root_level)
    [line] = stream.getvalue().splitlines()
    assert BOT_TOKEN not in line and BOT_TOKEN.split(":")[1] not in line
    record = json.loads(line)
    assert record["msg"] == "call to /bot[redacted]/getMe failed"
    assert "RuntimeError: cannot reach /bot[redacted]/getMe" in record["exc"]
