"""Public contact form at /contact: CSRF, honeypot, rate limit, length limits, a clear error
per field, a "web form" ticket plus a separate submission record."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World, login
from sqlalchemy import delete, func, select

from storage.models import ContactFormSubmission, Ticket, TicketCategory, TicketChannel
from storage.services.contact_form import RATE_MAX, question_subject

pytestmark = pytest.mark.storage

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
GOOD = {
    "company": "Bakkerij Bol",
    "name": "Els Bol",
    "email": "els@bol.example",
    "phone": "+31 6 1234 5678",
    "customer_number": "C-4004",
    "message": "Onze pinautomaat heeft geen verbinding.",
}


async def _token(world: World) -> str:
    page = await world.client.get("/contact")
    assert page.status == 200
    return CSRF_RE.search(await page.text()).group(1)  # type: ignore[union-attr]


async def _counts(world: World) -> tuple[int, int]:
    async with world.sessions() as session:
        tickets = await session.scalar(select(func.count()).select_from(Ticket))
        rows = await session.scalar(select(func.count()).select_from(ContactFormSubmission))
    return tickets or 0, rows or 0


async def test_form_is_public_and_bilingual(world: World) -> None:
    client = world.client
    html = await (await client.get("/contact")).text()
    assert "Contact met support" in html and 'name="website"' in html
    english = await client.get("/contact", headers={"Accept-Language": "en-GB,en"})
    assert "Contact support" in await english.text()


async def test_submission_opens_web_form_ticket_and_keeps_record(world: World) -> None:
    client = world.client
    before = await _counts(world)
    response = await client.post("/contact", data=GOOD)
    assert response.status == 403  # no CSRF token
    token = await _token(world)
    posted = await client.post(
        "/contact", data={**GOOD, "csrf_token": token}, allow_redirects=False
    )
    # Post/redirect/get: the confirmation is a page of its own, so a reload sends nothing.
    assert posted.status == 303 and posted.headers["Location"].startswith("/contact/sent?")
    response = await client.get(posted.headers["Location"])
    assert response.status == 200
    html = await response.text()
    reference = re.search(r'<strong class="reference">([^<]+)</strong>', html)
    assert reference and reference.group(1).startswith("T-2026-")
    assert await _counts(world) == (before[0] + 1, before[1] + 1)
    await client.get(posted.headers["Location"])  # the reload
    assert await _counts(world) == (before[0] + 1, before[1] + 1)
    spoofed = await client.get("/contact/sent", params={"reference": "Uw account is geblokkeerd"})
    assert 'class="reference"' not in await spoofed.text()
    async with world.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.reference == reference.group(1)))
        assert ticket is not None and ticket.channel == TicketChannel.WEB_FORM
        assert ticket.organisation_id is None  # a typed customer number proves nothing
        # personal details live in the one-year submission, not in the three-year ticket
        assert ticket.subject == "Onze pinautomaat heeft geen verbinding."
        assert ticket.category == TicketCategory.OTHER and ticket.contact_id is None
        row = await session.scalar(select(ContactFormSubmission))
        assert row is not None and row.ticket_id == ticket.id
        assert row.created_at == world.clock.now() and row.email == "els@bol.example"
        assert row.customer_number == "C-4004" and "." not in row.ip_hash
        ticket_id = ticket.id
    await login(client, "agent")
    page = await (await client.get(f"/tickets/{ticket_id}")).text()
    assert "Els Bol" in page and "els@bol.example" in page and "pinautomaat" in page
    assert "<strong>Els Bol</strong>" in page  # the message's author: the submitter
    # No Telegram chat behind a web-form ticket: the agent is told to answer by hand.
    assert 'id="reply-manual"' in page and 'href="mailto:els%40bol.example?subject=T-' in page
    # The ticket may go (3-year rule) while the submission's own 1-year clock runs on.
    async with world.sessions() as session:
        await session.execute(delete(Ticket).where(Ticket.id == ticket_id))
        await session.commit()
        row = await session.scalar(select(ContactFormSubmission))
        assert row is not None
        await session.refresh(row)
        assert row.ticket_id is None


@pytest.mark.parametrize(
    ("field", "value", "key"),
    [
        ("name", "", "Dit veld is verplicht."),
        ("email", "els-at-bol", "Dit is geen geldig e-mailadres."),
        ("phone", "call me maybe", "Dit is geen telefoonnummer"),
        ("phone", "06 12", "Dit is geen telefoonnummer"),  # digits, but too few
        ("message", "x" * 5001, "Dit veld is te lang."),
        ("company", "y" * 201, "Dit veld is te lang."),
    ],
)
async def test_bad_field_gets_its_own_error_and_nothing_is_kept(
    world: World, field: str, value: str, key: str
) -> None:
    client = world.client
    before = await _counts(world)
    token = await _token(world)
    response = await client.post("/contact", data={**GOOD, field: value, "csrf_token": token})
    assert response.status == 422
    html = await response.text()
    assert f'id="cf-{field}-error"' in html and key in html
    assert html.count("field-error") == 1  # only the bad field is flagged
    assert "Els Bol" in html or field == "name"  # the other answers are kept
    assert await _counts(world) == before


async def test_honeypot_keeps_nothing(world: World) -> None:
    before = await _counts(world)
    token = await _token(world)
    response = await world.client.post(
        "/contact", data={**GOOD, "website": "http://spam.example", "csrf_token": token}
    )
    assert response.status == 200 and "reference" not in await response.text()
    assert await _counts(world) == before


async def test_rate_limit_per_address(world: World) -> None:
    token = await _token(world)
    for _ in range(RATE_MAX):
        response = await world.client.post("/contact", data={**GOOD, "csrf_token": token})
        assert response.status == 200
    before = await _counts(world)
    response = await world.client.post("/contact", data={**GOOD, "csrf_token": token})
    assert response.status == 429 and 'role="alert"' in await response.text()
    assert await _counts(world) == before
    world.clock.advance(timedelta(hours=1, seconds=1))
    response = await world.client.post("/contact", data={**GOOD, "csrf_token": token})
    assert response.status == 200


async def test_the_ticket_is_titled_by_the_question_and_filed_under_the_chosen_topic(
    world: World,
) -> None:
    client = world.client
    html = await (await client.get("/contact")).text()
    assert '<select id="cf-category" name="category"' in html
    assert '<option value="voip">Vaste telefonie (VoIP)</option>' in html
    token = await _token(world)
    question = (
        "\n  Ons nummer is   onbereikbaar sinds vanochtend! Klanten horen een bezettoon.\nGroet"
    )
    posted = await client.post(
        "/contact",
        data={**GOOD, "message": question, "category": "voip", "csrf_token": token},
        allow_redirects=False,
    )
    assert posted.status == 303
    async with world.sessions() as session:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.channel == TicketChannel.WEB_FORM)
        )
    assert ticket is not None
    assert ticket.subject == "Ons nummer is onbereikbaar sinds vanochtend!"
    assert ticket.category == TicketCategory.VOIP
    assert "Bakkerij" not in ticket.subject


async def test_an_unknown_topic_is_refused_and_nothing_is_kept(world: World) -> None:
    client = world.client
    before = await _counts(world)
    token = await _token(world)
    refused = await client.post(
        "/contact", data={**GOOD, "category": "lottery", "csrf_token": token}
    )
    assert refused.status == 422
    html = await refused.text()
    assert 'id="cf-category-error"' in html and "Kies een van de mogelijkheden." in html
    assert await _counts(world) == before


def test_a_long_question_is_cut_at_a_word_to_fit_the_subject() -> None:
    long = "woord " * 60 + "einde."
    subject = question_subject(long)
    assert len(subject) <= 200 and subject.endswith("woord…")
    assert question_subject("Kort. Tweede zin.") == "Kort."
    assert question_subject("Waarom? Daarom.") == "Waarom?"
    assert question_subject("   \n\n") == "Contactformulier"
