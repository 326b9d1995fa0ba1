"""Browser test: Debian chromium driven by Playwright against the real app on 127.0.0.1.

An agent logs in, opens a ticket from the inbox, sends a reply and sees it in the thread;
the presence script runs under the real CSP. A screenshot goes to the test's tmp dir.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock)
from admin_fixtures import PASSWORD, PASSWORD_HASH
from browser import collect_errors, launch, log_in
from playwright.async_api import async_playwright

from admin.app import create_app
from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import StaffRole, StaffUser, TicketChannel
from storage.services.audit import Actor
from storage.services.tickets import TicketService

pytestmark = [pytest.mark.storage, pytest.mark.browser]


async def test_agent_replies_in_the_browser(
    aiohttp_server, engine, session_factory, settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    async with session_factory() as session:
        session.add(
            StaffUser(
                username="anna",
                display_name="Anna Agent",
                password_hash=PASSWORD_HASH,
                role=StaffRole.AGENT,
                is_active=True,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        ticket, _ = await TicketService(clock).open_ticket(
            session,
            actor=Actor.system("test"),
            channel=TicketChannel.TELEGRAM,
            text="Onze VoIP-centrale belt niet meer uit",
        )
        await session.commit()
        reference = ticket.reference
    server = await aiohttp_server(create_app(settings, clock=clock, engine=engine))
    base = str(server.make_url("/")).rstrip("/")
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page(locale="nl-NL")
            collect_errors(page, errors)
            await log_in(page, base, "anna", PASSWORD)
            await page.click(f"text={reference}")
            await page.wait_for_url(f"{base}/tickets/{ticket.id}")
            assert "belt niet meer uit" in await page.inner_text("ol.thread")
            # the presence script (external file, allowed by the CSP) beats once on load
            async with page.expect_response(lambda r: r.url.endswith("/presence")) as beat:
                await page.reload()
            assert (await beat.value).status == 200
            await page.fill("form[action$='/reply'] textarea[name=text]", "We bellen u zo terug.")
            await page.click("form[action$='/reply'] button[type=submit]")
            await page.wait_for_url(f"{base}/tickets/{ticket.id}")
            last = page.locator("ol.thread > li").last
            assert "We bellen u zo terug." in await last.inner_text()
            assert "message-out" in (await last.get_attribute("class") or "")
            # the customer writes meanwhile: the page warns before the next reply is sent
            async with session_factory() as session:
                await TicketService(clock).add_customer_message(
                    session, ticket.id, text="Nog iets: ook de fax doet het niet"
                )
                await session.commit()
            assert await page.locator("#stale-live").is_hidden()
            await page.evaluate("window.dispatchEvent(new Event('focus'))")
            await page.locator("#stale-live").wait_for(state="visible")
            shot = tmp_path / "ticket-after-reply.png"
            await page.screenshot(path=str(shot), full_page=True)
        finally:
            await browser.close()
    assert shot.stat().st_size > 1000
    assert not [e for e in errors if "Content Security Policy" in e], errors
