"""One sweep function per retention rule (the `sweep` of each entry in rules.RULES).

Contract: `async def fn(job: Job) -> Outcome`. Delete at most `job.limit` items whose start
moment is at or before `job.cutoff` (now minus the rule's period), through the service-layer
delete functions, in `job.session` (the sweeper commits after each batch). With
`job.dry_run` count everything due instead and change nothing. Lock the picked rows with
`job.lock(stmt)` (PostgreSQL: FOR UPDATE SKIP LOCKED, so a second sweeper takes other rows)
and leave out `job.skip` (items that already failed in this run). Report items kept by a
hold in `kept_held` (only when `job.first`, so batches don't count them twice); items due
but kept back for another reason go in `kept` by reason (same rule), and a rule whose items
are due for different reasons splits `deleted` by reason in `deleted_by`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, delete, exists, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import FrozenClock
from storage.models import (
    ApiToken,
    AuditEvent,
    ContactFormSubmission,
    ContactPerson,
    HoldKind,
    LoginFailure,
    Organisation,
    PrivacyRequest,
    Recording,
    RecordingHold,
    RecordingTombstone,
    ServiceStatus,
    StaffSession,
    Ticket,
    TicketPresence,
    TicketStatus,
    UnfiledMessage,
)
from storage.objectstore.base import ObjectStore, ObjectStoreError
from storage.services import audit, purge
from storage.services.audit import Actor
from storage.services.contact_form import FORM_SUBJECT, form_subject
from storage.services.errors import NotFound, ServiceError
from storage.services.privacy import OPEN as OPEN_REQUEST
from storage.services.recording_port import (
    RecordingBusy,
    RecordingHeld,
    RecordingRetention,
    active_hold,
)
from storage.services.tickets import TicketService
from storage.services.unfiled import FiledNotice, file_waiting

S = TypeVar("S", bound=Select[Any])
REASON = "retention period ended"
# An expired API token never revoked is kept this long after its expiry, then deleted.
EXPIRED_TOKEN_GRACE = timedelta(days=30)
# Why an item went (Outcome.deleted_by) or was kept back (Outcome.kept); labels for these
# keys live in admin/cli/retention.py and admin/retention.py.
CLOSED = "closed"  # support information: period counted from closing
INACTIVE = "inactive"  # support information: never closed, counted from the last activity
OPEN_PRIVACY_REQUEST = "open_privacy_request"  # contact kept until its request is closed
REVIEW_PASSED = "review_passed"  # training hold released: its review date passed
FILED = "filed"  # an unfiled bot message put on the customer's ticket instead of deleted
NOT_FILED = "not_filed"  # no way to tell the customer was given: kept, never deleted


@dataclass
class Job:
    rule: str
    session: AsyncSession
    store: ObjectStore
    recordings: RecordingRetention  # the vault, injected by the composition root
    actor: Actor
    now: datetime
    cutoff: datetime
    limit: int
    dry_run: bool = False
    first: bool = True
    skip_locked: bool = False
    skip: set[Any] = field(default_factory=set)
    # The bot's text for a message filed without the customer's choice (held_messages);
    # without it those messages are kept, never deleted.
    filed_notice: FiledNotice | None = None

    def lock(self, stmt: S, of: Any) -> S:
        return stmt.with_for_update(skip_locked=True, of=of) if self.skip_locked else stmt

    async def count(self, stmt: Select[Any]) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(stmt.subquery())))


@dataclass
class Outcome:
    deleted: int = 0  # dry run: would be deleted
    kept_held: int = 0
    failed: dict[Any, str] = field(default_factory=dict)
    more: bool = False  # a full batch went: there may be another
    deleted_by: dict[str, int] = field(default_factory=dict)  # `deleted` split by reason
    kept: dict[str, int] = field(default_factory=dict)  # due, kept back (not a hold), by reason


def _batch_done(job: Job, picked: int, outcome: Outcome) -> Outcome:
    outcome.more = picked >= job.limit
    return outcome


async def _bulk(
    job: Job,
    model: Any,
    start: Any,
    subject: str,
    *,
    strip_audit: bool = False,
    keys: tuple[Any, ...] = (),
    due: Any = None,
) -> Outcome:
    """Rules whose items have no objects and no holds: delete a batch of rows whose start
    moment (an indexed column, so an empty sweep is one index probe) is past the cutoff,
    and write one audit event per batch. `keys`: the primary key columns (default `id`);
    `due`: a condition instead of `start` at or before the cutoff (`start` then orders)."""
    keys = keys or (model.id,)
    stmt = select(*keys).where(start <= job.cutoff if due is None else due)
    if job.dry_run:
        return Outcome(deleted=await job.count(stmt))
    stmt = job.lock(stmt.order_by(start, *keys).limit(job.limit), model)
    rows = [tuple(row) for row in await job.session.execute(stmt)]
    ids = [row[0] for row in rows] if len(keys) == 1 else rows
    if ids:
        if strip_audit:
            await purge.strip_audit(job.session, subject, ids)
        picked = keys[0].in_(ids) if len(keys) == 1 else tuple_(*keys).in_(rows)
        await job.session.execute(
            delete(model).where(picked).execution_options(synchronize_session=False)
        )
        audit.record(
            job.session,
            actor=job.actor,
            action="retention.purge",
            subject_type=subject,
            subject_id=None,
            at=job.now,
            details={"rule": job.rule, "count": len(ids), "cutoff": job.cutoff.isoformat()},
        )
        await job.session.flush()
    return _batch_done(job, len(ids), Outcome(deleted=len(ids)))


def _ticket_held() -> Any:
    """An evidence hold on a recording of the ticket keeps the ticket too (the agreement
    the call is evidence of is in the ticket). A training hold does not: it keeps only its
    recording, which survives the ticket (its link is cut), so a ticket kept for nothing
    else follows its own period."""
    return active_hold(Recording.ticket_id == Ticket.id, RecordingHold.kind == HoldKind.EVIDENCE)


async def support_information(job: Job) -> Outcome:
    """A closed ticket is due a period after closing; one never closed (new/open/waiting,
    e.g. left waiting for a customer who never came back) a period after its last activity.
    Either way the later of the two counts: a note added after closing, or a reopen
    (clears `closed_at`, moves `last_activity_at`), starts the period again."""
    due = and_(
        Ticket.last_activity_at <= job.cutoff,
        or_(Ticket.closed_at.is_(None), Ticket.closed_at <= job.cutoff),
    )
    closed = Ticket.status == TicketStatus.CLOSED
    outcome = Outcome()
    if job.first or job.dry_run:
        outcome.kept_held = await job.count(select(Ticket.id).where(due, _ticket_held()))
    stmt = select(Ticket.id, closed).where(due, ~_ticket_held())
    if job.dry_run:
        outcome.deleted_by = {
            CLOSED: await job.count(stmt.where(closed)),
            INACTIVE: await job.count(stmt.where(~closed)),
        }
        outcome.deleted = sum(outcome.deleted_by.values())
        return outcome
    if job.skip:
        stmt = stmt.where(Ticket.id.not_in(job.skip))
    stmt = job.lock(stmt.order_by(Ticket.last_activity_at, Ticket.id).limit(job.limit), Ticket)
    was_closed = {ticket_id: bool(flag) for ticket_id, flag in await job.session.execute(stmt)}
    result = await purge.delete_tickets(
        job.session, job.store, list(was_closed), actor=job.actor, at=job.now, reason=REASON
    )
    outcome.deleted, outcome.failed = len(result.deleted), result.failed
    gone_closed = sum(was_closed[ticket_id] for ticket_id in result.deleted)
    outcome.deleted_by = {CLOSED: gone_closed, INACTIVE: len(result.deleted) - gone_closed}
    return _batch_done(job, len(was_closed), outcome)


async def call_recordings(job: Job) -> Outcome:
    """Reuses the vault's own due query and its single delete path (hold check included)."""
    # Rows carry expires_at = call + the vault's 90 days; shift the cutoff onto that scale
    # so that a deployment's own period still counts from the call.
    expires_cutoff = job.cutoff + job.recordings.policy.retention
    outcome = Outcome()
    if job.first or job.dry_run:
        outcome.kept_held = await job.count(
            select(Recording.id).where(Recording.expires_at <= expires_cutoff, active_hold())
        )
    if job.dry_run:
        outcome.deleted = len(await job.recordings.due_for_deletion(job.session, expires_cutoff))
        return outcome
    ids = await job.recordings.due_for_deletion(
        job.session, expires_cutoff, limit=job.limit, skip_locked=job.skip_locked, exclude=job.skip
    )
    # Each delete commits the session (no transaction stays open across its store call),
    # so a skip-locked batch is locked only until the first one; a recording another
    # sweeper took meanwhile is refused as busy, or gone, and left to it.
    for recording_id in ids:
        try:
            await job.recordings.delete_recording(
                job.session, recording_id, actor=job.actor, reason=REASON, at=job.now
            )
        except RecordingHeld as exc:
            await job.session.rollback()
            outcome.kept_held += 1
            outcome.failed[recording_id] = exc.message
        except (RecordingBusy, NotFound):  # another sweeper (or a request) has it
            await job.session.rollback()
        except (ServiceError, ObjectStoreError) as exc:  # the store stalled or refused
            await job.session.rollback()
            outcome.failed[recording_id] = str(getattr(exc, "message", type(exc).__name__))
        else:
            await job.session.commit()
            outcome.deleted += 1
    return _batch_done(job, len(ids), outcome)


