"""Admin display: times in SUPPORTDESK_TIMEZONE, delivery states in words, customer edits."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World, login
from sqlalchemy import select

from admin.api import OPENAPI
from admin.display import local_time
from storage.models import (
    DeliveryState,
    MessageDirection,
    MessageEdit,
    StaffRole,
    StaffUser,
    TicketMessage,
)
from storage.services import access
from storage.services.audit import Actor
from storage.services.tickets import TicketService

pytestmark = pytest.mark.storage

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NL = {"Accept-Language": "nl"}
EN = {"Accept-Language": "en"}


def test_local_filter_converts_winter_and_summer_time() -> None:
    local = local_time(AMSTERDAM)
    assert local(datetime(2026, 1, 15, 23, 30, tzinfo=UTC)) == "2026-01-16 00:30"  # +1
    assert local(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "%H:%M") == "14:00"  # +2
    assert local(datetime(2026, 7, 1, 12, 0)) == "2026-07-01 14:00"  # naive means UTC
    assert local(date(2026, 7, 1), "%Y-%m-%d") == "2026-07-01" and local(None) == ""


async def test_ticket_page_and_inbox_show_amsterdam_time(world: World) -> None:
    # The ticket was opened at 09:00 UTC in November (10:00 in Amsterdam); a note in July
    # (12:00 UTC) reads 14:00.
    world.clock.set(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    async with world.sessions() as session:
        agent = await session.get(StaffUser, world.users[StaffRole.AGENT].id)
        await TicketService(world.clock).add_internal_note(
            session, world.ticket_id, staff=agent, text="summer"
        )
        await session.commit()
    await login(world.client, "agent")
    page = await (await world.client.get(f"/tickets/{world.ticket_id}")).text()
    assert ">2026-11-27 10:00</time>" in page and ">2026-07-01 14:00</time>" in page
    assert ">2026-11-27 09:00<" not in page and ">2026-07-01 12:00<" not in page
    inbox = await (await world.client.get("/?status=")).text()
    assert ">2026-07-01 14:00</time>" in inbox


async def _reply(world: World, text: str, state: DeliveryState, error: str | None) -> None:
    async with world.sessions() as session:
        agent = await session.get(StaffUser, world.users[StaffRole.AGENT].id)
        reply = await TicketService(world.clock).add_agent_reply(
            session, world.ticket_id, staff=agent, text=text
        )
        # What the delivery worker stores after Telegram's answer (the Telegram edge).
        reply.delivery_state, reply.delivery_error = state, error
        await session.commit()


async def test_delivery_state_and_reason_in_words(world: World) -> None:
    await _reply(
        world, "one", DeliveryState.UNDELIVERABLE, "Forbidden: bot was blocked by the user"
    )
    await _reply(world, "two", DeliveryState.FAILED, "Bad Gateway <b>proxy</b>")
    await _reply(world, "three", DeliveryState.SENT, None)
    await login(world.client, "agent")
    url = f"/tickets/{world.ticket_id}"
    nl = html.unescape(await (await world.client.get(url, headers=NL)).text())
    assert "Aflevering: niet afgeleverd (de klant heeft de bot geblokkeerd)" in nl
    assert "Aflevering: mislukt: geen nieuwe pogingen meer (Bad Gateway <b>proxy</b>)" in nl
    assert "Aflevering: verstuurd<" in nl
    assert "undeliverable<" not in nl and "bot was blocked" not in nl
    en_raw = await (await world.client.get(url, headers=EN)).text()
    assert "<b>proxy</b>" not in en_raw  # the stored error text is escaped
    en = html.unescape(en_raw)
    assert "Delivery: not delivered (the customer has blocked the bot)" in en
    assert "Delivery: failed: no more attempts (Bad Gateway <b>proxy</b>)" in en
    assert "Delivery: sent<" in en


async def _edit_first_message(world: World) -> tuple[int, list[datetime]]:
    """Two customer edits of the opening message, as the bot stores them."""
    times = [datetime(2026, 11, 27, 9, 5, tzinfo=UTC), datetime(2027, 7, 2, 8, 0, tzinfo=UTC)]
    async with world.sessions() as session:
        message = await session.scalar(
            select(TicketMessage).where(
                TicketMessage.ticket_id == world.ticket_id,
                TicketMessage.direction == MessageDirection.IN,
            )
        )
        assert message is not None
        for at, new in zip(times, ["second <i>try</i>", "third"], strict=True):
            session.add(
                MessageEdit(
                    message_id=message.id, previous_text=message.text, new_text=new, edited_at=at
                )
            )
            message.text, message.edited_at = new, at
        await session.commit()
        return message.id, times


async def test_ticket_page_shows_customer_edits(world: World) -> None:
    message_id, _ = await _edit_first_message(world)
    await login(world.client, "agent")
    url = f"/tickets/{world.ticket_id}"
    raw = await (await world.client.get(url, headers=NL)).text()
    start = raw.index(f'id="m{message_id}"')
    item = raw[start : raw.index("</details>", start)]
    assert "bewerkt <time" in item and ">2027-07-02 10:00</time>" in item
    versions = item[item.index("<details") :]
    assert "Eerdere versies" in versions
    # Oldest first, in Amsterdam time, escaped.
    first, second = versions.index("My internet is down"), versions.index("second &lt;i&gt;try")
    assert first < second and ">2026-11-27 10:05</time>" in versions
    assert "<script>" not in raw and "<i>try" not in raw
    en = await (await world.client.get(url, headers=EN)).text()
    assert "edited <time" in en and "Earlier versions" in en


async def test_unedited_message_has_no_edit_mark(world: World) -> None:
    await login(world.client, "agent")
    page = await (await world.client.get(f"/tickets/{world.ticket_id}", headers=NL)).text()
    assert "bewerkt" not in page and '<details class="edits"' not in page


async def test_api_thread_lists_edits(world: World) -> None:
    message_id, times = await _edit_first_message(world)
    async with world.sessions() as session:
        _, token = await access.create_api_token(
            session,
            world.clock,
            username=world.users[StaffRole.AGENT].username,
            name="test",
            actor=Actor.system(),
        )
        await session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    await _reply(world, "unedited", DeliveryState.SENT, None)
    thread = await (
        await world.client.get(f"/api/v1/tickets/{world.ticket_id}", headers=headers)
    ).json()
    edited = next(m for m in thread["messages"] if m["id"] == message_id)
    assert edited["text"] == "third"
    assert datetime.fromisoformat(edited["edited_at"]) == times[1]
    assert [e["previous_text"] for e in edited["edits"]] == [
        "My internet is down <script>alert(1)</script>",
        "second <i>try</i>",
    ]
    assert [datetime.fromisoformat(e["edited_at"]) for e in edited["edits"]] == times
    other = next(m for m in thread["messages"] if m["text"] == "unedited")
    assert other["edited_at"] is None and other["edits"] == []
    thread_doc = OPENAPI["paths"]["/tickets/{id}"]["get"]["responses"]["200"]
    schema = thread_doc["content"]["application/json"]["schema"]
    message_doc = schema["properties"]["messages"]["items"]["properties"]
    assert {"edited_at", "edits"} <= set(message_doc)
    assert set(message_doc["edits"]["items"]["properties"]) == {"previous_text", "edited_at"}
