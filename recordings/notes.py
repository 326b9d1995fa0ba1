"""Trainers' timestamped notes on recordings held for training: add, list, delete own.

Notes are staff notes about the call, so they live and die with the recording: the vault's
single delete path (RecordingService.delete_recording: by hand, API, retention sweep,
privacy erasure) deletes them, and the foreign key cascades as well. Their audit events
are about the recording, so a delete strips their details with the recording's others.
The caller owns the session and commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from recordings.queries import training_recording
from storage.models import RecordingNote, StaffRole, StaffUser
from storage.services import audit
from storage.services.audit import Actor
from storage.services.errors import N_, Forbidden, InvalidInput, NotFound

MAX_NOTE = 2000
NOTE_ROLES = frozenset({StaffRole.TRAINER, StaffRole.ADMIN})
# The vault's audit subject: events about notes are events about the recording.
SUBJECT = "recording"
NOTE_ADDED = "recording.note_added"
NOTE_DELETED = "recording.note_deleted"


@dataclass(frozen=True)
class NoteView:
    id: int
    position_ms: int
    text: str
    author: str  # username; empty once the account is gone
    author_staff_id: int | None
    created_at: datetime


def may_take_notes(role: StaffRole) -> bool:
    return role in NOTE_ROLES


def _require_role(user: StaffUser) -> None:
    if not may_take_notes(user.role):
        raise Forbidden(
            N_("training notes are for trainers and admins, not the {role} role"),
            role=user.role.value,
        )


def clock_text(position_ms: int) -> str:
    """mm:ss (h:mm:ss past an hour), as the player shows a moment."""
    seconds = position_ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


async def add_note(
    session: AsyncSession,
    recording_id: int,
    *,
    position_ms: int,
    text: str,
    author: StaffUser,
    now: datetime,
) -> RecordingNote:
    """A note at a moment of a recording in the training library; nothing is stored when
    the moment or the text is out of bounds."""
    _require_role(author)
    recording = await training_recording(session, recording_id)
    text = text.strip()
    if not text:
        raise InvalidInput(N_("a note needs a text"))
    if len(text) > MAX_NOTE:
        raise InvalidInput(N_("a note is at most {limit} characters"), limit=MAX_NOTE)
    length_ms = round(recording.duration_seconds * 1000)
    if position_ms < 0 or position_ms > length_ms:
        raise InvalidInput(
            N_("the moment must lie within the recording (0:00 to {length})"),
            length=clock_text(length_ms),
        )
    note = RecordingNote(
        recording_id=recording.id,
        position_ms=position_ms,
        text=text,
        author_staff_id=author.id,
        created_at=now,
    )
    session.add(note)
    await session.flush()
    audit.record(
        session,
        actor=Actor.staff(author),
        action=NOTE_ADDED,
        subject_type=SUBJECT,
        subject_id=recording.id,
        at=now,
        details={"note_id": note.id, "position_ms": position_ms},
    )
    await session.flush()
    return note


async def list_notes(session: AsyncSession, recording_id: int) -> list[NoteView]:
    """The recording's notes in playing order (ties: the older first)."""
    rows = await session.execute(
        select(RecordingNote, StaffUser.username)
        .outerjoin(StaffUser, StaffUser.id == RecordingNote.author_staff_id)
        .where(RecordingNote.recording_id == recording_id)
        .order_by(RecordingNote.position_ms, RecordingNote.id)
    )
    return [
        NoteView(
            id=note.id,
            position_ms=note.position_ms,
            text=note.text,
            author=username or "",
            author_staff_id=note.author_staff_id,
            created_at=note.created_at,
        )
        for note, username in rows
    ]


async def note_counts(session: AsyncSession, recording_ids: list[int]) -> dict[int, int]:
    """How many notes each of these recordings has (absent: none)."""
    if not recording_ids:
        return {}
    rows = await session.execute(
        select(RecordingNote.recording_id, func.count())
        .where(RecordingNote.recording_id.in_(recording_ids))
        .group_by(RecordingNote.recording_id)
    )
    return {recording_id: int(count) for recording_id, count in rows}


async def delete_note(
    session: AsyncSession, note_id: int, *, user: StaffUser, now: datetime
) -> int:
    """Delete one's own note; returns its recording's id."""
    _require_role(user)
    note = await session.get(RecordingNote, note_id, populate_existing=True)
    if note is None:
        raise NotFound(N_("note {note_id} not found"), note_id=note_id)
    await training_recording(session, note.recording_id)
    if note.author_staff_id != user.id:
        raise Forbidden(N_("only the author of a note may delete it"))
    recording_id = note.recording_id
    await session.delete(note)
    audit.record(
        session,
        actor=Actor.staff(user),
        action=NOTE_DELETED,
        subject_type=SUBJECT,
        subject_id=recording_id,
        at=now,
        details={"note_id": note_id, "position_ms": note.position_ms},
    )
    await session.flush()
    return recording_id


async def delete_recording_notes(session: AsyncSession, recording_id: int) -> int:
    """Every note of a recording that is being deleted; returns how many went."""
    result = await session.execute(
        delete(RecordingNote)
        .where(RecordingNote.recording_id == recording_id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
