"""Browser journeys per role at phone (390 px) and desktop (1280 px) width: each role logs in,
lands on its own home, and every page it may see fits the window (wide tables scroll in
their own box, never the page) and shows no raw keys. Screenshots go to var/screenshots/.
One Chromium for the whole module; one app and database for all roles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock)
from admin_fixtures import PASSWORD, PASSWORD_HASH
from browser import launch, log_in
from playwright.async_api import Browser, Page, async_playwright
from recording_audio_helpers import make_audio
from sqlalchemy import select

from admin.app import create_app
from admin.keys import OBJECT_STORE
from recordings.notes import add_note
from recordings.service import IngestMetadata, RecordingService
from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import ContactPerson, HoldKind, StaffRole, StaffUser, TicketChannel
from storage.services.audit import Actor
from storage.services.privacy import PrivacyService
from storage.services.tickets import TicketService

pytestmark = [pytest.mark.storage, pytest.mark.browser]

SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
WIDTHS = (390, 1280)
# snake_case words and dotted.names (recording.hold): codes that should have been labels.
KEY_LIKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|\b[a-z]+(?:\.[a-z_]+)+\b")
# Visible text outside code/pre/script/style, without URLs, e-mail addresses, file paths.
VISIBLE_TEXT_JS = """() => {
  const skip = new Set(["CODE", "PRE", "SCRIPT", "STYLE", "NOSCRIPT", "TEXTAREA"]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let el = node.parentElement, hidden = false;
    for (let p = el; p; p = p.parentElement) { if (skip.has(p.tagName)) { hidden = true; break; } }
    if (hidden || el.getClientRects().length === 0) continue;  // code, or not shown
    parts.push(node.textContent);
  }
  return parts.join(" ").replace(/(https?:\\/\\/|www\\.)\\S+/g, " ").replace(/\\S+@\\S+/g, " ")
    .replace(/\\S*\\/\\S*/g, " ");  // file paths (admin/views.py) are not keys
}"""


async def _seed(session_factory, clock: FrozenClock, store, tmp: Path) -> dict[str, int]:  # type: ignore[no-untyped-def]
    async with session_factory() as session:
        for role in StaffRole:
            session.add(
                StaffUser(
                    username=role.value.replace("_", "-"),
                    display_name=f"{role.value.title().replace('_', ' ')} Tester",
                    password_hash=PASSWORD_HASH,
                    role=role,
                    is_active=True,
                    created_at=clock.now(),
                    updated_at=clock.now(),
                )
            )
        contact = ContactPerson(name="Jan Jansen", created_at=clock.now(), updated_at=clock.now())
        session.add(contact)
        await session.flush()
        tickets = TicketService(clock)
        ticket, _ = await tickets.open_ticket(
            session,
            actor=Actor.system("test"),
            channel=TicketChannel.TELEGRAM,
            text="Onze VoIP-centrale belt niet meer uit " + "heel-lang-woord" * 8,
        )
        privacy = PrivacyService(clock, store)
        access = await privacy.create_request(
            session, type="access", contact_id=contact.id, channel="letter", actor=Actor.system()
        )
        erasure = await privacy.create_request(
            session, type="erasure", contact_id=contact.id, channel="email", actor=Actor.system()
        )
        await privacy.verify_identity(session, erasure.id, actor=Actor.system(), note="paspoort")
        await session.commit()
        # A recording in the training library with a trainer's note (the listening room).
        vault = RecordingService(clock, store)
        pbx_name = "in-0201234567-1001-20261128-103000-1732789800.123.wav"  # as FreePBX names it
        ingested = await vault.ingest(
            session,
            make_audio(tmp, "wav_mulaw", seconds=3),
            IngestMetadata(filename=pbx_name),
            Actor.system(),
        )
        recording_id = ingested.recording.id
        await vault.place_hold(
            session, recording_id, kind=HoldKind.TRAINING, reason="Goed voorbeeld",
            actor=Actor.system(),
        )  # fmt: skip
        trainer = await session.scalar(select(StaffUser).where(StaffUser.role == StaffRole.TRAINER))
        assert trainer is not None
        await add_note(
            session, recording_id, position_ms=1500, text="Rustige uitleg " + "lang-woord" * 8,
            author=trainer, now=clock.now(),
        )  # fmt: skip
        await session.commit()
        return {
            "ticket": ticket.id,
            "access": access.id,
            "erasure": erasure.id,
            "recording": recording_id,
        }


def _journeys(ids: dict[str, int]) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Role (username) -> (home path, [(page name, path)])."""
    return {
        "agent": (
            "/",
            [
                ("inbox", "/"),
                ("ticket", f"/tickets/{ids['ticket']}"),
                ("organisations", "/organisations"),
                ("privacy-new", "/privacy/new"),
                ("account", "/account"),
            ],
        ),
        "trainer": (
            "/training",
            [
                ("training", "/training"),
                ("training-room", f"/training/{ids['recording']}"),
                ("account", "/account"),
            ],
        ),
        "privacy-officer": (
            "/privacy",
            [
                ("privacy", "/privacy"),
                ("access-request", f"/privacy/{ids['access']}"),
                ("erasure-request", f"/privacy/{ids['erasure']}"),
                ("audit", "/audit"),
                ("retention", "/retention"),
            ],
        ),
        "admin": (
            "/",
            [
                ("inbox", "/"),
                ("ticket", f"/tickets/{ids['ticket']}"),
                ("users", "/users"),
                ("recording", f"/recordings/{ids['recording']}"),
                ("audit", "/audit"),
                ("retention", "/retention"),
            ],
        ),
    }


