"""JSON API /api/v1: bearer tokens, ticket list/thread/replies, JSON errors, create-token CLI."""

from __future__ import annotations

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World
from click.testing import CliRunner

from admin.cli import main
from storage.models import StaffRole
from storage.services import access
from storage.services.audit import Actor

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
