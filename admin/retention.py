"""Retention in the admin: the schedule (generated from storage.retention.rules, so the page
cannot drift from what runs), the sweep-run history, holds due for review, and the periodic
sweep inside `serve` (a cleanup_ctx task)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import select

from admin.auth import Permission, requires
from admin.keys import CLOCK, DB, LANG, OBJECT_STORE, RECORDINGS, SESSIONMAKER, SETTINGS
from admin.middleware import render
from storage.config import ConfigError
from storage.models import RetentionRun
from storage.retention.holds import due_for_review
from storage.retention.rules import STATEMENT, UnknownRule, schedule
from storage.retention.sweeper import Sweeper

log = logging.getLogger(__name__)
RUNS_SHOWN = 50
FIRST_SWEEP_DELAY = 300  # seconds

LABELS: dict[str, dict[str, str]] = {
    "nl": {
        "title": "Bewaartermijnen",
        "data": "Type gegevens",
        "period": "Bewaartermijn",
        "start": "Vanaf",
        "controller": "Verantwoordelijke",
        "ground": "Grond voor verwerking",
        "runs": "Opschoonrondes",
        "started": "Gestart",
        "as_of": "Peildatum",
        "status": "Status",
        "dry_run": "proef",
        "deleted": "verwijderd",
        "kept_held": "bewaard (blokkade)",
        "failed": "mislukt",
        "no_runs": "Nog geen opschoonrondes.",
        "holds": "Blokkades ter beoordeling",
        "holds_intro": "Blokkades waarvan de beoordelingsdatum voorbij is. Een "
        "trainingsblokkade eindigt op haar datum tenzij verlengd; een bewijsblokkade wordt "
        "nooit automatisch vrijgegeven en blijft hier tot iemand beslist: verlengen (nieuwe "
        "datum) of vrijgeven.",
        "recording": "Opname",
        "kind": "Soort",
        "reason": "Reden",
        "placed": "Geplaatst door",
        "review": "Beoordelen op",
        "no_holds": "Geen blokkades ter beoordeling.",
        # Run table: a rule's short name and a run's status (never the internal key).
        "rule_support_information": "Supportinformatie",
        "rule_held_messages": "Wachtende berichten",
        "rule_recordings": "Gespreksopnames",
        "rule_recording_tombstones": "Sporen van verwijderde opnames",
        "rule_contact_form": "Contactformulier",
        "rule_contact_persons": "Contactpersonen",
        "rule_staff_sessions": "Inlogsessies",
        "rule_api_tokens": "API-sleutels",
        "rule_login_failures": "Mislukte inlogpogingen",
        "rule_ticket_presence": "Ook geopend door",
        # Why items went or were kept back (keys of storage.retention.jobs.Outcome).
        "why_closed": "na sluiten",
        "why_inactive": "niet gesloten, geen activiteit",
        "kept_open_privacy_request": "bewaard (open privacyverzoek)",
        "rule_audit_events": "Auditlog",
        "rule_privacy_id_copies": "Kopieën identiteitsbewijs",
        "rule_privacy_exports": "Privacy-exports",
        "run_running": "bezig",
        "run_done": "klaar",
        "run_failed": "mislukt",
        "run_interrupted": "onderbroken",
        "trigger_serve": "automatisch",
        "trigger_cli": "opdrachtregel",
        # The statement's table, row by row: which rule enforces it here, or why not.
        "statement": "De tabel van de privacyverklaring",
        "statement_intro": "Elke rij van de tabel: de regel die haar hier afdwingt en in welke "
        "code, of waarom de supportdesk deze gegevens niet opslaat.",
        "service": "Type dienst",
        "here": "Regel in de supportdesk",
        "enforced": "Afgedwongen in",
        "not_stored": "niet opgeslagen",
        "rule_training_holds": "Trainingsblokkades",
        "rule_organisation_service_data": "Bedrijfsnaam en leveradres",
        "why_review_passed": "vrijgegeven (herbeoordelingsdatum voorbij)",
    },
    "en": {
        "title": "Retention periods",
        "data": "Type of data",
        "period": "Retention period",
        "start": "Counted from",
        "controller": "Controller",
        "ground": "Legal ground",
        "runs": "Sweep runs",
        "started": "Started",
        "as_of": "As of",
        "status": "Status",
        "dry_run": "dry run",
        "deleted": "deleted",
        "kept_held": "kept (hold)",
        "failed": "failed",
        "no_runs": "No sweep runs yet.",
        "holds": "Holds due for review",
        "holds_intro": "Holds past their review date. A training hold ends on its date "
        "unless renewed; an evidence hold is never released automatically and stays here "
        "until someone decides: renew it (a new date) or release it.",
        "recording": "Recording",
        "kind": "Kind",
        "reason": "Reason",
        "placed": "Placed by",
        "review": "Review on",
        "no_holds": "No holds due for review.",
        "rule_support_information": "Support information",
        "rule_held_messages": "Held messages",
        "rule_recordings": "Call recordings",
        "rule_recording_tombstones": "Traces of deleted recordings",
        "rule_contact_form": "Contact form",
        "rule_contact_persons": "Contact persons",
        "rule_staff_sessions": "Login sessions",
        "rule_api_tokens": "API tokens",
        "rule_login_failures": "Failed logins",
        "rule_ticket_presence": "Also open by",
        "why_closed": "after closing",
        "why_inactive": "never closed, inactive",
        "kept_open_privacy_request": "kept (open privacy request)",
        "rule_audit_events": "Audit log",
        "rule_privacy_id_copies": "ID copies",
        "rule_privacy_exports": "Privacy exports",
        "run_running": "running",
        "run_done": "done",
        "run_failed": "failed",
        "run_interrupted": "interrupted",
        "trigger_serve": "automatic",
        "trigger_cli": "command line",
        "statement": "The privacy statement's table",
        "statement_intro": "Every row of the table: the rule enforcing it here and in which "
        "code, or why the support desk does not store that data.",
        "service": "Type of service",
        "here": "Rule in the support desk",
        "enforced": "Enforced in",
        "not_stored": "not stored",
        "rule_training_holds": "Training holds",
        "rule_organisation_service_data": "Billing name and delivery address",
        "why_review_passed": "released (review date passed)",
    },
}


@requires(Permission.RETENTION_VIEW)
async def retention_page(request: web.Request) -> web.Response:
    lang = request[LANG]
    rules = schedule(request.app[SETTINGS].retention_period_days)
    runs = list(
        await request[DB].scalars(
            select(RetentionRun).order_by(RetentionRun.id.desc()).limit(RUNS_SHOWN)
        )
    )
    return render(
        "retention.html",
        request,
        {
            "r": LABELS[lang if lang in LABELS else "nl"],
            "rules": rules,
            "runs": runs,
            "statement": STATEMENT,
        },
    )


@requires(Permission.RETENTION_VIEW)
async def holds_page(request: web.Request) -> web.Response:
    lang = request[LANG]
    now = request.app[CLOCK].now()
    holds = await due_for_review(request[DB], now)
    return render(
        "retention_holds.html",
        request,
        {"r": LABELS[lang if lang in LABELS else "nl"], "holds": holds, "now": now},
    )


async def sweep_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sweep every SUPPORTDESK_RETENTION_SWEEP_INTERVAL seconds while serving (0: off).
    Safe next to `supportdesk sweep` and other instances (see storage/retention/sweeper)."""
    settings = app[SETTINGS]
    interval = settings.retention_sweep_interval
    task = asyncio.create_task(_sweep_forever(app, interval)) if interval else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _sweep_forever(app: web.Application, interval: int) -> None:
    settings = app[SETTINGS]
    rules = schedule(settings.retention_period_days)
    # The first sweep soon after start: an instance restarted more often than the
    # interval must still sweep.
    delay = min(interval, FIRST_SWEEP_DELAY)
    while True:
        await asyncio.sleep(delay)
        delay = interval
        sweeper = Sweeper(
            app[SESSIONMAKER],
            app[OBJECT_STORE],
            app[CLOCK],
            rules,
            batch=settings.retention_batch_size,
            recordings=app[RECORDINGS],  # the settings' policy: deletes clear waveforms too
        )
        try:
            result = await sweeper.run(trigger="serve")
        except Exception as exc:  # the next interval tries again; the run row says why
            log.warning("retention sweep failed: %s", type(exc).__name__)
            continue
        deleted = sum(report.deleted for report in result.rules.values())
        log.info("retention sweep: %d deleted, %d failed", deleted, result.failed)


def install(app: web.Application) -> None:
    """The periodic sweep; call after the database and store contexts.
    A bad SUPPORTDESK_RETENTION_PERIODS stops start-up with one line naming it."""
    try:
        schedule(app[SETTINGS].retention_period_days)
    except UnknownRule as exc:
        raise ConfigError(f"configuration error: SUPPORTDESK_RETENTION_PERIODS: {exc}") from None
    app.cleanup_ctx.append(sweep_ctx)
