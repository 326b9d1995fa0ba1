"""Customers: organisations and contact persons (pages + API), search, service ended,
contact page with tickets and Telegram state, one-time link codes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World, login
from desk_fixtures import seed_customer
from sqlalchemy import func, select
from unfiled_helpers import WAITING_TEXT, two_tickets_and_a_waiting_message

from admin.auth import ROLE_PERMISSIONS, Permission
from bot.texts import FiledNoticeText, create_i18n
from storage.models import (
    AuditEvent,
    ContactPerson,
    LinkCode,
    Organisation,
    StaffRole,
)
from storage.services import access
from storage.services.audit import Actor
from storage.services.tickets import TicketService
from storage.services.unfiled import file_waiting

pytestmark = pytest.mark.storage

ALLOWED = {r for r, p in ROLE_PERMISSIONS.items() if Permission.CUSTOMERS_MANAGE in p}


async def _seed(world: World) -> tuple[int, int]:
    async with world.sessions() as session:
        ids = await seed_customer(session, world.clock, ticket_id=world.ticket_id)
        await session.commit()
    return ids


async def _bearer(world: World, role: StaffRole) -> dict[str, str]:
    async with world.sessions() as session:
        _, token = await access.create_api_token(
            session,
            world.clock,
            username=world.users[role].username,
            name="t",
            actor=Actor.system(),
        )
        await session.commit()
    return {"Authorization": f"Bearer {token}"}


async def test_customer_routes_permissions_and_csrf(world: World) -> None:
    """Anonymous → /login or 401, wrong role → 403, right role → 200/201/303, no CSRF → 403."""
    org_id, contact_id = await _seed(world)
    client = world.client
    pages = [
        ("GET", "/organisations", None),
        ("GET", f"/organisations/{org_id}", None),
        ("GET", "/contacts", None),
        ("GET", f"/contacts/{contact_id}", None),
        ("POST", "/organisations", {"name": "N {r}", "customer_number": "N-{r}"}),
        ("POST", f"/organisations/{org_id}/edit", {"name": "Acme {r}"}),
        ("POST", f"/organisations/{org_id}/service", {"service_status": "active"}),
        ("POST", "/contacts", {"name": "P {r}"}),
        ("POST", f"/contacts/{contact_id}/edit", {"phone": "020 555 0000"}),
        ("POST", f"/contacts/{contact_id}/link-code", {}),
    ]
    api = [
        ("GET", "/api/v1/organisations", None),
        ("GET", f"/api/v1/organisations/{org_id}", None),
        ("GET", "/api/v1/contacts", None),
        ("GET", f"/api/v1/contacts/{contact_id}", None),
        ("POST", "/api/v1/organisations", {"name": "A {r}", "customer_number": "A-{r}"}),
        ("PATCH", f"/api/v1/organisations/{org_id}", {"name": "Acme api {r}"}),
        ("POST", "/api/v1/contacts", {"name": "Q {r}", "organisation_id": org_id}),
        ("PATCH", f"/api/v1/contacts/{contact_id}", {"language": "en"}),
    ]
    client.session.cookie_jar.clear()
    for method, url, _ in pages:
        response = await client.request(method, url, allow_redirects=False)
        assert response.status == 302 and response.headers["Location"].startswith("/login")
    for method, url, _ in api:
        assert (await client.request(method, url)).status == 401
    for role, user in world.users.items():
        csrf = await login(client, user.username)
        headers = await _bearer(world, role)
        tag = role.value.replace("_", "")
        for method, url, body in pages:
            data = {k: str(v).format(r=tag) for k, v in (body or {}).items()}
            if method == "POST":
                refused = await client.post(url, data=data, allow_redirects=False)
                assert refused.status == 403, ("no csrf", url)
                data["csrf_token"] = csrf
            response = await client.request(method, url, data=data, allow_redirects=False)
            expected = {200, 303} if role in ALLOWED else {403}
            assert response.status in expected, (role, method, url, await response.text())
        for method, url, body in api:
            payload = None
            if body is not None:
                payload = {k: v.format(r=tag) if isinstance(v, str) else v for k, v in body.items()}
            response = await client.request(method, url, json=payload, headers=headers)
            expected = {200, 201} if role in ALLOWED else {403}
            assert response.status in expected, (role, method, url, await response.text())


async def test_organisation_pages_search_and_service_ended(world: World) -> None:
    org_id, _ = await _seed(world)
    client = world.client
    csrf = await login(client, "agent")
    response = await client.post(
        "/organisations",
        data={"name": "Bakkerij Bol", "customer_number": "c-2002", "csrf_token": csrf},
        allow_redirects=False,
    )
    assert response.status == 303
    new_url = response.headers["Location"]
    html = await (await client.get(new_url)).text()
    assert "Bakkerij Bol" in html and "C-2002" in html
    # duplicate customer number: clear message, nothing written
    response = await client.post(
        "/organisations",
        data={"name": "Copy", "customer_number": "C-2002", "csrf_token": csrf},
    )
    assert (
        response.status == 409 and "klantnummer: C-2002 is al in gebruik" in await response.text()
    )
    listing = await (await client.get("/organisations?q=bakker")).text()
    assert "Bakkerij Bol" in listing and "Acme BV" not in listing
    assert "Acme BV" in await (await client.get("/organisations?q=C-1001")).text()
    # service ended needs an end date
    response = await client.post(
        f"/organisations/{org_id}/service",
        data={"service_status": "ended", "service_end_date": "", "csrf_token": csrf},
    )
    text = await response.text()
    assert response.status == 422 and "einddatum dienstverlening: verplicht als" in text
    response = await client.post(
        f"/organisations/{org_id}/service",
        data={"service_status": "ended", "service_end_date": "2026-12-31", "csrf_token": csrf},
    )
    assert response.status == 200  # followed the redirect
    html = await response.text()
    assert "2026-12-31" in html
    async with world.sessions() as session:
        org = await session.get(Organisation, org_id)
        assert org is not None and org.service_status.value == "ended"
        assert org.service_end_date is not None and org.service_end_date.isoformat() == "2026-12-31"
        event = await session.scalar(
            select(AuditEvent)
            .where(AuditEvent.action == "organisation.updated")
            .order_by(AuditEvent.id.desc())
        )
        assert event is not None and event.details["service_status"] == "ended"
        assert event.details["service_end_date"] == "2026-12-31"
        assert await session.scalar(select(func.count()).select_from(Organisation)) == 2


async def test_contact_page_tickets_telegram_and_link_code(world: World) -> None:
    org_id, contact_id = await _seed(world)
    client = world.client
    csrf = await login(client, "agent")
    html = await (await client.get(f"/contacts/{contact_id}")).text()
    assert f"/tickets/{world.ticket_id}" in html
    assert "Niet gekoppeld" in html and f"/organisations/{org_id}" in html
    listing = await (await client.get("/contacts?q=vries")).text()
    assert f'<a href="/organisations/{org_id}">Acme BV</a>' in listing
    ticket_page = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    assert f'<a href="/contacts/{contact_id}">Jan de Vries</a>' in ticket_page
    org_page = await (await client.get(f"/organisations/{org_id}")).text()
    assert f'href="/?organisation={org_id}"' in org_page and f"/contacts/{contact_id}" in org_page
    response = await client.post(
        f"/contacts/{contact_id}/edit",
        data={"name": "Jan", "email": "not-an-address", "csrf_token": csrf},
    )
    assert response.status == 422 and "e-mail: geen geldig e-mailadres" in await response.text()
    response = await client.post(f"/contacts/{contact_id}/link-code", data={"csrf_token": csrf})
    assert response.status == 200
    html = await response.text()
    code = re.search(r'<code class="link-code">([^<]+)</code>', html)
    assert code, html
    # shown once: a reload does not show it again; only the hash is stored
    assert code.group(1) not in await (await client.get(f"/contacts/{contact_id}")).text()
    async with world.sessions() as session:
        stored = await session.scalar(select(LinkCode).where(LinkCode.contact_id == contact_id))
        assert stored is not None and code.group(1) not in stored.code_hash
        contact = await session.get(ContactPerson, contact_id)
        assert contact is not None
        contact.telegram_user_id = 777
        await session.commit()
    linked_page = await (await client.get(f"/contacts/{contact_id}")).text()
    assert "Gekoppeld" in linked_page and 'name="relink"' in linked_page
    # Linked: a plain code would hand the contact to whoever redeems it.
    refused = await client.post(f"/contacts/{contact_id}/link-code", data={"csrf_token": csrf})
    assert (
        refused.status == 409 and "is al gekoppeld aan een Telegram-account" in await refused.text()
    )
    moved = await client.post(
        f"/contacts/{contact_id}/link-code", data={"csrf_token": csrf, "relink": "1"}
    )
    assert moved.status == 200 and '<code class="link-code">' in await moved.text()


async def test_link_code_page_shows_deep_link(world: World, settings, engine, aiohttp_client):
    from admin.app import create_app

    await _seed(world)
    app = create_app(
        settings.model_copy(update={"telegram_bot_username": "acme_support_bot"}),
        clock=world.clock,
        engine=engine,
    )
    client = await aiohttp_client(app)
    csrf = await login(client, "agent")
    html = await (await client.post("/contacts/1/link-code", data={"csrf_token": csrf})).text()
    code = re.search(r'<code class="link-code">([^<]+)</code>', html)
    assert code and f"https://t.me/acme_support_bot?start={code.group(1)}" in html


async def test_api_crud_and_errors(world: World) -> None:
    org_id, _ = await _seed(world)
    headers = await _bearer(world, StaffRole.AGENT)
    client = world.client
    created = await client.post(
        "/api/v1/organisations",
        json={"name": "Garage Smit", "customer_number": "C-3003"},
        headers=headers,
    )
    assert created.status == 201
    body = await created.json()
    assert body["service_status"] == "active" and body["customer_number"] == "C-3003"
    bad = await client.post("/api/v1/organisations", json={"name": ""}, headers=headers)
    assert bad.status == 422
    assert (await bad.json())["error"] == {"code": "invalid_input", "message": "name: required"}
    ended = await client.patch(
        f"/api/v1/organisations/{body['id']}",
        json={"service_status": "ended", "service_end_date": "2027-01-31"},
        headers=headers,
    )
    assert (await ended.json())["service_end_date"] == "2027-01-31"
    contact = await client.post(
        "/api/v1/contacts",
        json={"name": "Piet", "email": "Piet@Garage.example", "organisation_id": body["id"]},
        headers=headers,
    )
    assert contact.status == 201
    made = await contact.json()
    assert made["email"] == "piet@garage.example" and made["telegram_linked"] is False
    missing_org = await client.post(
        "/api/v1/contacts", json={"name": "X", "organisation_id": 999}, headers=headers
    )
    assert missing_org.status == 404
    found = await (await client.get("/api/v1/contacts?q=garage", headers=headers)).json()
    assert [c["name"] for c in found["items"]] == ["Piet"] and found["next_cursor"] is None
    orgs = await (await client.get("/api/v1/organisations?q=acme", headers=headers)).json()
    assert [o["id"] for o in orgs["items"]] == [org_id]
    assert (await client.get("/api/v1/contacts/999", headers=headers)).status == 404
    async with world.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(ContactPerson))
    assert count == 2  # the seeded one and Piet; the refused ones left nothing behind


async def test_contact_page_lists_messages_waiting_for_a_ticket_choice(world: World) -> None:
    """Agents see what the customer sent while the bot waits for their ticket choice."""
    async with world.sessions() as session:
        waiting = await two_tickets_and_a_waiting_message(session, world.clock, world.clock.now())
    client = world.client
    await login(client, "agent")
    html = await (await client.get(f"/contacts/{waiting.contact_id}")).text()
    assert "Berichten die op een ticketkeuze wachten" in html
    listed = re.search(r'<ul class="contact-unfiled">(.*?)</ul>', html, re.S)
    assert listed is not None
    assert WAITING_TEXT in listed.group(1)
    assert "2026-11-27 10:02" in listed.group(1)  # 09:02 UTC, shown in Europe/Amsterdam
    assert "15 minuten" in html  # SUPPORTDESK_UNFILED_AFTER's default

    world.clock.advance(timedelta(minutes=16))
    async with world.sessions() as session:
        notice = FiledNoticeText(create_i18n())
        cutoff = world.clock.now() - timedelta(minutes=15)
        assert await file_waiting(session, TicketService(world.clock), notice, cutoff=cutoff) == 1
        await session.commit()
    html = await (await client.get(f"/contacts/{waiting.contact_id}")).text()
    assert "contact-unfiled" not in html
    # On the ticket: the message, and the desk's own note saying why it is there.
    thread = await (await client.get(f"/tickets/{waiting.recent_ticket}")).text()
    assert WAITING_TEXT in thread
    assert re.search(r"<strong>Supportdesk</strong>.*?Automatisch toegevoegd", thread, re.S)


async def test_inbox_flags_customers_whose_messages_wait_for_a_ticket_choice(
    world: World,
) -> None:
    """Such messages are on no ticket yet, so no inbox row shows them: the inbox names the
    customer, how many wait and since when, with a link to the customer's page."""
    client = world.client
    await login(client, "agent")
    html = await (await client.get("/")).text()
    assert "unfiled-waiting" not in html
    async with world.sessions() as session:
        waiting = await two_tickets_and_a_waiting_message(session, world.clock, world.clock.now())
    html = await (await client.get("/")).text()
    section = re.search(r'<section class="unfiled-waiting notice">(.*?)</section>', html, re.S)
    assert section is not None
    flagged = section.group(1)
    assert "Berichten die op de ticketkeuze van de klant wachten" in flagged
    assert f'<a href="/contacts/{waiting.contact_id}">Klaas Vaak</a>' in flagged
    assert "1 bericht wacht" in flagged and "2026-11-27 10:02" in flagged
    assert "15 minuten" in flagged  # SUPPORTDESK_UNFILED_AFTER's default

    world.clock.advance(timedelta(minutes=16))
    async with world.sessions() as session:
        notice = FiledNoticeText(create_i18n())
        cutoff = world.clock.now() - timedelta(minutes=15)
        assert await file_waiting(session, TicketService(world.clock), notice, cutoff=cutoff) == 1
        await session.commit()
    assert "unfiled-waiting" not in await (await client.get("/")).text()