async def training_holds(job: Job) -> Outcome:
    """Training holds past their review date (not renewed) are released through the vault
    (audited "review date passed"; the object's legal hold follows), so the recordings rule
    after this one deletes a recording whose 90 days are over. `deleted` counts releases.
    Evidence holds are never released here: they wait on the review page for a person."""
    stmt = select(RecordingHold.id, RecordingHold.recording_id).where(
        RecordingHold.kind == HoldKind.TRAINING,
        RecordingHold.released_at.is_(None),
        RecordingHold.review_at <= job.cutoff,
    )
    if job.dry_run:
        released = await job.count(stmt)
        return Outcome(deleted=released, deleted_by={REVIEW_PASSED: released} if released else {})
    if job.skip:
        stmt = stmt.where(RecordingHold.id.not_in(job.skip))
    stmt = stmt.order_by(RecordingHold.review_at, RecordingHold.id).limit(job.limit)
    rows = list(await job.session.execute(stmt))
    outcome = Outcome()
    # Each release commits (then sets the legal hold with no transaction open).
    for hold_id, recording_id in rows:
        try:
            await job.recordings.end_training_hold(
                job.session, recording_id, hold_id, actor=job.actor, at=job.now
            )
        except ObjectStoreError:  # released and committed; the next sweep sets the store
            outcome.deleted += 1
        except ServiceError as exc:  # renewed or released meanwhile: the next sweep decides
            await job.session.rollback()
            outcome.failed[hold_id] = exc.message
        else:
            outcome.deleted += 1
    if outcome.deleted:
        outcome.deleted_by = {REVIEW_PASSED: outcome.deleted}
    return _batch_done(job, len(rows), outcome)


