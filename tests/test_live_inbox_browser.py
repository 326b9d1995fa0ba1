"""Browser test of the live inbox: Debian chromium driven by Playwright against the real app.

Customer messages filed through the real bot dispatcher appear on the open inbox and ticket
pages within 2 s without a reload, the tab title counts the tickets with news, and an agent
who turned notifications on is notified of a message on a ticket assigned to them; all under
the real CSP."""

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
from storage.models import StaffRole, StaffUser
from storage.services.audit import Actor
from storage.services.tickets import TicketService
from tests.bot_desk import USER, open_desk
from tests.telegram_fake import message_update

pytestmark = [pytest.mark.storage, pytest.mark.browser]

SOON = 2000  # ms: the promise to the agents
# Functions, not bare expressions: Playwright evaluates a bare one with eval() at every poll,
# which the admin's CSP (script-src 'self') refuses.
STREAM_OPEN = "() => document.getElementById('live').dataset.state === 'open'"
# Records every notification the page shows (the browser's own would go to the desktop).
RECORD_NOTIFICATIONS = """
window.shownNotifications = [];
window.Notification = class extends window.Notification {
  constructor(title, options) {
    super(title, options);
    window.shownNotifications.push({ title: title, body: (options || {}).body });
  }
};
"""


async def test_customer_messages_appear_live_with_count_and_notification(
    aiohttp_server, engine, session_factory, settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    async with session_factory() as session:
        anna = StaffUser(
            username="anna",
            display_name="Anna Agent",
            password_hash=PASSWORD_HASH,
            role=StaffRole.AGENT,
            is_active=True,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(anna)
        await session.commit()
        anna_id = anna.id
    server = await aiohttp_server(create_app(settings, clock=clock, engine=engine))
    base = str(server.make_url("/")).rstrip("/")
    errors: list[str] = []
    async with (
        open_desk(session_factory, tmp_path, settings) as desk,
        async_playwright() as pw,
    ):
        browser = await launch(pw)
        try:
            context = await browser.new_context(locale="nl-NL", permissions=["notifications"])
            await context.add_init_script(RECORD_NOTIFICATIONS)
            page = await context.new_page()
            collect_errors(page, errors)
            await log_in(page, base, "anna", PASSWORD)
            assert page.url == f"{base}/"
            title = await page.title()
            assert not title.startswith("(")
            await page.click("#live-notify")  # "Meldingen aanzetten"
            await page.locator("#live-status", has_text="Meldingen staan aan").wait_for()
            await page.locator("#live-notify").wait_for(state="hidden")
            await page.wait_for_function(STREAM_OPEN)

            # A new customer writes to the bot: the inbox shows the ticket without a reload.
            await desk.feed(message_update(USER, "Live: de router knippert oranje"))
            [ticket] = await desk.tickets()
            row = page.locator(f"#inbox-list tr[data-ticket='{ticket.id}']")
            await row.wait_for(timeout=SOON)
            assert ticket.reference and ticket.reference in await row.inner_text()
            assert "live-new" in (await row.get_attribute("class") or "")
            await page.wait_for_function(f"() => document.title === '(1) {title}'", timeout=SOON)
            await page.screenshot(path=str(tmp_path / "live-inbox.png"), full_page=True)
            # Not assigned to anna: no notification.
            assert await page.evaluate("window.shownNotifications.length") == 0

            async with session_factory() as session:
                await TicketService(clock).assign(
                    session, ticket.id, actor=Actor.system("test"), assignee_id=anna_id
                )
                await session.commit()
            await page.goto(f"{base}/tickets/{ticket.id}")
            await page.wait_for_function(STREAM_OPEN)
            await desk.feed(message_update(USER, "Nu knippert hij rood"))
            added = page.locator("ol.thread > li", has_text="Nu knippert hij rood")
            await added.wait_for(timeout=SOON)
            await page.wait_for_function(
                "() => window.shownNotifications.length === 1", timeout=SOON
            )
            [shown] = await page.evaluate("window.shownNotifications")
            assert shown == {"title": f"Nieuw bericht {ticket.reference}", "body": ticket.subject}
            await page.wait_for_function("() => document.title.startsWith('(1) ')", timeout=SOON)
            await page.screenshot(path=str(tmp_path / "live-ticket.png"), full_page=True)
        finally:
            await browser.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors
