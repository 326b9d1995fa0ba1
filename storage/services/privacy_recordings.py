"""A subject's recordings when a privacy right ends their use: erasure (GDPR art. 17),
objection (art. 21) and consent withdrawal (art. 7(3)). One rule for all three: an
evidence hold keeps the recording (art. 17(3)(e), legal claims); a training hold yields,
released with the request as its documented reason (audited on the request); the
recording then goes through the vault's hold-checked delete (RecordingEraser port). The
recordings are those of the subject index (by number, by ticket, by a waiting erasure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import HoldKind, RecordingHold, StaffRole
from storage.objectstore.base import ObjectStoreError
from storage.services import audit
from storage.services.audit import Actor
from storage.services.recording_port import RecordingBusy, RecordingEraser, RecordingHeld
from storage.services.subject import SubjectIndex


@dataclass
class RecordingOutcome:
    erased: list[int] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)  # under an evidence hold
    waiting: dict[int, str] = field(default_factory=dict)  # object store errors
    keep_tickets: set[int] = field(default_factory=set)  # what kept recordings are about


async def _yield_and_delete(
    session: AsyncSession,
    recordings: RecordingEraser,
    recording_id: int,
    training: list[RecordingHold],
    *,
    actor: Actor,
    reason: str,
) -> None:
    """Release the training holds, then delete. Each step commits (the vault calls the
    object store with no transaction open); a store that fails leaves the recording
    waiting, its training holds released: a re-run deletes it."""
    for hold in training:
        await recordings.release_hold(
            session, recording_id, hold.id, reason=reason, actor=actor,
            role=StaffRole.PRIVACY_OFFICER,
        )  # fmt: skip
    await recordings.delete_recording(session, recording_id, actor=actor, reason=reason)


async def delete_subject_recordings(
    session: AsyncSession,
    recordings: RecordingEraser,
    found: SubjectIndex,
    *,
    actor: Actor,
    reason: str,
    request_id: int | None,
    now: datetime,
    action: str = "privacy.erasure.hold_released",
) -> RecordingOutcome:
    holds: dict[int, list[RecordingHold]] = {}
    for hold in found.recording_holds:
        if hold.released_at is None:
            holds.setdefault(hold.recording_id, []).append(hold)
    outcome = RecordingOutcome()
    for recording in found.recordings:
        active = holds.get(recording.id, [])
        kept = any(h.kind == HoldKind.EVIDENCE for h in active)
        if not kept:
            try:
                await _yield_and_delete(
                    session, recordings, recording.id, active, actor=actor, reason=reason
                )
            except RecordingHeld:  # an evidence hold placed meanwhile
                kept = True
            except (ObjectStoreError, RecordingBusy) as exc:
                outcome.waiting[recording.id] = f"object: {type(exc).__name__}"
                continue
        if kept:
            outcome.kept.append(recording.id)
            if recording.ticket_id is not None:
                outcome.keep_tickets.add(recording.ticket_id)
            continue
        outcome.erased.append(recording.id)
        for hold in active:  # the released training holds, on the request
            audit.record(
                session,
                actor=actor,
                action=action,
                subject_type="privacy_request" if request_id is not None else "recording",
                subject_id=request_id if request_id is not None else recording.id,
                at=now,
                details={"recording_id": recording.id, "hold_id": hold.id, "kind": "training"},
            )
    return outcome
