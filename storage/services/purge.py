"""Deleting support information and contact persons: one path for manual deletes, erasure
and the retention sweeper.

Objects go first, then rows: a crash in between leaves rows whose objects are already gone,
and a re-run (or `supportdesk reconcile --fix`) finishes the job because deleting an absent
object is fine. Audit events about a deleted subject are stripped of personal data (the
event itself, who/what/when, stays). Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Attachment, AuditEvent, ContactPerson, Ticket
from storage.objectstore.base import ObjectStore, ObjectStoreError
from storage.services import audit
from storage.services.audit import Actor

STRIPPED = {"stripped": "subject deleted"}
# SQLite FTS5 trigram tables of migrations 0012 and 0014 (external content: the texts live
# in their tables, the index holds trigrams and row ids).
SEARCH_INDEXES = ("ticket_search", "ticket_message_search", "contact_search", "contact_form_search")


@dataclass
class PurgeResult:
    deleted: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


async def strip_audit(
    session: AsyncSession, subject_type: str, ids: Sequence[int], *, as_customer: bool = False
) -> None:
    """Blank the details of events about these subjects; with `as_customer` also the label
    of events these contact persons caused themselves."""
    keys = [str(i) for i in ids]
    if not keys:
        return
    await session.execute(
        update(AuditEvent)
        .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id.in_(keys))
        .values(details=STRIPPED)
        .execution_options(synchronize_session=False)
    )
    if as_customer:
        await session.execute(
            update(AuditEvent)
            .where(AuditEvent.actor_type == "customer", AuditEvent.actor_id.in_(keys))
            .values(actor_label="")
            .execution_options(synchronize_session=False)
        )


async def delete_tickets(
    session: AsyncSession,
    store: ObjectStore,
    ticket_ids: Sequence[int],
    *,
    actor: Actor,
    at: datetime,
    reason: str,
) -> PurgeResult:
    """Delete tickets with their messages and attachments (objects first, then rows)."""
    result = PurgeResult()
    if not ticket_ids:
        return result
    rows = await session.execute(
        select(Attachment.ticket_id, Attachment.object_key, Attachment.version_id).where(
            Attachment.ticket_id.in_(ticket_ids)
        )
    )
    for ticket_id, key, version_id in rows:
        if ticket_id in result.failed:
            continue
        try:
            await store.delete(key, version_id=version_id)
        except ObjectStoreError as exc:
            result.failed[ticket_id] = f"attachment object not deleted: {type(exc).__name__}"
    ids = [i for i in ticket_ids if i not in result.failed]
    if not ids:
        return result
    references = dict(
        (await session.execute(select(Ticket.id, Ticket.reference).where(Ticket.id.in_(ids)))).all()
    )
    ids = [i for i in ids if i in references]
    await strip_audit(session, "ticket", ids)
    # Messages and attachments follow by ON DELETE CASCADE.
    await session.execute(
        delete(Ticket).where(Ticket.id.in_(ids)).execution_options(synchronize_session=False)
    )
    await audit.record_many(
        session,
        actor=actor,
        action="ticket.delete",
        subject_type="ticket",
        at=at,
        details_by_subject={i: {"reference": references[i], "reason": reason} for i in ids},
    )
    result.deleted = ids
    return result


async def delete_contacts(
    session: AsyncSession,
    contact_ids: Sequence[int],
    *,
    actor: Actor,
    at: datetime,
    reason: str,
) -> PurgeResult:
    """Delete contact persons; their tickets stay (support information has its own period)
    with the link set to NULL by the foreign key."""
    result = PurgeResult()
    if not contact_ids:
        return result
    ids = list(
        await session.scalars(select(ContactPerson.id).where(ContactPerson.id.in_(contact_ids)))
    )
    if not ids:
        return result
    await strip_audit(session, "contact", ids, as_customer=True)
    await session.execute(
        delete(ContactPerson)
        .where(ContactPerson.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    await audit.record_many(
        session,
        actor=actor,
        action="contact.delete",
        subject_type="contact",
        at=at,
        details_by_subject={i: {"reason": reason} for i in ids},
    )
    result.deleted = ids
    return result


async def compact_search_index(session: AsyncSession) -> None:
    """SQLite: rewrite each FTS5 index as one segment, so that the entries of deleted or
    replaced texts leave the index now instead of lingering behind delete markers until
    some later merge (secure_delete then zeroes the freed pages). Rewrites whole indexes:
    meant for erasure requests, which are rare. PostgreSQL's indexes are rebuilt by the
    rewrite after the commit (storage/services/disk_cleanup.py)."""
    await session.flush()  # the FTS triggers run with the pending deletes/updates
    if session.get_bind().dialect.name != "sqlite":
        return
    for table in SEARCH_INDEXES:
        await session.execute(text(f"INSERT INTO {table}({table}) VALUES ('optimize')"))
