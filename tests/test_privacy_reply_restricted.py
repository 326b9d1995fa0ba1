"""A contact who restricted processing (GDPR art. 18) gets no new replies: the ticket
service refuses them at once (409 contact_restricted on the API, a notice and a disabled
reply box on the page) instead of accepting them to fail later in the delivery worker.
Internal notes stay allowed; other contacts and non-Telegram tickets are unaffected."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from storage.models import SavedReply, StaffRole, StaffUser, Ticket, TicketMessage, TicketStatus
from storage.services import access
from storage.services.audit import Actor
from storage.services.errors import ContactRestricted
from storage.services.tickets import TicketService
from tests.admin_fixtures import login
from tests.privacy_fixtures import OTHER, STAFF, SUBJECT, PrivacyWorld, open_request, pworld
from tests.test_privacy_admin import Desk, desk

pytestmark = pytest.mark.storage
__all__ = ["desk", "pworld"]


async def _restrict(world: PrivacyWorld) -> int:
    """Restrict the subject through a restriction request (its id returned)."""
    request_id = await open_request(world, "restriction")
    async with world.sessions() as s:
        await world.privacy.set_flag(s, request_id, "restricted", True, actor=STAFF)
        await s.commit()
    return request_id


async def _outgoing(world: PrivacyWorld, ticket_id: int) -> int:
    async with world.sessions() as s:
        return await s.scalar(
            select(func.count())
            .select_from(TicketMessage)
            .where(TicketMessage.ticket_id == ticket_id, TicketMessage.direction == "out")
        )


async def test_the_service_refuses_a_reply_but_takes_a_note(pworld: PrivacyWorld) -> None:
    tickets = TicketService(pworld.clock)
    telegram_ticket = SUBJECT.ticket_ids[0]
    restriction = await _restrict(pworld)
    async with pworld.sessions() as s:
        staff = await s.get(StaffUser, pworld.staff_id)
        assert staff is not None
        with pytest.raises(ContactRestricted) as refused:
            await tickets.add_agent_reply(s, telegram_ticket, staff=staff, text="Opgelost?")
        assert refused.value.code == "contact_restricted" and refused.value.status == 409
        assert "restricted the processing" in refused.value.message
        await tickets.add_internal_note(s, telegram_ticket, staff=staff, text="beperkt")
        # Another contact's Telegram ticket is unaffected.
        await tickets.add_agent_reply(s, OTHER.ticket_ids[0], staff=staff, text="Opgelost?")
        await s.commit()
    assert await _outgoing(pworld, telegram_ticket) == 1  # only the reply from before
    async with pworld.sessions() as s:
        staff = await s.get(StaffUser, pworld.staff_id)
        assert staff is not None
        await pworld.privacy.set_flag(s, restriction, "restricted", False, actor=STAFF)
        await tickets.add_agent_reply(s, telegram_ticket, staff=staff, text="Opgelost?")
        await s.commit()
    assert await _outgoing(pworld, telegram_ticket) == 2


async def test_api_reply_is_409_contact_restricted(desk: Desk) -> None:
    world, client = desk.world, desk.client
    ticket_id = SUBJECT.ticket_ids[0]
    async with world.sessions() as s:
        _, token = await access.create_api_token(
            s, world.clock, username=StaffRole.AGENT.value, name="t", actor=Actor.system()
        )
        status_before = (await s.get(Ticket, ticket_id)).status  # type: ignore[union-attr]
        await s.commit()
    assert status_before != TicketStatus.CLOSED
    await _restrict(world)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/tickets/{ticket_id}"
    response = await client.post(f"{base}/replies", json={"text": "Opgelost?"}, headers=headers)
    assert response.status == 409
    error = (await response.json())["error"]
    assert error["code"] == "contact_restricted" and "restricted" in error["message"]
    assert await _outgoing(world, ticket_id) == 1
    async with world.sessions() as s:
        assert (await s.get(Ticket, ticket_id)).status == status_before  # type: ignore[union-attr]
    note = await client.post(f"{base}/notes", json={"text": "beperkt"}, headers=headers)
    assert note.status == 201


async def test_page_shows_the_restriction_and_refuses_the_reply(desk: Desk) -> None:
    world, client = desk.world, desk.client
    ticket_id = SUBJECT.ticket_ids[0]
    csrf = await login(client, StaffRole.AGENT.value)
    page = await (await client.get(f"/tickets/{ticket_id}")).text()
    assert 'id="restricted"' not in page and 'id="reply-disabled"' not in page
    await _restrict(world)
    page = await (await client.get(f"/tickets/{ticket_id}")).text()
    assert 'id="restricted"' in page and "laten beperken" in page
    assert 'id="reply-disabled"' in page and "disabled>" in page
    version = re.search(r'name="thread_version" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    response = await client.post(
        f"/tickets/{ticket_id}/reply",
        data={"csrf_token": csrf, "text": "Mijn concept", "thread_version": version},
    )
    assert response.status == 409
    page = await response.text()
    assert 'id="restricted"' in page and "Mijn concept" in page
    assert await _outgoing(world, ticket_id) == 1
    note = await client.post(
        f"/tickets/{ticket_id}/note",
        data={"csrf_token": csrf, "text": "beperkt"},
        allow_redirects=False,
    )
    assert note.status == 303


async def test_a_saved_reply_is_not_filled_in_with_a_restricted_contacts_data(
    desk: Desk,
) -> None:
    world, client = desk.world, desk.client
    ticket_id = SUBJECT.ticket_ids[0]
    async with world.sessions() as s:
        saved = SavedReply(
            title="Groet",
            body="Beste {customer_name}, opgelost.",
            owner_id=None,
            created_at=world.clock.now(),
            updated_at=world.clock.now(),
        )
        s.add(saved)
        await s.commit()
    await login(client, StaffRole.AGENT.value)
    picker = f"/tickets/{ticket_id}/saved-replies/{saved.id}"
    filled = await client.get(picker)
    assert filled.status == 200 and SUBJECT.name in (await filled.json())["text"]
    await _restrict(world)
    refused = await client.get(picker)
    assert refused.status == 409, await refused.text()
    assert SUBJECT.name not in await refused.text()
    # Without JavaScript: the page, with an empty (disabled) reply box.
    page = await client.get(f"/tickets/{ticket_id}?saved_reply={saved.id}")
    assert page.status == 200
    box = re.search(r'<textarea id="reply-text"[^>]*>([^<]*)</textarea>', await page.text())
    assert box is not None and box.group(1) == ""
