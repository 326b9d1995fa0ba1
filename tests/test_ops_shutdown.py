"""SIGTERM to a running `supportdesk serve` (a real subprocess, fake Bot API over HTTP on
127.0.0.1, local object store): the in-flight request completes, the due outbox is sent,
the process exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from storage.clock import SystemClock
from storage.db import create_engine, create_sessionmaker
from storage.models import DeliveryState, StaffRole, StaffUser, Ticket, TicketMessage
from storage.services.tickets import TicketService
from tests.ops_fakes import BOT_TOKEN, running_fake_telegram, wait_until

pytestmark = pytest.mark.storage

SUPPORTDESK = Path(sys.executable).with_name("supportdesk")
PASSWORD = "a long enough password"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
CUSTOMER = 9311


async def _read_port(stream: asyncio.StreamReader, lines: list[str]) -> int:
    while True:
        raw = await asyncio.wait_for(stream.readline(), 60)
        if not raw:
            raise AssertionError("serve exited before listening:\n" + "".join(lines))
        line = raw.decode()
        lines.append(line)
        found = re.search(r"admin listening on http://[^:]+:(\d+)", line)
        if found:
            return int(found.group(1))


async def _collect(stream: asyncio.StreamReader, lines: list[str]) -> None:
    while raw := await stream.readline():
        lines.append(raw.decode())


async def test_sigterm_finishes_in_flight_work_and_exits_zero(
    tmp_path: Path, database_url: str
) -> None:
    async with running_fake_telegram() as (fake, api_base):
        env = {
            **os.environ,
            "SUPPORTDESK_DATA_DIR": str(tmp_path / "var"),
            "SUPPORTDESK_DATABASE_URL": database_url,
            "SUPPORTDESK_TELEGRAM_TOKEN": BOT_TOKEN,
            "SUPPORTDESK_TELEGRAM_API_BASE": api_base,
            "SUPPORTDESK_LOG_FORMAT": "json",
        }
        proc = await asyncio.create_subprocess_exec(
            str(SUPPORTDESK),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        lines: list[str] = []
        engine = create_engine(database_url)
        try:
            assert proc.stderr is not None
            port = await _read_port(proc.stderr, lines)
            collector = asyncio.create_task(_collect(proc.stderr, lines))
            base = f"http://127.0.0.1:{port}"
            await _run_scenario(fake, base, proc, engine)
            assert await asyncio.wait_for(proc.wait(), 60) == 0
            await collector
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await engine.dispose()

    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len(lines), "every log line is JSON"
    messages = [r["msg"] for r in records]
    assert "shutting down" in messages and "telegram bot stopped" in messages
    assert not any(BOT_TOKEN in line for line in lines)
    ready = [r for r in records if r.get("route") == "/readyz"]
    assert [r["status"] for r in ready] == [200] and ready[0]["duration_ms"] >= 1000


async def _run_scenario(fake, base: str, proc, engine) -> None:  # type: ignore[no-untyped-def]
    sessionmaker = create_sessionmaker(engine)
    async with aiohttp.ClientSession() as http:
        await wait_until(lambda: _async("getUpdates" in fake.calls), 30)
        # A customer opens a ticket through polling; the bot confirms it.
        fake.add_text_update(1, CUSTOMER, "Storing op mijn vaste lijn")
        # The ticket is committed before the bot confirms it (bot/answers.py): wait for the row.
        await wait_until(lambda: _ticket_stored(sessionmaker), 30)

        # An agent reply lands in the outbox just before the signal.
        async with sessionmaker() as s:
            ticket = await s.scalar(select(Ticket))
            assert ticket is not None
            agent = StaffUser(
                username="agent",
                password_hash="x",
                role=StaffRole.AGENT,
                created_at=ticket.created_at,
                updated_at=ticket.created_at,
            )
            s.add(agent)
            await s.flush()
            reply = await TicketService(SystemClock()).add_agent_reply(
                s, ticket.id, staff=agent, text="We kijken ernaar"
            )
            await s.commit()
            reply_id = reply.id

        # A slow request in flight: /readyz waits on a Bot API that takes 1 s to answer.
        fake.get_me_delay = 1.0
        fake.get_me_started.clear()

        async def readyz() -> tuple[int, dict]:
            async with http.get(f"{base}/readyz") as response:
                return response.status, await response.json()

        in_flight = asyncio.create_task(readyz())
        await asyncio.wait_for(fake.get_me_started.wait(), 10)
        proc.send_signal(signal.SIGTERM)
        status, body = await asyncio.wait_for(in_flight, 30)
        assert status == 200 and body["bot"]["state"] == "connected"

    assert await asyncio.wait_for(proc.wait(), 60) == 0
    async with sessionmaker() as s:
        row = await s.get(TicketMessage, reply_id)
        assert row is not None and row.delivery_state == DeliveryState.SENT
    assert {"chat_id": str(CUSTOMER), "text": "We kijken ernaar"} in fake.sent


async def _ticket_stored(sessionmaker) -> bool:  # type: ignore[no-untyped-def]
    async with sessionmaker() as s:
        return await s.scalar(select(Ticket.id)) is not None


async def _async(value: bool) -> bool:
    return value
