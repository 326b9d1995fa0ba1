"""/readyz and /metrics through the real app factory (fake Bot API over HTTP, real DB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import update

from admin.app import create_app
from bot.dispatcher import create_bot
from bot.probe import BotProbe
from storage import migrate
from storage.clock import FrozenClock
from storage.config import Settings
from storage.db import create_engine
from storage.models import OutboxMessage, RetentionRun, StaffRole, StaffUser, TicketChannel
from storage.services.audit import Actor
from storage.services.tickets import TicketService
from tests.ops_fakes import BOT_TOKEN, redis_server, running_fake_telegram

pytestmark = pytest.mark.storage


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_readyz_ready_with_bot_disabled(aiohttp_client, engine, settings) -> None:
    client = await aiohttp_client(create_app(settings, engine=engine))
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
    assert body["status"] == "ready"
    assert body["database"] == {
        "ok": True,
        "dialect": engine.dialect.name,
        "revision": migrate.head_revision(),
    }
    assert body["object_store"]["ok"] is True and body["object_store"]["kind"] == "local"
    assert body["bot"] == {"ok": True, "state": "disabled"}
    assert body["redis"] == {"ok": True, "state": "disabled"}
    assert (await client.get("/healthz")).status == 200


async def test_readyz_checks_redis_when_configured(aiohttp_client, engine, settings) -> None:
    with redis_server() as url:
        up = settings.model_copy(update={"redis_url": url})
        client = await aiohttp_client(create_app(up, engine=engine))
        body = await (await client.get("/readyz")).json()
        assert body["redis"] == {"ok": True, "state": "connected"} and body["status"] == "ready"
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    client = await aiohttp_client(create_app(down, engine=engine))
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503
    assert body["redis"] == {"ok": False, "error": "ConnectionError"}


async def test_readyz_not_ready_while_schema_behind_head(
    aiohttp_client, empty_database_url, settings
) -> None:
    engine = create_engine(empty_database_url)
    behind = migrate.all_revisions()[-2]
    try:
        await migrate.upgrade(engine, behind)
        client = await aiohttp_client(create_app(settings, engine=engine))
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 503
        assert body["status"] == "not_ready"
        assert body["database"]["ok"] is False and body["database"]["revision"] == behind
        # Liveness does not depend on the schema: the process is alive.
        assert (await client.get("/healthz")).status == 200
    finally:
        await engine.dispose()


async def test_readyz_checks_bot_api_and_caches_get_me(aiohttp_client, engine, settings) -> None:
    async with running_fake_telegram() as (fake, base):
        bot_settings = settings.model_copy(
            update={"telegram_token": SecretStr(BOT_TOKEN), "telegram_api_base": base}
        )
        client = await aiohttp_client(create_app(bot_settings, engine=engine))
        first = await (await client.get("/readyz")).json()
        assert first["bot"] == {
            "ok": True,
            "state": "connected",
            "id": 777001,
            "username": "desk_bot",
        }
        calls = fake.calls.count("getMe")
        second = await (await client.get("/readyz")).json()
        assert second["bot"]["cached"] is True and second["status"] == "ready"
        assert fake.calls.count("getMe") == calls


async def test_bot_probe_reports_unreachable_without_leaking_the_error(tmp_path) -> None:
    async with running_fake_telegram() as (_, base):
        wrong = Settings(
            data_dir=tmp_path, telegram_token=SecretStr("1:wrong-token"), telegram_api_base=base
        )
        bot = create_bot(wrong)
        try:
            probe = BotProbe(bot)
            assert await probe.check() == {
                "ok": False,
                "state": "unreachable",
                "error": "TelegramUnauthorizedError",
            }
            # A failure is cached too, briefly: probes do not hammer a failing API.
            assert (await probe.check())["cached"] is True
        finally:
            await bot.session.close()


async def test_metrics_counts_from_database_and_route_latency(
    aiohttp_client, engine, settings, session_factory
) -> None:
    clock = FrozenClock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    tickets = TicketService(clock)
    async with session_factory() as session:
        agent = StaffUser(
            username="agent",
            password_hash="x",
            role=StaffRole.AGENT,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(agent)
        first, _ = await tickets.open_ticket(
            session, actor=Actor.system("test"), channel=TicketChannel.TELEGRAM, text="a"
        )
        second, _ = await tickets.open_ticket(
            session, actor=Actor.system("test"), channel=TicketChannel.TELEGRAM, text="b"
        )
        await tickets.add_customer_message(session, first.id, text="more")
        await session.flush()
        await tickets.add_agent_reply(session, first.id, staff=agent, text="on it")
        await tickets.close(session, second.id, actor=Actor.system("test"))
        await session.commit()
        first_id = first.id

    client = await aiohttp_client(create_app(settings, clock=clock, engine=engine))
    await client.get(f"/tickets/{first_id}", allow_redirects=False)
    await client.get("/no/such/page/12345")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    samples = _samples(text)
    assert samples[("supportdesk_tickets_opened_total", ())] == 2
    assert samples[("supportdesk_tickets_closed_total", ())] == 1
    assert samples[("supportdesk_messages_total", (("direction", "in"),))] == 3
    assert samples[("supportdesk_messages_total", (("direction", "out"),))] == 1
    assert samples[("supportdesk_replies_pending", ())] == 1
    assert samples[("supportdesk_delivery_failures_total", (("state", "failed"),))] == 0
    assert samples[("supportdesk_recordings_ingested_total", ())] == 0
    assert samples[("supportdesk_tickets", (("status", "closed"),))] == 1
    assert samples[("supportdesk_sweep_duration_seconds_count", ())] == 0
    # Latency is labelled with the route template; raw paths (ids) never become labels.
    login_redirect = (
        "supportdesk_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/tickets/{id}"), ("status", "302")),
    )
    assert samples[login_redirect] == 1
    unmatched = (
        "supportdesk_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "unmatched"), ("status", "404")),
    )
    assert samples[unmatched] == 1
    routes = {dict(labels).get("route") for _, labels in samples} - {None}
    assert routes == {"/tickets/{id}", "unmatched"}

    # The reply's outbox row: failed attempts counted as they happen, and late after a minute.
    assert samples[("supportdesk_delivery_failed_attempts_total", ())] == 0
    assert samples[("supportdesk_outbox_waiting_over_minute", ())] == 0
    async with session_factory() as session:
        await session.execute(update(OutboxMessage).values(failed_attempts=3))
        await session.commit()
    clock.advance(timedelta(minutes=2))
    samples = _samples(await (await client.get("/metrics")).text())
    assert samples[("supportdesk_delivery_failed_attempts_total", ())] == 3
    assert samples[("supportdesk_outbox_waiting_over_minute", ())] == 1


async def test_metrics_token_required_when_configured(aiohttp_client, engine, settings) -> None:
    guarded = settings.model_copy(update={"metrics_token": SecretStr("scrape-token-0123456789")})
    client = await aiohttp_client(create_app(guarded, engine=engine))
    missing = await client.get("/metrics")
    assert missing.status == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    odd = await client.get("/metrics", headers={"Authorization": "Bearer caf\u00e9"})
    assert odd.status == 401  # not a 500 on a non-ASCII token
    right = await client.get(
        "/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"}
    )
    assert right.status == 200 and "supportdesk_tickets_opened_total" in await right.text()


async def test_sweep_runs_and_durations_come_from_the_run_history(
    aiohttp_client, engine, settings, session_factory
) -> None:
    start = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    runs = [  # (seconds, status, dry run)
        (12, "done", False),
        (30, "done", False),
        (5, "failed", False),
        (None, "running", False),
        (99, "done", True),
    ]
    async with session_factory() as session:
        for n, (seconds, status, dry_run) in enumerate(runs):
            began = start + timedelta(hours=n)
            session.add(
                RetentionRun(
                    started_at=began,
                    finished_at=None if seconds is None else began + timedelta(seconds=seconds),
                    as_of=began,
                    dry_run=dry_run,
                    trigger="test",
                    status=status,
                    summary={},
                )
            )
        await session.commit()
    # Two instances on one database report the same history.
    for app in (create_app(settings, engine=engine), create_app(settings, engine=engine)):
        client = await aiohttp_client(app)
        samples = _samples(await (await client.get("/metrics")).text())
        assert samples[("supportdesk_sweep_runs_total", (("status", "done"),))] == 2
        assert samples[("supportdesk_sweep_runs_total", (("status", "failed"),))] == 1
        assert samples[("supportdesk_sweep_runs_total", (("status", "running"),))] == 1
        assert samples[("supportdesk_sweep_duration_seconds_count", ())] == 3
        assert samples[("supportdesk_sweep_duration_seconds_sum", ())] == 47
        last_done = start + timedelta(hours=1, seconds=30)
        assert samples[("supportdesk_sweep_last_success_timestamp_seconds", ())] == (
            last_done.timestamp()
        )