async def recording_tombstones(job: Job) -> Outcome:
    return await _bulk(
        job, RecordingTombstone, RecordingTombstone.deleted_at, "recording_tombstone"
    )


async def staff_sessions(job: Job) -> Outcome:
    return await _bulk(job, StaffSession, StaffSession.expires_at, "staff_session")


async def api_tokens(job: Job) -> Outcome:
    """Revoked tokens go at the cutoff; expired ones never revoked EXPIRED_TOKEN_GRACE
    later (refused from their expiry on; /account lists them as expired meanwhile, so the
    owner sees why a script stopped working)."""
    due = or_(
        ApiToken.revoked_at <= job.cutoff,
        ApiToken.expires_at <= job.cutoff - EXPIRED_TOKEN_GRACE,
    )
    return await _bulk(job, ApiToken, ApiToken.id, "api_token", due=due)


async def audit_events(job: Job) -> Outcome:
    return await _bulk(job, AuditEvent, AuditEvent.occurred_at, "audit_event")


async def held_messages(job: Job) -> Outcome:
    """Bot messages still waiting for the customer to pick a ticket. An answered one has
    already become a ticket message (and left this table), so what is here went unanswered.
    The table only holds those pending messages: scanning it is cheap without an index.
    None is deleted: each is filed on the customer's most recent open ticket first (as the
    bot does after SUPPORTDESK_UNFILED_AFTER), so no message is ever lost."""
    due = select(UnfiledMessage.id).where(UnfiledMessage.created_at <= job.cutoff)
    if job.dry_run or job.filed_notice is None:
        waiting = await job.count(due)
        return Outcome(kept={FILED if job.dry_run else NOT_FILED: waiting} if waiting else {})
    service = TicketService(FrozenClock(job.now))
    filed = await file_waiting(
        job.session, service, job.filed_notice, cutoff=job.cutoff, limit=job.limit
    )
    return _batch_done(job, filed, Outcome(kept={FILED: filed} if filed else {}))


