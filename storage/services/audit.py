"""Audit trail: every state change records who did what to which subject, in the same
transaction as the change itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from storage.models import AuditEvent, StaffUser

# On the table, not the entity: a plain Core INSERT without the ORM bulk-insert machinery.
_INSERT = insert(AuditEvent.__table__)
_AT_COMMIT = "audit_rows_at_commit"  # session.info key


@dataclass(frozen=True)
class Actor:
    kind: str  # staff | customer | system
    id: int | None = None
    label: str = ""

    @classmethod
    def staff(cls, user: StaffUser) -> Actor:
        return cls("staff", user.id, user.username)

    @classmethod
    def customer(cls, contact_id: int | None, label: str = "") -> Actor:
        return cls("customer", contact_id, label)

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls("system", None, label)


def _row(
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: int | str | None,
    at: datetime,
    details: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "occurred_at": at,
        "actor_type": actor.kind,
        "actor_id": None if actor.id is None else str(actor.id),
        "actor_label": actor.label,
        "action": action,
        "subject_type": subject_type,
        "subject_id": None if subject_id is None else str(subject_id),
        "details": details or {},
    }


def record(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: int | str | None,
    at: datetime,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (never commits by itself)."""
    event = AuditEvent(**_row(actor, action, subject_type, subject_id, at, details))
    session.add(event)
    return event


async def write(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: int | str | None,
    at: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    """`record` as one Core INSERT now: hot paths skip the unit-of-work flush at commit."""
    await session.execute(_INSERT, _row(actor, action, subject_type, subject_id, at, details))


async def record_many(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    subject_type: str,
    at: datetime,
    details_by_subject: dict[int | str, dict[str, Any]],
) -> None:
    """One event per subject in a single executemany (bulk deletes write thousands)."""
    if not details_by_subject:
        return
    await session.execute(
        insert(AuditEvent),
        [
            _row(actor, action, subject_type, subject_id, at, details)
            for subject_id, details in details_by_subject.items()
        ],
    )


def write_at_commit(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: int | str | None,
    at: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    """`write` for the hottest path (a customer's message): the event goes in at COMMIT of
    the caller's transaction, with every other one of it in a single executemany. The bot
    files many users' messages in one shared transaction; one INSERT each would be the
    largest share of its statements. Nothing reads these events before the commit."""
    rows = session.info.get(_AT_COMMIT)
    if rows is None:
        rows = session.info[_AT_COMMIT] = []
        sync = session.sync_session
        if not event.contains(sync, "before_commit", _insert_at_commit):
            event.listen(sync, "before_commit", _insert_at_commit)
            event.listen(sync, "after_transaction_end", _forget_at_end)
    rows.append(_row(actor, action, subject_type, subject_id, at, details))


def _insert_at_commit(session: Session) -> None:
    rows = session.info.pop(_AT_COMMIT, None)
    if rows:
        session.execute(_INSERT, rows)


def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # rolled back or closed: its events never happened
        session.info.pop(_AT_COMMIT, None)
