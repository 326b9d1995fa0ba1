"""Reading recordings for the API and admin lists: filters and a keyset cursor."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import AuditEvent, HoldKind, Recording, RecordingHold, RecordingTag
from storage.phones import normalise_phone
from storage.services.errors import N_, InvalidInput, NotFound
from storage.services.privacy import excluded_recordings
from storage.services.recording_port import active_hold

PAGE = 50


@dataclass(frozen=True)
class RecordingFilter:
    tag: str = ""
    held: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    number: str = ""  # caller or callee is this number, in E.164 (number_filter)
    ticket_id: int | None = None
    expiring_days: int | None = None  # not held and due within this many days
    see_withheld: bool = False  # may the number filter match a withheld caller?


@dataclass
class RecordingPage:
    items: list[Recording]
    next_cursor: str | None


def _encode(recording: Recording) -> str:
    raw = f"{recording.call_started_at.isoformat()}|{recording.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, ident = raw.split("|")
        started = datetime.fromisoformat(moment)
        if started.tzinfo is None:
            raise ValueError
        return started, int(ident)
    except ValueError:
        raise InvalidInput(N_("invalid cursor")) from None


def normal_tag(raw: str) -> str:
    """A tag as stored: lower-cased, single spaces ("Billing  Dispute" is "billing dispute")."""
    return " ".join(str(raw).split()).lower()


def number_filter(text: str) -> str:
    """The number filter's input in E.164 ("" for no filter): recordings are found by the
    number itself, in whatever notation either side was typed, never by a piece of text."""
    if not text.strip():
        return ""
    e164 = normalise_phone(text)
    if e164 is None:
        raise InvalidInput(
            N_("number: not a phone number (for example 06 1234 5678 or +31 20 765 4321)"),
        )
    return e164


def _filtered(filters: RecordingFilter, now: datetime) -> Select[tuple[Recording]]:
    stmt = select(Recording)
    if filters.tag:
        # Tags are stored normalised (normalise_tags; migration 0017 for older rows).
        tag = normal_tag(filters.tag)
        stmt = stmt.where(
            exists().where(RecordingTag.recording_id == Recording.id, RecordingTag.tag == tag)
        )
    if filters.held is not None:
        stmt = stmt.where(active_hold() if filters.held else ~active_hold())
    if filters.since is not None:
        stmt = stmt.where(Recording.call_started_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Recording.call_started_at < filters.until)
    if filters.number:
        caller = Recording.caller_e164 == filters.number
        if not filters.see_withheld:
            # A shielded number must not be discoverable by searching for it.
            caller = and_(caller, Recording.caller_withheld.is_(False))
        stmt = stmt.where(or_(caller, Recording.callee_e164 == filters.number))
    if filters.ticket_id is not None:
        stmt = stmt.where(Recording.ticket_id == filters.ticket_id)
    if filters.expiring_days is not None:
        stmt = stmt.where(
            Recording.expires_at <= now + timedelta(days=filters.expiring_days), ~active_hold()
        )
    return stmt


async def list_recordings(
    session: AsyncSession,
    filters: RecordingFilter,
    *,
    now: datetime,
    cursor: str | None = None,
    limit: int = PAGE,
) -> RecordingPage:
    """Newest call first."""
    limit = max(1, min(limit, 200))
    stmt = (
        _filtered(filters, now)
        .options(selectinload(Recording.tags), selectinload(Recording.holds))
        .order_by(Recording.call_started_at.desc(), Recording.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        started, ident = _decode(cursor)
        stmt = stmt.where(
            or_(
                Recording.call_started_at < started,
                and_(Recording.call_started_at == started, Recording.id < ident),
            )
        )
    rows = list(await session.scalars(stmt))
    next_cursor = _encode(rows[limit - 1]) if len(rows) > limit else None
    return RecordingPage(rows[:limit], next_cursor)


async def all_tags(session: AsyncSession) -> list[str]:
    """Every tag in use, once each, for the autocomplete list."""
    return list(
        await session.scalars(select(RecordingTag.tag).distinct().order_by(RecordingTag.tag))
    )


async def audit_trail(session: AsyncSession, recording_id: int, limit: int = 200) -> list:
    return list(
        await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_type == "recording")
            .where(AuditEvent.subject_id == str(recording_id))
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )


async def training_library(session: AsyncSession) -> list[Recording]:
    """Recordings under an active training hold, newest call first."""
    training = active_hold(RecordingHold.kind == HoldKind.TRAINING)
    # Recordings of people who restricted processing, withdrew consent or objected are
    # left out of training (found through the subject index).
    not_excluded = Recording.id.not_in(await excluded_recordings(session))
    return list(
        await session.scalars(
            select(Recording)
            .where(training, not_excluded)
            .options(selectinload(Recording.tags), selectinload(Recording.holds))
            .order_by(Recording.call_started_at.desc(), Recording.id.desc())
        )
    )


async def recording_of_hold(session: AsyncSession, hold_id: int) -> int:
    recording_id = await session.scalar(
        select(RecordingHold.recording_id).where(RecordingHold.id == hold_id)
    )
    if recording_id is None:
        raise NotFound(N_("hold {hold_id} not found"), hold_id=hold_id)
    return recording_id


async def load_recording(session: AsyncSession, recording_id: int) -> Recording:
    """The recording with its holds and tags, fresh from the database."""
    recording = await session.scalar(
        select(Recording)
        .where(Recording.id == recording_id)
        .options(selectinload(Recording.holds), selectinload(Recording.tags))
        .execution_options(populate_existing=True)
    )
    if recording is None:
        raise NotFound(N_("recording {recording_id} not found"), recording_id=recording_id)
    return recording


async def training_recording(session: AsyncSession, recording_id: int) -> Recording:
    """A recording as the trainer library shows it: under an active training hold and not
    left out for a privacy right (restriction, objection, withdrawn consent)."""
    recording = await load_recording(session, recording_id)
    held = any(h.kind == HoldKind.TRAINING and h.released_at is None for h in recording.holds)
    if not held or recording.id in await excluded_recordings(session):
        raise NotFound(N_("recording not in the training library"))
    return recording
