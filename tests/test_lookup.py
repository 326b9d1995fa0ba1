"""Lookups on the forms that ask for an id: JSON suggestions per kind, role-checked and
read-only; numbers found by identity (E.164 equality or prefix), never as text."""

from __future__ import annotations

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World, login
from desk_fixtures import add_recording

from storage.models import ContactPerson, Organisation, Recording, Ticket
from storage.phones import e164_prefix

pytestmark = pytest.mark.storage


async def _seed(world: World) -> dict[str, int]:
    async with world.sessions() as s:
        now = world.clock.now()
        org = Organisation(
            name="Bakkerij Bol", customer_number="C-100", created_at=now, updated_at=now
        )
        s.add(org)
        await s.flush()
        anna = ContactPerson(
            organisation_id=org.id,
            name="Anna de Vries",
            email="anna@bol.example",
            phone="06-1234 5678",
            phone_e164="+31612345678",
            created_at=now,
            updated_at=now,
        )
        piet = ContactPerson(
            name="Piet Jansen",
            email="piet@jansen.example",
            phone="+32 475 12 34 56",
            phone_e164="+32475123456",
            created_at=now,
            updated_at=now,
        )
        eric = ContactPerson(name="Éric Özil", created_at=now, updated_at=now)
        cafe = Organisation(
            name="Çafé Ünal", customer_number="C-200", created_at=now, updated_at=now
        )
        s.add_all([anna, piet, eric, cafe])
        recording_id = await add_recording(s, world.clock)
        recording = await s.get(Recording, recording_id)
        assert recording is not None
        recording.caller, recording.caller_e164 = "0612345678", "+31612345678"
        ticket = await s.get(Ticket, world.ticket_id)
        assert ticket is not None
        await s.commit()
        return {
            "org": org.id,
            "anna": anna.id,
            "piet": piet.id,
            "eric": eric.id,
            "cafe": cafe.id,
            "recording": recording_id,
            "ticket": ticket.id,
            "reference": ticket.reference,  # type: ignore[dict-item]
        }


async def _ids(world: World, kind: str, query: str) -> list[int]:
    response = await world.client.get(f"/lookup/{kind}", params={"q": query})
    assert response.status == 200, await response.text()
    return [item["id"] for item in (await response.json())["results"]]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("06 1234", "+3161234"),
        ("+31 6 12", "+31612"),
        ("0031 6 1234", "+3161234"),
        ("+31 (0)6 12", "+31612"),
        ("06-1234 5678", "+31612345678"),
        ("1234 5678", None),  # no country or trunk prefix: not a number to search by
        ("06 1", None),  # too short to narrow anything down
        ("Anna", None),
    ],
)
def test_a_typed_number_becomes_the_start_of_its_e164_form(
    typed: str, expected: str | None
) -> None:
    assert e164_prefix(typed) == expected


async def test_contacts_by_name_email_id_and_number_by_identity(world: World) -> None:
    seeded = await _seed(world)
    await login(world.client, "agent")
    anna, piet = seeded["anna"], seeded["piet"]
    assert await _ids(world, "contacts", "anna") == [anna]
    assert await _ids(world, "contacts", "JANSEN.example") == [piet]
    assert await _ids(world, "contacts", f"#{anna}") == [anna]
    for typed in ("06 1234", "+31 6 1234 5678", "0031612345678", "(06) 12345678"):
        assert await _ids(world, "contacts", typed) == [anna], typed
    assert await _ids(world, "contacts", "+32 475") == [piet]
    # The stored number as typed is never searched as text.
    assert await _ids(world, "contacts", "1234 5678") == []
    assert await _ids(world, "contacts", "06-1234") == [anna]  # a start of +31612345678
    assert await _ids(world, "contacts", "06 9999") == []
    assert await _ids(world, "contacts", " ") == []
    # Case folds beyond ASCII on SQLite as on PostgreSQL.
    for typed in ("özil", "ÖZIL", "éric", "ÉRIC Ö"):
        assert await _ids(world, "contacts", typed) == [seeded["eric"]], typed
    assert await _ids(world, "organisations", "çafé") == [seeded["cafe"]]
    response = await world.client.get("/lookup/contacts", params={"q": "anna"})
    [item] = (await response.json())["results"]
    assert item["label"] == "Anna de Vries · +31612345678 · anna@bol.example · Bakkerij Bol"


async def test_organisations_tickets_and_recordings(world: World) -> None:
    seeded = await _seed(world)
    await login(world.client, "agent")
    org = seeded["org"]
    assert await _ids(world, "organisations", "bakker") == [org]
    assert await _ids(world, "organisations", "c-100") == [org]
    assert await _ids(world, "organisations", str(org)) == [org]
    reference = str(seeded["reference"])
    assert await _ids(world, "tickets", reference) == [seeded["ticket"]]
    assert await _ids(world, "tickets", reference[:-2].lower()) == [seeded["ticket"]]
    assert await _ids(world, "tickets", str(seeded["ticket"])) == [seeded["ticket"]]
    assert await _ids(world, "tickets", "T-1999") == []
    recording = seeded["recording"]
    assert await _ids(world, "recordings", f"#{recording}") == [recording]
    assert await _ids(world, "recordings", "06 1234") == [recording]
    assert await _ids(world, "recordings", "1234 5678") == []


@pytest.mark.parametrize(
    ("username", "allowed"),
    [
        ("trainer", set()),
        ("privacy-officer", {"contacts", "organisations", "tickets", "recordings"}),
        ("agent", {"contacts", "organisations", "tickets", "recordings"}),
    ],
)
async def test_lookups_need_the_pages_permission(
    world: World, username: str, allowed: set[str]
) -> None:
    await _seed(world)
    client = world.client
    for kind in ("contacts", "organisations", "tickets", "recordings"):
        anonymous = await client.get(f"/lookup/{kind}?q=anna", allow_redirects=False)
        assert anonymous.status in (302, 401)
    await login(client, username)
    for kind in ("contacts", "organisations", "tickets", "recordings"):
        response = await client.get(f"/lookup/{kind}?q=anna")
        assert response.status == (200 if kind in allowed else 403), kind


async def test_id_inputs_offer_the_lookup_and_the_server_still_checks_the_id(
    world: World,
) -> None:
    await _seed(world)
    client = world.client
    csrf = await login(client, "agent")
    pages = {
        "/privacy/new": "/lookup/contacts",
        "/contacts": "/lookup/organisations",
        f"/tickets/{world.ticket_id}": "/lookup/recordings",
        "/recordings/upload": "/lookup/tickets",
        "/recordings": "/lookup/tickets",
    }
    for page, route in pages.items():
        html = await (await client.get(page)).text()
        assert f'data-lookup="{route}"' in html, page
        assert "<datalist id=" in html and 'src="/static/lookup.js"' in html, page
    refused = await client.post(
        f"/tickets/{world.ticket_id}/link-recording",
        data={"csrf_token": csrf, "recording_id": "Anna"},
    )
    assert refused.status == 422
    script = await client.get("/static/lookup.js")
    assert script.status == 200 and "data-lookup" in await script.text()
