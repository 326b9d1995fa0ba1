"""Saved replies: placeholders checked when saved and filled in per ticket, shared replies
changed by administrators only and personal ones by their owner, the ticket page's picker
(JSON for the script, a prefilled reply box without it)."""

from __future__ import annotations

import html
import re

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import PASSWORD_HASH, World, login
from sqlalchemy import func, select

from storage.models import (
    ContactPerson,
    SavedReply,
    StaffRole,
    StaffUser,
    TicketChannel,
)
from storage.services import saved_replies
from storage.services.audit import Actor
from storage.services.contact_form import ContactFormService
from storage.services.errors import Forbidden, InvalidInput, NotFound
from storage.services.tickets import TicketService

pytestmark = pytest.mark.storage

BODY = "Beste {customer_name},\n\nUw ticket {ticket_reference} is opgelost.\n\n{agent_name}"


async def _count(world: World) -> int:
    async with world.sessions() as s:
        return await s.scalar(select(func.count()).select_from(SavedReply)) or 0


async def _reply(world: World, owner: StaffUser | None, title: str, body: str = BODY) -> int:
    async with world.sessions() as s:
        now = world.clock.now()
        reply = SavedReply(
            title=title,
            body=body,
            owner_id=owner.id if owner else None,
            created_at=now,
            updated_at=now,
        )
        s.add(reply)
        await s.commit()
        return reply.id


async def _customer_ticket(world: World) -> tuple[int, str]:
    async with world.sessions() as s:
        now = world.clock.now()
        contact = ContactPerson(name="Anna de Vries", created_at=now, updated_at=now)
        s.add(contact)
        await s.flush()
        ticket, _ = await TicketService(world.clock).open_ticket(
            s,
            actor=Actor.system("test"),
            channel=TicketChannel.TELEGRAM,
            text="Mijn lijn is stil",
            contact=contact,
        )
        await s.commit()
        return ticket.id, ticket.reference or ""


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("Beste {klant}", "{klant}"),
        ("{customer_name.__class__}", "{customer_name.__class__}"),
        ("{customer_name[0]}", "{customer_name[0]}"),
        ("{0}", "{0}"),
        ("{}", "{}"),
        ("Beste {customer_name", "teken 7"),
        ("prijs } 10", "teken 7"),
    ],
)
def test_a_body_with_an_unknown_placeholder_or_a_lone_brace_is_refused(
    body: str, problem: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        saved_replies.check_body(body)
    assert problem in refused.value.text("nl")


def test_known_placeholders_and_doubled_braces_pass() -> None:
    assert saved_replies.check_body(f"  {BODY} {{{{zo}}}} ") == f"{BODY} {{{{zo}}}}"


async def test_an_agent_keeps_personal_replies_and_an_admin_shares(world: World) -> None:
    client = world.client
    csrf = await login(client, "agent")
    made = await client.post(
        "/saved-replies",
        data={"csrf_token": csrf, "title": "Opgelost", "body": BODY},
        allow_redirects=False,
    )
    assert made.status == 303 and made.headers["Location"] == "/saved-replies"
    # Sharing is for administrators: refused, nothing written.
    refused = await client.post(
        "/saved-replies",
        data={"csrf_token": csrf, "title": "Voor iedereen", "body": "Hallo", "shared": "1"},
    )
    assert refused.status == 403
    admin_csrf = await login(client, "admin")
    shared = await client.post(
        "/saved-replies",
        data={"csrf_token": admin_csrf, "title": "Welkom", "body": "Hallo!", "shared": "1"},
        allow_redirects=False,
    )
    assert shared.status == 303
    async with world.sessions() as s:
        rows = {r.title: r.owner_id for r in await s.scalars(select(SavedReply))}
    assert rows == {"Opgelost": world.users[StaffRole.AGENT].id, "Welkom": None}
    admin_page = await (await client.get("/saved-replies")).text()
    assert "Welkom" in admin_page and "Opgelost" not in admin_page  # personal: the owner's
    await login(client, "agent")
    agent_page = await (await client.get("/saved-replies")).text()
    assert "Welkom" in agent_page and "Opgelost" in agent_page
    # The agent may edit their own, not the shared one.
    edit_links = set(re.findall(r'href="/saved-replies/(\d+)/edit"', agent_page))
    async with world.sessions() as s:
        own = await s.scalar(select(SavedReply.id).where(SavedReply.title == "Opgelost"))
    assert edit_links == {str(own)}


async def test_shared_replies_are_changed_by_admins_only(world: World) -> None:
    shared_id = await _reply(world, None, "Welkom", "Hallo!")
    client = world.client
    csrf = await login(client, "agent")
    assert (await client.get(f"/saved-replies/{shared_id}/edit")).status == 403
    changed = await client.post(
        f"/saved-replies/{shared_id}/edit",
        data={"csrf_token": csrf, "title": "Weg", "body": "Weg"},
    )
    assert changed.status == 403
    deleted = await client.post(f"/saved-replies/{shared_id}/delete", data={"csrf_token": csrf})
    assert deleted.status == 403
    csrf = await login(client, "admin")
    assert (await client.get(f"/saved-replies/{shared_id}/edit")).status == 200
    saved = await client.post(
        f"/saved-replies/{shared_id}/edit",
        data={"csrf_token": csrf, "title": "Welkom terug", "body": "Hallo {customer_name}!"},
        allow_redirects=False,
    )
    assert saved.status == 303
    async with world.sessions() as s:
        row = await s.get(SavedReply, shared_id)
        assert row is not None and row.title == "Welkom terug" and row.owner_id is None
    gone = await client.post(
        f"/saved-replies/{shared_id}/delete", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert gone.status == 303 and await _count(world) == 0


async def test_a_personal_reply_is_its_owners_alone(world: World) -> None:
    own_id = await _reply(world, world.users[StaffRole.AGENT], "Mijn tekst")
    client = world.client
    csrf = await login(client, "admin")  # not even an administrator sees it
    assert (await client.get(f"/saved-replies/{own_id}/edit")).status == 404
    refused = await client.post(f"/saved-replies/{own_id}/delete", data={"csrf_token": csrf})
    assert refused.status == 404
    async with world.sessions() as s:
        with pytest.raises(NotFound):
            await saved_replies.get_visible(s, world.users[StaffRole.ADMIN], own_id)
        with pytest.raises(Forbidden):
            await saved_replies.create(
                s,
                world.clock,
                world.users[StaffRole.AGENT],
                title="Gedeeld",
                body="Hallo",
                shared=True,
            )
    csrf = await login(client, "agent")
    gone = await client.post(
        f"/saved-replies/{own_id}/delete", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert gone.status == 303 and await _count(world) == 0


@pytest.mark.parametrize("username", ["trainer", "privacy-officer"])
async def test_staff_who_do_not_reply_have_no_saved_replies(world: World, username: str) -> None:
    shared_id = await _reply(world, None, "Welkom", "Hallo!")
    client = world.client
    csrf = await login(client, username)
    assert (await client.get("/saved-replies")).status == 403
    posted = await client.post(
        "/saved-replies", data={"csrf_token": csrf, "title": "x", "body": "y"}
    )
    assert posted.status == 403
    picked = await client.get(f"/tickets/{world.ticket_id}/saved-replies/{shared_id}")
    assert picked.status == 403
    assert await _count(world) == 1


async def test_bad_input_is_refused_on_the_form_and_nothing_is_kept(world: World) -> None:
    client = world.client
    csrf = await login(client, "agent")
    no_token = await client.post("/saved-replies", data={"title": "Hoi", "body": "Hallo"})
    assert no_token.status == 403
    unknown = await client.post(
        "/saved-replies",
        data={"csrf_token": csrf, "title": "Hoi", "body": "Beste {naam}, <b>dag</b>"},
    )
    assert unknown.status == 422
    page = await unknown.text()
    assert "onbekende plaatshouder {naam}" in page
    assert "Beste {naam}, &lt;b&gt;dag&lt;/b&gt;</textarea>" in page  # kept, escaped
    untitled = await client.post(
        "/saved-replies", data={"csrf_token": csrf, "title": "  ", "body": "Hallo"}
    )
    assert untitled.status == 422 and "titel" in await untitled.text()
    assert await _count(world) == 0
    own_id = await _reply(world, world.users[StaffRole.AGENT], "Goed", "Hallo")
    broken = await client.post(
        f"/saved-replies/{own_id}/edit",
        data={"csrf_token": csrf, "title": "Goed", "body": "Hallo {agent_name.upper}"},
    )
    assert broken.status == 422 and "{agent_name.upper}" in await broken.text()
    async with world.sessions() as s:
        row = await s.get(SavedReply, own_id)
        assert row is not None and row.body == "Hallo"


async def test_the_picker_fills_the_reply_in_for_the_ticket(world: World) -> None:
    ticket_id, reference = await _customer_ticket(world)
    shared_id = await _reply(world, None, "Opgelost")
    other = StaffUser(
        username="agent-2",
        display_name="Bram",
        password_hash=PASSWORD_HASH,
        role=StaffRole.AGENT,
        is_active=True,
        created_at=world.clock.now(),
        updated_at=world.clock.now(),
    )
    async with world.sessions() as s:
        s.add(other)
        await s.commit()
    others_id = await _reply(world, other, "Van Bram")
    client = world.client
    await login(client, "agent")
    page = await (await client.get(f"/tickets/{ticket_id}")).text()
    assert 'id="saved-reply-picker"' in page and ">Opgelost</option>" in page
    assert "Van Bram" not in page
    expected = f"Beste Anna de Vries,\n\nUw ticket {reference} is opgelost.\n\nAgent"
    picked = await client.get(f"/tickets/{ticket_id}/saved-replies/{shared_id}")
    assert picked.status == 200 and (await picked.json()) == {"text": expected}
    # Without JavaScript the picker's GET comes back with the reply box filled.
    prefilled = await (await client.get(f"/tickets/{ticket_id}?saved_reply={shared_id}")).text()
    assert f'<textarea id="reply-text" name="text" rows="5" required>{html.escape(expected)}' in (
        prefilled
    )
    assert (await client.get(f"/tickets/{ticket_id}/saved-replies/{others_id}")).status == 404
    assert (await client.get(f"/tickets/{ticket_id}?saved_reply={others_id}")).status == 404
    assert (await client.get(f"/tickets/{ticket_id}?saved_reply=abc")).status == 404


async def test_placeholders_are_filled_as_text_never_evaluated(world: World) -> None:
    reply_id = await _reply(world, None, "Groet", "Dag {customer_name}")
    async with world.sessions() as s:
        now = world.clock.now()
        contact = ContactPerson(name="{agent_name} <script>", created_at=now, updated_at=now)
        s.add(contact)
        await s.flush()
        ticket, _ = await TicketService(world.clock).open_ticket(
            s, actor=Actor.system("t"), channel=TicketChannel.TELEGRAM, text="?", contact=contact
        )
        text = await saved_replies.text_for_ticket(
            s,
            world.users[StaffRole.AGENT],
            reply_id,
            ticket,
        )
    assert text == "Dag {agent_name} <script>"


async def test_a_web_form_ticket_names_the_customer_of_its_submission(world: World) -> None:
    reply_id = await _reply(world, None, "Groet", "Dag {customer_name} ({ticket_reference})")
    tickets = TicketService(world.clock)
    async with world.sessions() as s:
        receipt = await ContactFormService(world.clock, tickets).submit(
            s,
            {"name": "Els Bol", "email": "els@bol.example", "message": "Geen verbinding."},
            sender="ip-hash",
            language="nl",
        )
        ticket = await tickets.get(s, receipt.ticket_id)
        text = await saved_replies.text_for_ticket(
            s, world.users[StaffRole.AGENT], reply_id, ticket
        )
    assert text == f"Dag Els Bol ({receipt.reference})"
