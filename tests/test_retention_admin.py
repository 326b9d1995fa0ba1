"""Retention in the admin: the schedule page generated from the rules (nl/en), the run
history, holds due for review, permissions, and the periodic sweep inside the app."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World, login
from retention_helpers import hold, recording, sweeper
from sqlalchemy import select

from admin.app import create_app
from admin.keys import SESSIONMAKER, SETTINGS
from storage.config import ConfigError, Settings, load_settings
from storage.models import RetentionRun, StaffRole
from storage.objectstore import LocalObjectStore
from storage.retention.holds import due_for_review, render_summary
from storage.retention.rules import RULES

pytestmark = pytest.mark.storage


async def test_schedule_reads_like_the_statement_in_both_languages(world: World) -> None:
    client = world.client
    await login(client, world.users[StaffRole.PRIVACY_OFFICER].username)
    page = await client.get("/retention")
    assert page.status == 200
    html = await page.text()
    for rule in RULES:
        assert f'id="rule-{rule.key}"' in html
        assert rule.data.nl in html and rule.ground.nl in html
    assert "<td>3 jaar</td>" in html and "<td>90 dagen</td>" in html
    assert "Tot einde dienstverlening".lower() in html.lower()
    client.session.cookie_jar.update_cookies({"lang": "en"})
    html_en = await (await client.get("/retention")).text()
    assert "Recordings of calls to us" in html_en and "<td>3 years</td>" in html_en
    assert "Performance of the contract" in html_en
    # The statement's rows the desk never stores are on the page too, with their period.
    assert "Usage data of VoIP and mobile" in html_en and "<td>6 months</td>" in html_en
    assert "legal interception obligation" in html_en
    assert 'id="rule-contact_persons"' in html and "Gebruiksgegevens VoIP en mobiel" in html
    assert "wettelijke aftapverplichting" in html and "<td>6 maanden</td>" in html

    for role, status in [(StaffRole.AGENT, 403), (StaffRole.TRAINER, 403), (StaffRole.ADMIN, 200)]:
        await login(client, world.users[role].username)
        assert (await client.get("/retention")).status == status
        assert (await client.get("/retention/holds")).status == status


async def test_run_history_and_holds_due_for_review(world: World, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    clock = world.clock
    async with world.sessions() as s:
        rec = await recording(s, store, clock.now() - timedelta(days=100))
        rec_id = rec.id
        await s.commit()
    async with world.sessions() as s:
        await hold(s, store, clock, rec_id)
        # What a sweeper killed outright (SIGKILL) leaves behind, hours ago.
        started = clock.now() - timedelta(hours=7)
        s.add(RetentionRun(started_at=started, as_of=started, status="running", summary={}))
        await s.commit()
    result = await sweeper(world.sessions, store, clock).run()
    assert result.rules["recordings"].kept_held == 1

    client = world.client
    await login(client, world.users[StaffRole.PRIVACY_OFFICER].username)
    html = await (await client.get("/retention")).text()
    assert "1 bewaard (blokkade)" in html and "<td>klaar" in html
    assert "<td>onderbroken" in html and "bezig" not in html
    # The run table's headings are the rules' names, never their internal keys.
    assert "<th>Supportinformatie</th>" in html and "<th>Gespreksopnames</th>" in html
    for rule in RULES:
        assert f"<th>{rule.key}</th>" not in html
    assert "<td>done" not in html and "<td>interrupted" not in html
    client.session.cookie_jar.update_cookies({"lang": "en"})
    html_en = await (await client.get("/retention")).text()
    assert "<td>done" in html_en and "<td>interrupted" in html_en
    assert "<th>Support information</th>" in html_en and "<th>Call recordings</th>" in html_en
    assert "<th>support_information</th>" not in html_en
    client.session.cookie_jar.update_cookies({"lang": "nl"})

    holds_html = await (await client.get("/retention/holds")).text()
    assert "Geen blokkades ter beoordeling." in holds_html
    clock.advance(timedelta(days=731))  # evidence holds are reviewed after two years
    await login(client, world.users[StaffRole.PRIVACY_OFFICER].username)
    holds_html = await (await client.get("/retention/holds")).text()
    assert f'href="/recordings/{rec_id}"' in holds_html and "geschil factuur" in holds_html
    async with world.sessions() as s:
        due = await due_for_review(s, clock.now())
    summary = render_summary(due, clock.now(), world.client.server.app[SETTINGS].zone)
    assert "Blokkades ter beoordeling" in summary and f"recording {rec_id}" in summary
    assert "geschil" not in summary  # reasons may name people: not in the daily summary
    async with world.sessions() as s:  # nothing released automatically
        assert [h.hold_id for h in await due_for_review(s, clock.now())] == [due[0].hold_id]


async def test_run_history_says_why_tickets_went_and_contacts_stayed(world: World) -> None:
    """The breakdown a sweep stores (storage.retention.jobs reasons) reads in both languages."""
    summary = {
        "support_information": {
            "deleted": 3,
            "deleted_by": {"closed": 1, "inactive": 2},
            "kept_held": 0,
            "kept": {},
            "failed": 0,
        },
        "contact_persons": {
            "deleted": 0,
            "deleted_by": {},
            "kept_held": 0,
            "kept": {"open_privacy_request": 1},
            "failed": 0,
        },
    }
    now = world.clock.now()
    async with world.sessions() as s:
        s.add(RetentionRun(started_at=now, as_of=now, status="done", summary=summary))
        await s.commit()
    client = world.client
    await login(client, world.users[StaffRole.PRIVACY_OFFICER].username)
    html = await (await client.get("/retention")).text()
    assert "3 verwijderd (1 na sluiten, 2 niet gesloten, geen activiteit)" in html
    assert "0 verwijderd, 1 bewaard (open privacyverzoek)" in html
    client.session.cookie_jar.update_cookies({"lang": "en"})
    html_en = await (await client.get("/retention")).text()
    assert "3 deleted (1 after closing, 2 never closed, inactive)" in html_en
    assert "1 kept (open privacy request)" in html_en


async def test_app_sweeps_periodically(aiohttp_client, engine, settings: Settings) -> None:
    fast = settings.model_copy(update={"retention_sweep_interval": 1})
    client = await aiohttp_client(create_app(fast, engine=engine))
    async with asyncio.timeout(15):
        while True:
            async with client.server.app[SESSIONMAKER]() as s:
                run = await s.scalar(select(RetentionRun).where(RetentionRun.trigger == "serve"))
            if run is not None and run.status == "done":
                break
            await asyncio.sleep(0.2)
    assert set(run.summary) == {rule.key for rule in RULES}


def test_bad_retention_periods_stop_start_up(settings: Settings) -> None:
    bad = load_settings(data_dir=settings.data_dir, retention_periods='{"tickets": 5}')
    with pytest.raises(ConfigError, match="SUPPORTDESK_RETENTION_PERIODS: unknown retention"):
        create_app(bad)
    with pytest.raises(ConfigError, match=r"SUPPORTDESK_RETENTION_PERIODS: .*JSON"):
        load_settings(retention_periods="recordings=60")
    with pytest.raises(ConfigError, match=r"SUPPORTDESK_RETENTION_PERIODS: .*0 or more"):
        load_settings(retention_periods='{"recordings": -1}')
    good = load_settings(retention_periods='{"recordings": 60}')
    assert good.retention_period_days == {"recordings": 60}
