"""JSON API /api/v1: bearer tokens, ticket list/thread/replies, JSON errors, create-token CLI."""

from __future__ import annotations

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World, login
from click.testing import CliRunner
from desk_fixtures import PNG, add_attachment
from sqlalchemy import select

from admin.api import OPENAPI
from admin.cli import main
from admin.keys import OBJECT_STORE
from storage.models import MessageEdit, StaffRole, StaffUser, TicketChannel
from storage.services import access
from storage.services.audit import Actor
from storage.services.contact_form import ContactFormService
from storage.services.tickets import TicketService

pytestmark = pytest.mark.storage


async def _token(world: World, role: StaffRole = StaffRole.AGENT) -> dict[str, str]:
    async with world.sessions() as session:
        _, token = await access.create_api_token(
            session,
            world.clock,
            username=world.users[role].username,
            name="test",
            actor=Actor.system(),
        )
        await session.commit()
    return {"Authorization": f"Bearer {token}"}


async def test_reply_is_201_and_pending_in_thread(world: World) -> None:
    headers = await _token(world)
    client = world.client
    response = await client.post(
        f"/api/v1/tickets/{world.ticket_id}/replies", json={"text": "Fixed?"}, headers=headers
    )
    assert response.status == 201
    created = await response.json()
    assert created["direction"] == "out" and created["delivery"] == "pending"
    thread = await (await client.get(f"/api/v1/tickets/{world.ticket_id}", headers=headers)).json()
    assert thread["status"] == "waiting"
    last = thread["messages"][-1]
    assert set(last) >= {"id", "direction", "text", "author", "created_at", "delivery"}
    assert last["id"] == created["id"] and last["text"] == "Fixed?"
    assert last["delivery"] == "pending" and last["author"] == "Agent"


async def test_a_reply_is_edited_by_its_author_through_api_and_page(world: World) -> None:
    """The author edits a reply (history kept, the chat edit queued); a colleague may not,
    and a reply is only reachable through its own ticket."""
    headers = await _token(world)
    client = world.client
    base = f"/api/v1/tickets/{world.ticket_id}"
    created = await (
        await client.post(f"{base}/replies", json={"text": "Eerste versie"}, headers=headers)
    ).json()
    response = await client.patch(
        f"{base}/replies/{created['id']}", json={"text": "Tweede versie"}, headers=headers
    )
    assert response.status == 200 and (await response.json())["text"] == "Tweede versie"
    async with world.sessions() as session:
        colleague = StaffUser(
            username="agent-2",
            password_hash="x",
            role=StaffRole.AGENT,
            is_active=True,
            created_at=world.clock.now(),
            updated_at=world.clock.now(),
        )
        session.add(colleague)
        other_ticket, _ = await TicketService(world.clock).open_ticket(
            session, actor=Actor.system(), channel=TicketChannel.WEB_FORM, text="ander"
        )
        await session.commit()
    response = await client.patch(
        f"/api/v1/tickets/{other_ticket.id}/replies/{created['id']}",
        json={"text": "via een ander ticket"},
        headers=headers,
    )
    assert response.status == 404
    response = await client.patch(
        f"{base}/replies/{created['id']}",
        json={"text": "van een collega"},
        headers=await _token_of(world, "agent-2"),
    )
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"
    csrf = await login(client, world.users[StaffRole.AGENT].username)
    response = await client.post(
        f"/tickets/{world.ticket_id}/replies/{created['id']}/edit",
        data={"text": "Derde versie", "csrf_token": csrf},
        allow_redirects=False,
    )
    assert response.status == 303
    page = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    assert "Derde versie" in page and f"/replies/{created['id']}/edit" in page
    async with world.sessions() as session:
        edits = list(
            await session.scalars(
                select(MessageEdit.new_text)
                .where(MessageEdit.message_id == created["id"])
                .order_by(MessageEdit.id)
            )
        )
    assert edits == ["Tweede versie", "Derde versie"]


async def _token_of(world: World, username: str) -> dict[str, str]:
    async with world.sessions() as session:
        _, token = await access.create_api_token(
            session, world.clock, username=username, name="test", actor=Actor.system()
        )
        await session.commit()
    return {"Authorization": f"Bearer {token}"}


async def test_list_and_actions(world: World) -> None:
    headers = await _token(world)
    client = world.client
    body = await (await client.get("/api/v1/tickets?status=new&q=internet", headers=headers)).json()
    assert body["next_cursor"] is None
    (item,) = body["items"]
    assert set(item) >= {"id", "reference", "status", "category", "organisation", "updated_at"}
    base = f"/api/v1/tickets/{world.ticket_id}"
    assert (await client.post(f"{base}/notes", json={"text": "n"}, headers=headers)).status == 201
    assigned = await (await client.post(f"{base}/assign", json={}, headers=headers)).json()
    assert assigned["assignee_id"] == world.users[StaffRole.AGENT].id
    closed = await (await client.post(f"{base}/close", headers=headers)).json()
    assert closed["status"] == "closed"
    response = await client.post(f"{base}/replies", json={"text": "late"}, headers=headers)
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "ticket_closed"
    reopened = await (await client.post(f"{base}/reopen", headers=headers)).json()
    assert reopened["status"] == "open"


async def test_cursor_pagination(world: World) -> None:
    headers = await _token(world)
    client = world.client
    from storage.models import TicketChannel
    from storage.services.tickets import TicketService

    async with world.sessions() as session:
        for n in range(4):
            world.clock.advance(__import__("datetime").timedelta(seconds=1))
            await TicketService(world.clock).open_ticket(
                session, actor=Actor.system(), channel=TicketChannel.API, text=f"t{n}"
            )
        await session.commit()
    seen: list[int] = []
    cursor = ""
    while True:
        body = await (
            await client.get(f"/api/v1/tickets?limit=2&cursor={cursor}", headers=headers)
        ).json()
        seen += [i["id"] for i in body["items"]]
        if not body["next_cursor"]:
            break
        cursor = body["next_cursor"]
    assert len(seen) == 5 and len(set(seen)) == 5


async def test_errors_are_json(world: World) -> None:
    headers = await _token(world)
    client = world.client
    response = await client.get("/api/v1/tickets/999999", headers=headers)
    assert response.status == 404
    assert (await response.json()) == {
        "error": {"code": "not_found", "message": "ticket 999999 not found"}
    }
    response = await client.post(
        f"/api/v1/tickets/{world.ticket_id}/replies", data="{nope", headers=headers
    )
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "invalid_input"
    response = await client.get("/api/v1/tickets?cursor=%%%", headers=headers)
    assert response.status == 422
    response = await client.get("/api/v1/nothing-here", headers=headers)
    assert response.status == 404 and "error" in await response.json()
    response = await client.get("/api/v1/tickets", headers={"Authorization": "Bearer sdt_bogus"})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    response = await client.get("/api/v1/audit", headers=headers)  # agent lacks audit.view
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"


async def test_thread_names_authors_and_lists_attachments(world: World) -> None:
    """Every message names its author (staff user; contact or contact-form submitter) and
    lists its attachments with a download URL the API serves to a bearer token."""
    headers = await _token(world)
    client = world.client
    base = f"/api/v1/tickets/{world.ticket_id}"
    for kind, text in (("notes", "n"), ("replies", "r")):
        response = await client.post(f"{base}/{kind}", json={"text": text}, headers=headers)
        assert response.status == 201
        created = await response.json()
        assert created["author"] == "Agent" and created["attachments"] == []
    async with world.sessions() as session:
        attachment_id = await add_attachment(
            session,
            client.server.app[OBJECT_STORE],
            world.clock,
            world.ticket_id,
            body=PNG,
            media_type="image/png",
            filename="kastje.png",
        )
        receipt = await ContactFormService(world.clock, TicketService(world.clock)).submit(
            session,
            {"name": "Jan de Vries", "email": "jan@devries.nl", "message": "Bel mij"},
            sender="ip",
            language="nl",
        )
        await session.commit()
    # Another role reads the thread: the authors are not just the caller's own name.
    admin = await _token(world, StaffRole.ADMIN)
    thread = await (await client.get(base, headers=admin)).json()
    first, note, reply = thread["messages"]
    assert first["author"] is None  # a Telegram ticket without a contact person
    assert note["author"] == reply["author"] == "Agent"
    assert note["author_staff_id"] == world.users[StaffRole.AGENT].id
    (attachment,) = first["attachments"]
    assert attachment == {
        "id": attachment_id,
        "filename": "kastje.png",
        "media_type": "image/png",
        "size": len(PNG),
        "url": f"/api/v1/attachments/{attachment_id}",
    }
    assert note["attachments"] == [] and reply["attachments"] == []
    download = await client.get(attachment["url"], headers=admin)
    assert download.status == 200 and await download.read() == PNG
    assert (await client.get(attachment["url"])).status == 401
    trainer = await _token(world, StaffRole.TRAINER)  # no tickets.view
    assert (await client.get(attachment["url"], headers=trainer)).status == 403
    form = await (await client.get(f"/api/v1/tickets/{receipt.ticket_id}", headers=admin)).json()
    assert form["messages"][0]["author"] == "Jan de Vries"
    for q in ("jan@devries.nl", "jan de vries"):  # the inbox finds the submitter too
        found = await (await client.get(f"/api/v1/tickets?q={q}", headers=admin)).json()
        assert [t["id"] for t in found["items"]] == [receipt.ticket_id], q
    item = OPENAPI["paths"]["/tickets/{id}"]["get"]["responses"]["200"]
    message = item["content"]["application/json"]["schema"]["properties"]["messages"]["items"]
    assert {"author", "attachments"} <= set(message["properties"])


async def test_ids_out_of_range_are_clear_errors(world: World) -> None:
    headers = await _token(world)
    client = world.client
    huge = 99999999999999999999999
    for url in (f"/api/v1/tickets/{huge}", f"/api/v1/recordings/{huge}/audio"):
        response = await client.get(url, headers=headers)
        assert response.status == 404, url
        assert (await response.json())["error"]["code"] == "not_found"
    base = f"/api/v1/tickets/{world.ticket_id}"
    for body in ({"assignee_id": huge}, {"assignee_id": -huge}, {"assignee_id": "7"}):
        response = await client.post(f"{base}/assign", json=body, headers=headers)
        assert response.status == 422, body
        assert (await response.json())["error"]["code"] == "invalid_input"
    response = await client.post(
        f"{base}/replies", json={"text": "x", "thread_version": huge}, headers=headers
    )
    assert response.status == 422
    response = await client.post(
        "/api/v1/contacts", json={"name": "Big", "organisation_id": huge}, headers=headers
    )
    assert response.status == 422
    response = await client.get("/api/v1/contacts?organisation_id=" + str(huge), headers=headers)
    assert response.status == 200
    response = await client.get("/api/v1/tickets?assignee=" + str(huge), headers=headers)
    assert response.status == 200 and (await response.json())["items"]


async def test_audit_feed_and_revoked_token(world: World) -> None:
    headers = await _token(world, StaffRole.PRIVACY_OFFICER)
    body = await (await world.client.get("/api/v1/audit", headers=headers)).json()
    actions = [e["action"] for e in body["items"]]
    assert "ticket.opened" in actions and "api_token.created" in actions
    async with world.sessions() as session:
        await access.set_active(
            session,
            world.clock,
            world.users[StaffRole.PRIVACY_OFFICER].id,
            active=False,
            actor=Actor.system(),
        )
        await session.commit()
    assert (await world.client.get("/api/v1/audit", headers=headers)).status == 401


async def test_openapi_is_public(world: World) -> None:
    body = await (await world.client.get("/api/v1/openapi.json")).json()
    assert body["openapi"].startswith("3.") and "/tickets/{id}/replies" in body["paths"]


async def test_create_token_cli(world: World, settings, monkeypatch) -> None:
    monkeypatch.setenv("SUPPORTDESK_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", settings.database_url)
    result = await __import__("asyncio").to_thread(
        CliRunner().invoke, main, ["create-token", "agent", "--name", "script"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    response = await world.client.get(
        "/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200
    result = await __import__("asyncio").to_thread(
        CliRunner().invoke, main, ["create-token", "nobody"]
    )
    assert result.exit_code == 1
