"""Browser test of the listening room: Debian chromium driven by Playwright against the real
app (create_app, moto S3) under the real CSP, with real Ogg/Opus audio made by ffmpeg.

A trainer clicks the waveform at half way and the audio jumps there; adds a note at that
moment; after a reload a click on the note's time brings the player back to it; the arrow
keys move the player 10 seconds and space plays and pauses, but not while typing."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import collect_errors, launch, log_in
from playwright.async_api import Page, async_playwright
from recording_audio_helpers import make_audio
from recordings_web_fixtures import *  # noqa: F403  (fixture: vault)
from recordings_web_fixtures import PASSWORD, Vault
from sqlalchemy import select

from storage.models import AuditEvent, RecordingNote, StaffRole

pytestmark = [pytest.mark.storage, pytest.mark.browser]

SECONDS = 40
TOLERANCE = 1.5  # seconds: the player may run on a little between the action and the read


async def _current_time_near(page: Page, target: float) -> float:
    """Wait (with a deadline) until the audio's currentTime is near `target`; return it."""
    await page.wait_for_function(
        "([target, tolerance]) => Math.abs(document.querySelector('audio').currentTime"
        " - target) < tolerance",
        arg=[target, TOLERANCE],
        timeout=10_000,
    )
    return float(await page.evaluate("document.querySelector('audio').currentTime"))


async def _pause(page: Page) -> float:
    """Pause and wait until the element has settled (not seeking); the moment paused at."""
    await page.evaluate("document.querySelector('audio').pause()")
    await page.wait_for_function(
        "() => { const a = document.querySelector('audio'); return a.paused && !a.seeking; }",
        timeout=10_000,
    )
    return float(await page.evaluate("document.querySelector('audio').currentTime"))


async def test_trainer_seeks_takes_a_note_and_jumps_back_to_it(
    vault: Vault, tmp_path: Path
) -> None:
    created = await vault.create(make_audio(tmp_path, "wav_mulaw", seconds=SECONDS))
    ident = created["id"]
    placed = await vault.client.post(
        f"/api/v1/recordings/{ident}/holds",
        json={"kind": "training", "reason": "Goed voorbeeld"},
        headers=vault.tokens[StaffRole.AGENT],
    )
    assert placed.status == 201, await placed.text()
    base = str(vault.client.make_url("/")).rstrip("/")
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await launch(pw, "--autoplay-policy=no-user-gesture-required", "--mute-audio")
        try:
            page = await browser.new_page(locale="nl-NL")
            collect_errors(page, errors)
            await log_in(page, base, vault.users[StaffRole.TRAINER].username, PASSWORD)
            await page.goto(f"{base}/training/{ident}")
            # The script ran (controls shown) and no audio was fetched yet: no play audited.
            await page.locator(".player-controls").wait_for(state="visible")
            async with vault.sessions() as session:
                plays = select(AuditEvent).where(AuditEvent.action == "recording.play")
                assert list(await session.scalars(plays)) == []

            # Click the waveform half way: the player jumps there and plays.
            wave = page.locator(".waveform-seek")
            box = await wave.bounding_box()
            assert box is not None
            await wave.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
            duration = float(
                await page.evaluate("document.querySelector('[data-player]').dataset.duration")
            )
            await _current_time_near(page, duration / 2)
            moment = await _pause(page)
            assert abs(moment - duration / 2) < TOLERANCE
            width = await page.evaluate(
                "parseFloat(document.querySelector('.waveform-progress').style.width)"
            )
            assert abs(width - moment / duration * 100) < 1

            # Add a note at the player's moment (the form's hidden field, filled by the script).
            await page.fill("textarea[name=text]", "Hier vat de medewerker goed samen")
            await page.click("form[data-note-form] button[type=submit]")
            await page.wait_for_url(f"{base}/training/{ident}#note-*")
            async with vault.sessions() as session:
                note = await session.scalar(select(RecordingNote))
            assert note is not None and abs(note.position_ms / 1000 - moment) < 0.01

            # After a reload, a click on the note's time brings the player back there.
            await page.reload()
            await page.locator(".player-controls").wait_for(state="visible")
            link = page.locator(f"#note-{note.id} a.note-time")
            assert await link.inner_text() == f"0:{int(moment):02d}"
            await link.click()
            await _current_time_near(page, note.position_ms / 1000)
            back = await _pause(page)

            # Arrow keys (focus on the page, not in a field) move 10 s back and ahead.
            await page.locator("h1").click()
            await page.keyboard.press("ArrowLeft")
            await _current_time_near(page, back - 10)
            await page.keyboard.press("ArrowRight")
            await page.keyboard.press("ArrowRight")
            await _current_time_near(page, back + 10)
            # Typing in the note's text field keeps its arrows and spaces to itself.
            await _pause(page)
            await page.click("textarea[name=text]")
            await page.keyboard.press("ArrowLeft")
            await page.keyboard.press(" ")
            assert await page.evaluate("document.querySelector('audio').paused")
            assert abs(await _pause(page) - (back + 10)) < TOLERANCE
            # Space elsewhere plays, and pauses again.
            await page.locator("h1").click()
            await page.keyboard.press(" ")
            await page.wait_for_function("() => !document.querySelector('audio').paused")
            await page.keyboard.press(" ")
            await page.wait_for_function("() => document.querySelector('audio').paused")
            async with vault.sessions() as session:
                plays = list(
                    await session.scalars(
                        select(AuditEvent).where(AuditEvent.action == "recording.play")
                    )
                )
            assert len(plays) == 1 and plays[0].details.get("via") == "training"
        finally:
            await browser.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors
