"""One sweep function per retention rule (the `sweep` of each entry in rules.RULES).

Contract: `async def fn(job: Job) -> Outcome`. Delete at most `job.limit` items whose start
moment is at or before `job.cutoff` (now minus the rule's period), through the service-layer
delete functions, in `job.session` (the sweeper commits after each batch). With
`job.dry_run` count everything due instead and change nothing. Lock the picked rows with
`job.lock(stmt)` (PostgreSQL: FOR UPDATE SKIP LOCKED, so a second sweeper takes other rows)
and leave out `job.skip` (items that already failed in this run). Report items kept by a
hold in `kept_held` (only when `job.first`, so batches don't count them twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from recordings.queries import active_hold
from recordings.service import RecordingHeld, RecordingService
from storage.models import (
    ApiToken,
    AuditEvent,
    ContactFormSubmission,
    ContactPerson,
    HeldMessage,
    Organisation,
    Recording,
    RecordingTombstone,
    ServiceStatus,
    StaffSession,
    Ticket,
    TicketStatus,
)
from storage.objectstore.base import ObjectStore
from storage.services import audit, purge
from storage.services.audit import Actor

S = TypeVar("S", bound=Select[Any])
REASON = "retention period ended"


@dataclass
class Job:
    rule: str
    session: AsyncSession
    store: ObjectStore
    recordings: RecordingService
    actor: Actor
    now: datetime
    cutoff: datetime
    limit: int
    dry_run: bool = False
    first: bool = True
    skip_locked: bool = False
    skip: set[Any] = field(default_factory=set)

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


def _batch_done(job: Job, picked: int, outcome: Outcome) -> Outcome:
    outcome.more = picked >= job.limit
    return outcome


async def _bulk(
    job: Job, model: Any, start: Any, subject: str, *, strip_audit: bool = False
) -> Outcome:
    """Rules whose items have no objects and no holds: delete a batch of rows whose start
    moment (an indexed column, so an empty sweep is one index probe) is past the cutoff,
    and write one audit event per batch."""
    key = model.id
    stmt = select(key).where(start <= job.cutoff)
    if job.dry_run:
        return Outcome(deleted=await job.count(stmt))
    stmt = job.lock(stmt.order_by(start, key).limit(job.limit), model)
    ids = list(await job.session.scalars(stmt))
    if ids:
        if strip_audit:
            await purge.strip_audit(job.session, subject, ids)
        await job.session.execute(
            delete(model).where(key.in_(ids)).execution_options(synchronize_session=False)
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
    """An evidence/training hold on a recording of the ticket keeps the ticket too."""
    return active_hold(Recording.ticket_id == Ticket.id)


async def support_information(job: Job) -> Outcome:
    due = and_(Ticket.status == TicketStatus.CLOSED, Ticket.closed_at <= job.cutoff)
    outcome = Outcome()
    if job.first or job.dry_run:
        outcome.kept_held = await job.count(select(Ticket.id).where(due, _ticket_held()))
    stmt = select(Ticket.id).where(due, ~_ticket_held())
    if job.dry_run:
        outcome.deleted = await job.count(stmt)
        return outcome
    if job.skip:
        stmt = stmt.where(Ticket.id.not_in(job.skip))
    stmt = job.lock(stmt.order_by(Ticket.closed_at, Ticket.id).limit(job.limit), Ticket)
    ids = list(await job.session.scalars(stmt))
    result = await purge.delete_tickets(
        job.session, job.store, ids, actor=job.actor, at=job.now, reason=REASON
    )
    outcome.deleted, outcome.failed = len(result.deleted), result.failed
    return _batch_done(job, len(ids), outcome)


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
    for recording_id in ids:
        try:
            async with job.session.begin_nested():
                await job.recordings.delete_recording(
                    job.session, recording_id, actor=job.actor, reason=REASON, at=job.now
                )
        except RecordingHeld as exc:
            outcome.kept_held += 1
            outcome.failed[recording_id] = exc.message
        else:
            outcome.deleted += 1
    return _batch_done(job, len(ids), outcome)


async def recording_tombstones(job: Job) -> Outcome:
    return await _bulk(
        job, RecordingTombstone, RecordingTombstone.deleted_at, "recording_tombstone"
    )


async def staff_sessions(job: Job) -> Outcome:
    return await _bulk(job, StaffSession, StaffSession.expires_at, "staff_session")


async def api_tokens(job: Job) -> Outcome:
    return await _bulk(job, ApiToken, ApiToken.revoked_at, "api_token")


async def audit_events(job: Job) -> Outcome:
    return await _bulk(job, AuditEvent, AuditEvent.occurred_at, "audit_event")


async def held_messages(job: Job) -> Outcome:
    """Bot messages still waiting for the customer to pick a ticket. An answered one has
    already become a ticket message (and left this table), so what is here went unanswered.
    The table only holds those pending messages: scanning it is cheap without an index."""
    return await _bulk(job, HeldMessage, HeldMessage.created_at, "held_message")


async def contact_form_submissions(job: Job) -> Outcome:
    """The form's own record; the ticket it opened follows the support rule."""
    return await _bulk(
        job,
        ContactFormSubmission,
        ContactFormSubmission.created_at,
        "contact_form_submission",
        strip_audit=True,
    )


async def ended_service_contacts(job: Job) -> Outcome:
    """Contact persons of organisations whose service ended (on the end date, UTC; an
    ended service without a date counts as ended now)."""
    stmt = (
        select(ContactPerson.id)
        .join(Organisation, Organisation.id == ContactPerson.organisation_id)
        .where(
            Organisation.service_status == ServiceStatus.ENDED,
            or_(
                Organisation.service_end_date.is_(None),
                Organisation.service_end_date <= job.cutoff.date(),
            ),
        )
    )
    if job.dry_run:
        return Outcome(deleted=await job.count(stmt))
    if job.skip:
        stmt = stmt.where(ContactPerson.id.not_in(job.skip))
    stmt = job.lock(stmt.order_by(ContactPerson.id).limit(job.limit), ContactPerson)
    ids = list(await job.session.scalars(stmt))
    result = await purge.delete_contacts(
        job.session, ids, actor=job.actor, at=job.now, reason=REASON
    )
    return _batch_done(job, len(ids), Outcome(deleted=len(result.deleted)))