async def _log_in(page: Page, base: str, username: str) -> None:
    await log_in(page, base, username, PASSWORD)


async def _check_page(page: Page, width: int, shot: Path) -> None:
    scroll_width = await page.evaluate("document.scrollingElement.scrollWidth")
    await page.screenshot(path=str(shot), full_page=True)
    assert scroll_width <= width, f"{page.url} is {scroll_width} px wide at {width} px"
    keys = sorted(set(KEY_LIKE.findall(await page.evaluate(VISIBLE_TEXT_JS))))
    assert not keys, f"{page.url} shows raw keys: {keys}"


async def _journey(
    browser: Browser,
    base: str,
    username: str,
    home: str,
    pages,
    width: int,  # type: ignore[no-untyped-def]
) -> None:
    context = await browser.new_context(viewport={"width": width, "height": 800}, locale="nl-NL")
    try:
        page = await context.new_page()
        await _log_in(page, base, username)
        assert page.url == f"{base}{home}", (username, page.url)
        # The logo leads home too (a trainer's used to end in a 403).
        assert await page.get_attribute("a.brand", "href") == home
        for name, path in pages:
            response = await page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, (username, path)
            await _check_page(page, width, SCREENSHOTS / f"{username}-{width}-{name}.png")
        # Log out and the language switch stay on screen at every width.
        for selector in ("form[action='/logout'] button", "a[lang=nl]", "a[lang=en]"):
            box = await page.locator(selector).bounding_box()
            assert box is not None and box["x"] + box["width"] <= width, (username, selector)
    finally:
        await context.close()


async def test_every_role_fits_phone_and_desktop(
    aiohttp_server,
    engine,
    session_factory,
    settings: Settings,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    app = create_app(settings, clock=clock, engine=engine)
    server = await aiohttp_server(app)
    ids = await _seed(session_factory, clock, app[OBJECT_STORE], tmp_path)
    base = str(server.make_url("/")).rstrip("/")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            for username, (home, pages) in _journeys(ids).items():
                for width in WIDTHS:
                    await _journey(browser, base, username, home, pages, width)
            await _privacy_desk_cannot_misfire(browser, base, ids)
        finally:
            await browser.close()


async def _privacy_desk_cannot_misfire(browser: Browser, base: str, ids: dict[str, int]) -> None:
    """An access request offers no erasure; the erasure request's button is red and asks
    for the reference typed out."""
    context = await browser.new_context(viewport={"width": 390, "height": 800}, locale="nl-NL")
    try:
        page = await context.new_page()
        await _log_in(page, base, "privacy-officer")
        await page.goto(f"{base}/privacy/{ids['access']}")
        assert await page.locator("form[action$='/erase']").count() == 0
        assert await page.locator("form[action$='/export']").count() == 1
        await page.goto(f"{base}/privacy/{ids['erasure']}")
        assert await page.locator("form[action$='/export']").count() == 0
        button = page.locator("form[action$='/erase'] button.danger")
        color = await button.evaluate("b => getComputedStyle(b).backgroundColor")
        assert color == "rgb(180, 35, 24)"
        await page.fill("form[action$='/erase'] input[name=confirm]", f"P-{ids['erasure']}")
        assert await page.locator("#erase-confirm:valid").count() == 1
        await page.fill("form[action$='/erase'] input[name=confirm]", "ja")
        assert await page.locator("#erase-confirm:invalid").count() == 1
    finally:
        await context.close()