async def contact_form_submissions(job: Job) -> Outcome:
    """The form's own record goes after its year; the ticket it opened follows the support
    rule. Form tickets are titled by their question (support information); older ones were
    titled by the company, which is taken out now. The ticket is found
    by the submission's link (identity), and only a subject still as the form wrote it is
    reset (an agent's own subject is support information)."""
    stmt = select(
        ContactFormSubmission.id, ContactFormSubmission.ticket_id, ContactFormSubmission.company
    ).where(ContactFormSubmission.created_at <= job.cutoff)
    if job.dry_run:
        return Outcome(deleted=await job.count(stmt))
    stmt = job.lock(
        stmt.order_by(ContactFormSubmission.created_at, ContactFormSubmission.id).limit(job.limit),
        ContactFormSubmission,
    )
    rows = list(await job.session.execute(stmt))
    if not rows:
        return _batch_done(job, 0, Outcome())
    ids = [row.id for row in rows]
    for row in rows:
        copied = form_subject(row.company)
        if row.ticket_id is not None and copied != FORM_SUBJECT:
            await job.session.execute(
                update(Ticket)
                .where(Ticket.id == row.ticket_id, Ticket.subject == copied)
                .values(subject=FORM_SUBJECT)
                .execution_options(synchronize_session=False)
            )
    await purge.strip_audit(job.session, "contact_form_submission", ids)
    await job.session.execute(
        delete(ContactFormSubmission)
        .where(ContactFormSubmission.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    audit.record(
        job.session,
        actor=job.actor,
        action="retention.purge",
        subject_type="contact_form_submission",
        subject_id=None,
        at=job.now,
        details={"rule": job.rule, "count": len(ids), "cutoff": job.cutoff.isoformat()},
    )
    await job.session.flush()
    return _batch_done(job, len(ids), Outcome(deleted=len(ids)))


async def ended_service_contacts(job: Job) -> Outcome:
    """Contact persons of organisations whose service ended (on the end date, UTC; an
    ended service without a date counts as ended now). A contact with an open privacy
    request stays until the request is closed (the officer must still act on its subject),
    then goes at the next sweep."""
    due = (
        select(ContactPerson.id)
        .join(Organisation, Organisation.id == ContactPerson.organisation_id)
        .where(_service_ended(job))
    )
    open_request = exists().where(
        PrivacyRequest.contact_id == ContactPerson.id, PrivacyRequest.status.in_(OPEN_REQUEST)
    )
    outcome = Outcome()
    if job.first or job.dry_run:
        kept = await job.count(due.where(open_request))
        outcome.kept = {OPEN_PRIVACY_REQUEST: kept} if kept else {}
    stmt = due.where(~open_request)
    if job.dry_run:
        outcome.deleted = await job.count(stmt)
        return outcome
    if job.skip:
        stmt = stmt.where(ContactPerson.id.not_in(job.skip))
    stmt = job.lock(stmt.order_by(ContactPerson.id).limit(job.limit), ContactPerson)
    ids = list(await job.session.scalars(stmt))
    result = await purge.delete_contacts(
        job.session, ids, actor=job.actor, at=job.now, reason=REASON
    )
    outcome.deleted = len(result.deleted)
    return _batch_done(job, len(ids), outcome)


def _service_ended(job: Job) -> Any:
    """The organisation's service ended on or before the cutoff's day (UTC); an ended
    service without a date counts as ended now. One definition for every "until the end
    of service" rule (contact persons, billing name, delivery address)."""
    return and_(
        Organisation.service_status == ServiceStatus.ENDED,
        or_(
            Organisation.service_end_date.is_(None),
            Organisation.service_end_date <= job.cutoff.date(),
        ),
    )


async def organisation_service_data(job: Job) -> Outcome:
    """The billing name and the delivery address of an organisation whose service ended
    are blanked and the moment stamped; the row stays (its customer number and status are
    no personal data, and tickets and recordings keep counting by it)."""
    stmt = select(Organisation.id).where(
        _service_ended(job), Organisation.service_data_removed_at.is_(None)
    )
    if job.dry_run:
        return Outcome(deleted=await job.count(stmt))
    stmt = job.lock(stmt.order_by(Organisation.id).limit(job.limit), Organisation)
    ids = list(await job.session.scalars(stmt))
    if ids:
        await job.session.execute(
            update(Organisation)
            .where(Organisation.id.in_(ids))
            .values(name="", delivery_address=None, service_data_removed_at=job.now)
            .execution_options(synchronize_session=False)
        )
        audit.record(
            job.session,
            actor=job.actor,
            action="retention.purge",
            subject_type="organisation",
            subject_id=None,
            at=job.now,
            details={
                "rule": job.rule,
                "count": len(ids),
                "fields": ["delivery_address", "name"],
                "organisation_ids": ids,
            },
        )
        await job.session.flush()
    return _batch_done(job, len(ids), Outcome(deleted=len(ids)))


async def login_failures(job: Job) -> Outcome:
    """Failed logins (username + IP; the username may be a mistyped password). The throttle
    reads only its window (storage/services/access.py); the rest of the period is for
    security review. No index on `occurred_at`: the table holds only recent failures."""
    return await _bulk(job, LoginFailure, LoginFailure.occurred_at, "login_failure")


async def ticket_presence(job: Job) -> Outcome:
    """ "Also open by" heartbeats: stale after seconds (services/desk.PRESENCE_TTL); a row
    is left behind by every ticket page an agent closed."""
    return await _bulk(
        job,
        TicketPresence,
        TicketPresence.last_seen_at,
        "ticket_presence",
        keys=(TicketPresence.ticket_id, TicketPresence.staff_user_id),
    )
