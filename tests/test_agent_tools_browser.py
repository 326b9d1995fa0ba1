"""Browser test (Debian chromium via Playwright, the real app on 127.0.0.1): the ticket
page's saved-reply picker fills the reply box in place, and an id input's lookup offers
matching contacts in its datalist; both scripts run under the real CSP."""

from __future__ import annotations

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock)
from admin_fixtures import PASSWORD, PASSWORD_HASH
from browser import collect_errors, launch, log_in
from playwright.async_api import async_playwright

from admin.app import create_app
from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import ContactPerson, SavedReply, StaffRole, StaffUser, TicketChannel
from storage.services.audit import Actor
from storage.services.tickets import TicketService

pytestmark = [pytest.mark.storage, pytest.mark.browser]


async def test_picker_and_lookup_in_the_browser(
    aiohttp_server, engine, session_factory, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    async with session_factory() as session:
        session.add(
            StaffUser(
                username="bram",
                display_name="Bram",
                password_hash=PASSWORD_HASH,
                role=StaffRole.AGENT,
                is_active=True,
                created_at=now,
                updated_at=now,
            )
        )
        contact = ContactPerson(
            name="Anna de Vries",
            phone="06 1234 5678",
            phone_e164="+31612345678",
            created_at=now,
            updated_at=now,
        )
        session.add(contact)
        await session.flush()
        ticket, _ = await TicketService(clock).open_ticket(
            session,
            actor=Actor.system("test"),
            channel=TicketChannel.TELEGRAM,
            text="Mijn lijn is stil",
            contact=contact,
        )
        session.add(
            SavedReply(
                title="Opgelost",
                body="Beste {customer_name}, {ticket_reference} is opgelost. {agent_name}",
                created_at=now,
                updated_at=now,
            )
        )
        await session.commit()
        ticket_id, reference, contact_id = ticket.id, ticket.reference, contact.id
    server = await aiohttp_server(create_app(settings, clock=clock, engine=engine))
    base = str(server.make_url("/")).rstrip("/")
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page(locale="nl-NL")
            collect_errors(page, errors)
            await log_in(page, base, "bram", PASSWORD)
            await page.goto(f"{base}/tickets/{ticket_id}")
            box = page.locator("#reply-text")
            await box.fill("Hallo. ")
            await page.click("#saved-reply-picker button[type=submit]")
            expected = f"Hallo. Beste Anna de Vries, {reference} is opgelost. Bram"
            await page.wait_for_function(
                "want => document.getElementById('reply-text').value === want", arg=expected
            )
            assert page.url == f"{base}/tickets/{ticket_id}"  # filled in place, no reload

            await page.goto(f"{base}/privacy/new")
            await page.locator("input[name=contact_id]").press_sequentially("06 1234")
            await page.wait_for_function(
                "id => [...document.querySelectorAll('#contact-suggestions option')]"
                ".some(o => o.value === id && o.label.includes('Anna de Vries'))",
                arg=str(contact_id),
            )
        finally:
            await browser.close()
    # (the browser's own request for /favicon.ico is a 404: no other error may show)
    assert not [e for e in errors if "status of 404" not in e], errors
