"""The desk's flow rules: a home per role, post/redirect/get for what a form creates, the
inbox's work columns, tickets assigned only to staff who may work them, erasure only on an
erasure request."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import CSRF_RE, PASSWORD, World, login
from sqlalchemy import func, select

from admin.auth import ROLE_PERMISSIONS, Permission
from admin.keys import OBJECT_STORE, RECORDINGS
from storage.models import ApiToken, ContactPerson, StaffRole, Ticket
from storage.services import access
from storage.services.audit import Actor
from storage.services.errors import Conflict, InvalidInput
from storage.services.privacy import PrivacyService
from storage.services.privacy_erasure import erase_request
from storage.services.tickets import TICKET_WORKER_ROLES, TicketService

pytestmark = pytest.mark.storage


@pytest.mark.parametrize(
    ("username", "home"),
    [("agent", "/"), ("trainer", "/training"), ("privacy-officer", "/privacy"), ("admin", "/")],
)
async def test_login_and_logo_lead_each_role_home(world: World, username: str, home: str) -> None:
    client = world.client
    client.session.cookie_jar.clear()
    token = CSRF_RE.search(await (await client.get("/login")).text()).group(1)  # type: ignore[union-attr]
    response = await client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.headers["Location"] == home
    page = await client.get(home)
    assert page.status == 200
    assert f'<a class="brand" href="{home}">' in await page.text()


async def test_a_new_token_is_shown_once_and_a_reload_makes_no_second(world: World) -> None:
    client = world.client
    csrf = await login(client, "agent")
    posted = await client.post(
        "/account/tokens", data={"name": "laptop", "csrf_token": csrf}, allow_redirects=False
    )
    assert posted.status == 303 and posted.headers["Location"] == "/account"
    shown = await (await client.get("/account")).text()
    assert re.search(r"<code>sdt_[^<]+</code>", shown)
    again = await (await client.get("/account")).text()  # the reload: a GET, shown no more
    assert "sdt_" not in again
    async with world.sessions() as s:
        count = await s.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.name == "laptop")
        )
    assert count == 1


async def test_inbox_shows_assignee_priority_and_waiting_time(world: World) -> None:
    client = world.client
    world.clock.advance(timedelta(hours=3))  # before logging in: the session stays fresh
    await login(client, "agent")
    html = await (await client.get("/")).text()
    for header in ("Behandelaar", "Prioriteit", "Wacht sinds"):
        assert f"<th>{header}</th>" in html
    assert "3 uur" in html  # the customer's message has waited three hours


async def test_tickets_go_only_to_staff_who_may_work_them(world: World) -> None:
    client = world.client
    csrf = await login(client, "agent")
    page = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    options = re.findall(r'<option value="(\d+)"', page)
    workers = {world.users[StaffRole.AGENT].id, world.users[StaffRole.ADMIN].id}
    assert {int(o) for o in options} == workers
    trainer = world.users[StaffRole.TRAINER]
    refused = await client.post(
        f"/tickets/{world.ticket_id}/assign",
        data={"csrf_token": csrf, "assignee": str(trainer.id)},
    )
    assert refused.status == 422
    assert "kan geen tickets behandelen" in await refused.text()
    async with world.sessions() as s:
        with pytest.raises(InvalidInput):
            await TicketService(world.clock).assign(
                s,
                world.ticket_id,
                actor=Actor.system("test"),
                assignee_id=world.users[StaffRole.PRIVACY_OFFICER].id,
            )


async def test_an_access_request_is_never_erased(world: World) -> None:
    async with world.sessions() as s:
        now = world.clock.now()
        contact = ContactPerson(name="Jan", created_at=now, updated_at=now)
        s.add(contact)
        await s.flush()
        privacy = PrivacyService(world.clock, world.client.app[OBJECT_STORE])
        request = await privacy.create_request(
            s, type="access", contact_id=contact.id, channel="letter", actor=Actor.system()
        )
        await privacy.verify_identity(s, request.id, actor=Actor.system())
        await s.commit()
        request_id, contact_id = request.id, contact.id
    csrf = await login(world.client, "privacy-officer")
    page = await (await world.client.get(f"/privacy/{request_id}")).text()
    assert "/erase" not in page and "/export" in page
    refused = await world.client.post(
        f"/privacy/{request_id}/erase", data={"csrf_token": csrf, "confirm": f"P-{request_id}"}
    )
    assert refused.status == 409 and "vraagt niet om verwijdering" in await refused.text()
    async with world.sessions() as s:
        assert await s.get(ContactPerson, contact_id) is not None
        with pytest.raises(Conflict):
            await erase_request(
                privacy, world.client.app[RECORDINGS], s, request_id, actor=Actor.system()
            )


def test_ticket_workers_are_the_roles_with_ticket_write() -> None:
    writers = {r for r, perms in ROLE_PERMISSIONS.items() if Permission.TICKETS_WRITE in perms}
    assert writers == TICKET_WORKER_ROLES


async def test_the_api_assigns_only_to_staff_who_may_work_tickets(world: World) -> None:
    async with world.sessions() as s:
        _, token = await access.create_api_token(
            s, world.clock, username="agent", name="t", actor=Actor.system()
        )
        await s.commit()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/tickets/{world.ticket_id}/assign"
    for role in (StaffRole.TRAINER, StaffRole.PRIVACY_OFFICER):
        refused = await world.client.post(
            url, json={"assignee_id": world.users[role].id}, headers=headers
        )
        assert refused.status == 422, role
        assert (await refused.json())["error"]["code"] == "invalid_input"
    async with world.sessions() as s:
        ticket = await s.get(Ticket, world.ticket_id)
        assert ticket is not None and ticket.assignee_id is None
    admin = world.users[StaffRole.ADMIN].id
    assigned = await world.client.post(url, json={"assignee_id": admin}, headers=headers)
    assert assigned.status == 200 and (await assigned.json())["assignee_id"] == admin
