"""The recording vault's service layer: the one place where recordings change.

Called by the API, the admin and the CLI alike. The caller owns the AsyncSession and
commits; every change flushes and writes its audit event into the same transaction.
`delete_recording` is the single delete path (admin, API, sweeper, erasure requests):
it refuses while any hold is active, and the object store refuses too (legal hold).

No transaction stays open across an object-store call (a stalled store would otherwise
keep SQLite's write lock, or a PostgreSQL row lock, for as long as the call's deadline).
Holds, releases, adopted versions and deletes therefore commit the caller's session: the
change (or the decided delete) is committed first, the store is called with nothing open,
and the outcome is committed in a short transaction of its own (see `_sync_store` and
`delete_recording`). What a crash or a timeout leaves in between, `settle_store` (the
sweep, first thing) finishes.
The service implements storage's recording ports (storage/services/recording_port.py),
through which the sweeper and erasure requests reach it; RecordingHeld is defined there.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from recordings.audio import ARCHIVE_SUFFIX, AudioLimits, file_sha256, normalise
from recordings.notes import delete_recording_notes
from recordings.queries import load_recording, normal_tag
from recordings.waveform import waveform_path
from storage.clock import Clock
from storage.models import (
    HoldKind,
    Recording,
    RecordingHold,
    RecordingTag,
    RecordingTombstone,
    StaffRole,
    Ticket,
)
from storage.objectstore.base import (
    ObjectHeld,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailable,
)
from storage.phones import normalise_phone
from storage.retention.pending import clear_pending, record_pending
from storage.retention.rules import months_after
from storage.services import audit, purge
from storage.services.audit import Actor
from storage.services.errors import (
    N_,
    Conflict,
    Forbidden,
    InvalidInput,
    Joined,
    Message,
    NotFound,
    ServiceError,
)
from storage.services.recording_port import RecordingBusy, RecordingHeld, active_hold
from storage.tempdirs import temporary_directory

log = logging.getLogger(__name__)
RETENTION_TAG = "retention"
RETENTION_STANDARD = "standard"
RETENTION_HELD = "held"
KEY_PREFIX = "recordings"
WITHHELD_LABEL = "afgeschermd"
MAX_REASON = 2000
MAX_TAG = 64
MAX_TAGS = 50
SUBJECT = "recording"
# A call start this far ahead of our clock is PBX clock skew; beyond it the date is wrong and
# would push the 90-day expiry out.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# A training hold is reviewed at most this many calendar months ahead and ends on its review
# date unless renewed (the retention sweep's training_holds rule); an evidence hold needs a
# review date too, but only a person ends it.
TRAINING_REVIEW_MONTHS = 12
REVIEW_PASSED = "review date passed"
# How long a claim on a recording's store calls lasts: far longer than its calls may take
# (two calls, each with its deadline), so that a call given up and landing late comes
# before anyone else's. A claim left by a failed call holds off others until then.
SYNC_LEASE = timedelta(minutes=5)
# Changes arriving while the claim holder calls the store: it repeats at most this often.
SYNC_ROUNDS = 5
# A client that retries a hold (after a 503, a lost answer) within this window gets the hold
# it placed instead of a second one; it outlasts the lease so that a retry once the first
# call's claim has lapsed still finds it.
HOLD_RETRY_WINDOW = 2 * SYNC_LEASE
SETTLE_ACTOR = Actor.system("recording-store-settle")
# A hold's kind in a Dutch refusal: the words of the Dutch pages (privacy, retention).
# A hold as a refusal names it; translated with the refusal (storage/locales, "errors").
HOLD_NAMES = {HoldKind.TRAINING: N_("a training hold"), HoldKind.EVIDENCE: N_("an evidence hold")}
HOLD_ITEMS = {
    HoldKind.TRAINING: N_("training hold {hold_id} ({reason})"),
    HoldKind.EVIDENCE: N_("evidence hold {hold_id} ({reason})"),
}


@dataclass(frozen=True)
class StoreTarget:
    """What one claim holder sets in the store: the rows as they were at `revision`."""

    recording_id: int
    key: str
    version_id: str | None
    revision: int
    held: bool
    deleting: bool
    claim: str = ""
    synced: int = 0


@dataclass
class StoreSettleReport:
    synced: list[int] = field(default_factory=list)  # legal hold and tag set to the rows
    deleted: list[int] = field(default_factory=list)  # a decided delete finished
    failed: dict[int, str] = field(default_factory=dict)  # the store refused or stalled
    waiting: int = 0  # dry run: how many would be settled

    def lines(self) -> list[str]:
        return [
            f"recording store state: {len(self.synced)} legal holds set, "
            f"{len(self.deleted)} decided deletes finished, {len(self.failed)} failed"
            + (f", {self.waiting} waiting" if self.waiting else "")
        ] + [f"  recording {rid} not settled: {why}" for rid, why in self.failed.items()]


def _refuse_if_deleting(recording: Recording) -> None:
    if recording.delete_requested_at is not None:
        raise Conflict(
            N_("recording {recording_id} is being deleted; no hold can be placed"),
            recording_id=recording.id,
        )


class RecordingDeleted(Conflict):
    """The same audio (by sha256) was stored before and deleted: it is not taken again."""

    code = "recording_deleted"


@dataclass(frozen=True)
class RecordingPolicy:
    retention: timedelta = timedelta(days=90)
    training_review: timedelta = timedelta(days=365)
    evidence_review: timedelta = timedelta(days=730)
    audio: AudioLimits = field(default_factory=AudioLimits)
    temp_dir: Path | None = None
    # Where rendered waveforms are cached (`<sha256 of the archive>.svg`): a delete
    # removes the recording's picture too, or the cache would outlive the recording.
    waveform_dir: Path | None = None

    def review_period(self, kind: HoldKind) -> timedelta:
        return self.training_review if kind == HoldKind.TRAINING else self.evidence_review


@dataclass(frozen=True)
class IngestMetadata:
    caller: str | None = None
    caller_withheld: bool = False
    callee: str | None = None
    agent: str | None = None
    started_at: datetime | None = None
    ticket_id: int | None = None
    organisation_id: int | None = None
    filename: str = ""


@dataclass(frozen=True)
class IngestResult:
    recording: Recording
    created: bool


# --- permissions (release_hold enforces RELEASE_ROLES; pages use them to offer actions) ---

RELEASE_ROLES: dict[HoldKind, frozenset[StaffRole]] = {
    # Trainers only listen (read-only); whoever may flag for training may also unflag.
    HoldKind.TRAINING: frozenset({StaffRole.AGENT, StaffRole.PRIVACY_OFFICER, StaffRole.ADMIN}),
    HoldKind.EVIDENCE: frozenset({StaffRole.PRIVACY_OFFICER, StaffRole.ADMIN}),
}
DELETE_ROLES = frozenset({StaffRole.PRIVACY_OFFICER, StaffRole.ADMIN})
SEE_WITHHELD_ROLES = frozenset({StaffRole.PRIVACY_OFFICER})


def may_release_hold(kind: HoldKind, role: StaffRole) -> bool:
    """Evidence holds need privacy_officer or admin; training holds also an agent."""
    return role in RELEASE_ROLES[kind]


def may_delete_recording(role: StaffRole) -> bool:
    return role in DELETE_ROLES


def caller_for(recording: Recording, role: StaffRole) -> str | None:
    """A withheld caller number stays shielded: only the privacy officer sees it."""
    if recording.caller_withheld and role not in SEE_WITHHELD_ROLES:
        return WITHHELD_LABEL
    return recording.caller


# A PBX names its files after the call (FreePBX: in-<number>-<exten>-<date>-<time>-<id>):
# any long run of digits may be the shielded number, in whatever notation.
_NUMBER_LIKE = re.compile(r"\+?\d{6,}")


def shield_filename(filename: str) -> str:
    return _NUMBER_LIKE.sub(WITHHELD_LABEL, filename)


def filename_for(recording: Recording, role: StaffRole) -> str:
    """The original file name, with a withheld caller's number shielded like `caller_for`."""
    if recording.caller_withheld and role not in SEE_WITHHELD_ROLES:
        return shield_filename(recording.original_filename)
    return recording.original_filename


def active_holds(recording: Recording) -> list[RecordingHold]:
    return [hold for hold in recording.holds if hold.released_at is None]


def normalise_tags(tags: Iterable[str]) -> list[str]:
    """Tags lower-cased with single spaces, once each: "Escalation" and "escalation" are one
    tag, and the primary key (recording, tag) then keeps them unique per recording."""
    result: list[str] = []
    for raw in tags:
        tag = normal_tag(raw)
        if not tag:
            continue
        if len(tag) > MAX_TAG:
            raise InvalidInput(
                N_("tag {tag!r}… is longer than {limit} characters"), tag=tag[:20], limit=MAX_TAG
            )
        if tag not in result:
            result.append(tag)
    if len(result) > MAX_TAGS:
        raise InvalidInput(N_("at most {max_tags} tags per recording"), max_tags=MAX_TAGS)
    return sorted(result)


class HoldRecordedStoreBehind(ObjectStoreUnavailable):
    """The hold is saved, but the object store did not answer in time: still a 503 (the
    stored audio is not yet held), with the hold's id so that the client need not retry."""

    def __init__(self, hold_id: int) -> None:
        super().__init__(
            N_(
                "hold {hold_id} is recorded, but the object store did not answer within its "
                "deadline; the retention sweep applies the hold to the stored audio later "
                "(placing it again returns this hold)"
            ),
            hold_id=hold_id,
        )
        self.details = {"hold_id": hold_id, "hold_recorded": True}


def _retried_hold(
    recording: Recording,
    kind: HoldKind,
    reason: str,
    placed_by: str,
    review_at: datetime | None,
    now: datetime,
) -> RecordingHold | None:
    """The active hold a retry of this placement would duplicate, if any (a review date
    asked for must match too; the default one moves with the clock)."""
    return next(
        (
            h
            for h in active_holds(recording)
            if h.kind == kind
            and h.reason == reason
            and h.placed_by == placed_by
            and (review_at is None or h.review_at == review_at)
            and now - HOLD_RETRY_WINDOW <= h.placed_at <= now
        ),
        None,
    )


def _actor_label(actor: Actor) -> str:
    return actor.label or (f"{actor.kind}:{actor.id}" if actor.id is not None else actor.kind)


def _require_aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput(
            N_("{name} needs a time zone (e.g. 2026-01-31T10:00:00+01:00)"),
            name=name,
        )
    return moment


def _check_review(kind: HoldKind, review_at: datetime, now: datetime) -> datetime:
    """A review date in the future; a training hold's at most 12 months ahead."""
    _require_aware(review_at, "review_at")
    if review_at <= now:
        raise InvalidInput(N_("the review date must be in the future"))
    latest = months_after(now, TRAINING_REVIEW_MONTHS)
    if kind == HoldKind.TRAINING and review_at > latest:
        raise InvalidInput(
            N_(
                "a training hold's review date is at most {months} months ahead (on or "
                "before {latest:%Y-%m-%d}); renew the hold when that date comes"
            ),
            months=TRAINING_REVIEW_MONTHS,
            latest=latest,
        )
    return review_at


def _sha256_if_file(path: Path) -> tuple[str, int] | None:
    """(digest, size) for the idempotency check, handed on to normalise so that the file
    is hashed once; None when unreadable (normalise then explains)."""
    try:
        return file_sha256(path) if path.is_file() else None
    except OSError:
        return None


class RecordingService:
    def __init__(
        self, clock: Clock, store: ObjectStore, policy: RecordingPolicy | None = None
    ) -> None:
        self.clock = clock
        self.store = store
        self.policy = policy or RecordingPolicy()

    # --- reading --------------------------------------------------------------------

    async def get(self, session: AsyncSession, recording_id: int) -> Recording:
        return await load_recording(session, recording_id)

    async def _lock(
        self, session: AsyncSession, recording_id: int, *, deleting: bool = False
    ) -> Recording:
        """The recording with its holds, read under a lock on its row that lasts until
        commit (a short transaction: the callers commit before any store call): holds,
        releases and delete decisions of one recording then run one after the other, each
        deciding from the committed state of the others.
        PostgreSQL: FOR NO KEY UPDATE (FOR UPDATE to delete), so plays can still add rows
        that refer to the recording meanwhile; a row deleted while waiting reads as gone.
        SQLite renders no lock clause: storage.db begins every writing transaction
        IMMEDIATE, so a write transaction is already exclusive."""
        recording = await session.scalar(
            select(Recording)
            .where(Recording.id == recording_id)
            .options(selectinload(Recording.holds), selectinload(Recording.tags))
            .with_for_update(key_share=not deleting, of=Recording)
            .execution_options(populate_existing=True)
        )
        if recording is None:
            raise NotFound(N_("recording {recording_id} not found"), recording_id=recording_id)
        return recording

    async def _apply_retention(self, target: StoreTarget) -> None:
        """Make the stored version's tag and legal hold say what the rows said at
        `target.revision` (held iff any hold was active). Setting, not toggling, both."""
        key, version = target.key, target.version_id
        if target.held:
            # Tag first, then the legal hold: either one alone already keeps the object.
            await self.store.set_tags(key, {RETENTION_TAG: RETENTION_HELD}, version_id=version)
            await self.store.set_legal_hold(key, True, version_id=version)
        else:
            await self.store.set_legal_hold(key, False, version_id=version)
            await self.store.set_tags(key, {RETENTION_TAG: RETENTION_STANDARD}, version_id=version)

    async def _claim(
        self, session: AsyncSession, recording_id: int, claim: str
    ) -> StoreTarget | None:
        """Take (or renew) the right to call the store for the recording: compare-and-set
        on `sync_claim`, free, ours, or past its lease. Commits. None when another claim
        is live (its holder settles our revision too: it checks the revision after its
        call), a delete is decided, or the row is gone."""
        now = self.clock.now()
        taken = await session.execute(
            update(Recording)
            .where(
                Recording.id == recording_id,
                Recording.delete_requested_at.is_(None),  # a decided delete takes the object
                or_(
                    Recording.sync_claim.is_(None),
                    Recording.sync_claim == claim,
                    Recording.sync_claimed_until < now,
                ),
            )
            .values(sync_claim=claim, sync_claimed_until=now + SYNC_LEASE)
            .execution_options(synchronize_session=False)
        )
        target = None
        if taken.rowcount:
            row = (
                await session.execute(
                    select(
                        Recording.object_key,
                        Recording.version_id,
                        Recording.hold_revision,
                        active_hold(),
                        Recording.delete_requested_at.is_not(None),
                    ).where(Recording.id == recording_id)
                )
            ).one()
            target = StoreTarget(recording_id, *row, claim=claim)
        await session.commit()
        return target

    async def _settle(self, session: AsyncSession, target: StoreTarget) -> bool:
        """Record that the store carries `target.revision` and give the claim up, only if
        the claim is still ours and no change came meanwhile (compare-and-set). Commits."""
        done = await session.execute(
            update(Recording)
            .where(
                Recording.id == target.recording_id,
                Recording.sync_claim == target.claim,
                Recording.hold_revision == target.revision,
            )
            .values(synced_revision=target.revision, sync_claim=None, sync_claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        return bool(done.rowcount)

    async def _sync_store(self, session: AsyncSession, recording_id: int) -> None:
        """Bring the store in step with the committed rows, with no transaction open
        during the calls. Two requests changing one recording: one holds the claim and
        repeats until the revision it applied is still the newest; the other leaves its
        committed change to it. A store that fails raises (ObjectStoreUnavailable: 503)
        and keeps the claim until its lease ends, so that a call given up at its
        deadline that still lands cannot overtake a later one; the sweep then settles."""
        claim = uuid.uuid4().hex
        for _ in range(SYNC_ROUNDS):
            target = await self._claim(session, recording_id, claim)
            if target is None:
                return  # another holder settles it, or a decided delete takes the object
            await self._apply_retention(target)
            if await self._settle(session, target):
                return

    async def find_by_sha256(self, session: AsyncSession, sha256: str) -> Recording | None:
        return await session.scalar(select(Recording).where(Recording.sha256_original == sha256))

    async def _refuse_if_deleted(self, session: AsyncSession, sha256: str) -> None:
        tombstone = await session.scalar(
            select(RecordingTombstone)
            .where(RecordingTombstone.sha256_original == sha256)
            .order_by(RecordingTombstone.deleted_at.desc())
            .limit(1)
        )
        if tombstone is not None:
            raise RecordingDeleted(
                N_(
                    "this audio was stored before as recording {recording_id} and deleted on "
                    "{deleted_at:%Y-%m-%d}; it is not imported again"
                ),
                recording_id=tombstone.recording_id,
                deleted_at=tombstone.deleted_at,
            )

    # --- ingest ---------------------------------------------------------------------

    async def ingest(
        self, session: AsyncSession, source: Path, meta: IngestMetadata, actor: Actor
    ) -> IngestResult:
        """Normalise `source`, archive it with retention=standard, add the row.

        Idempotent by the sha256 of the original: a second ingest returns the existing row;
        audio whose recording was deleted before raises RecordingDeleted. A call start in the
        future (past MAX_CLOCK_SKEW) is refused: it would escape the retention period.
        Bad input raises (AudioError/InvalidInput) and leaves no row and no object.

        Unlike other service calls, ingest commits the session twice before it returns (after
        its checks, and with the object's key recorded as pending): no transaction stays
        open while audio is transcoded and uploaded. The caller commits the row after.
        """
        now = self.clock.now()
        started_at = _require_aware(meta.started_at or now, "started_at")
        if started_at > now + MAX_CLOCK_SKEW:
            raise InvalidInput(
                N_(
                    "started_at {started_at} is in the future; a call start can be at most "
                    "{minutes:.0f} minutes ahead of our clock"
                ),
                started_at=started_at.isoformat(),
                minutes=MAX_CLOCK_SKEW.total_seconds() / 60,
            )
        original = await asyncio.to_thread(_sha256_if_file, source)
        if original is not None:
            existing = await self.find_by_sha256(session, original[0])
            if existing is not None:
                return IngestResult(existing, created=False)
            await self._refuse_if_deleted(session, original[0])
        organisation_id = meta.organisation_id
        if meta.ticket_id is not None:
            ticket = await session.get(Ticket, meta.ticket_id)
            if ticket is None:
                raise InvalidInput(
                    N_("ticket {ticket_id} does not exist"),
                    ticket_id=meta.ticket_id,
                )
            organisation_id = organisation_id or ticket.organisation_id

        # Transcoding and the upload take long and the store may stall: no transaction
        # (on SQLite: no write lock) stays open across them. What the session holds so far
        # (the checks above only read) is committed here.
        await session.commit()
        async with temporary_directory("sd-ingest-", self.policy.temp_dir) as tmp:
            archive_path = tmp / f"archive{ARCHIVE_SUFFIX}"
            audio = await normalise(source, archive_path, self.policy.audio, original)
            key = f"{KEY_PREFIX}/{started_at:%Y/%m}/{uuid.uuid4().hex}{ARCHIVE_SUFFIX}"
            # The key is on record before a byte goes out: a write given up at its deadline
            # that lands later is found by the sweep, never left orphaned.
            record_pending(session, key, self.clock.now())
            await session.commit()
            put = await self.store.put(
                key,
                archive_path,
                content_type=audio.archive_content_type,
                tags={RETENTION_TAG: RETENTION_STANDARD},
            )
        now = self.clock.now()
        recording = Recording(
            object_key=key,
            version_id=put.version_id,
            sha256_original=audio.sha256_original,
            sha256_archive=audio.sha256_archive,
            duration_seconds=audio.duration,
            original_format=audio.original_format[:64],
            sample_rate=audio.sample_rate,
            channels=audio.channels,
            original_size=audio.original_size,
            archive_size=audio.archive_size,
            original_filename=(meta.filename or source.name)[:255],
            call_started_at=started_at,
            caller=meta.caller,
            caller_e164=normalise_phone(meta.caller),  # None for "anonymous", extensions
            caller_withheld=meta.caller_withheld,
            callee=meta.callee,
            callee_e164=normalise_phone(meta.callee),
            agent=meta.agent,
            ticket_id=meta.ticket_id,
            organisation_id=organisation_id,
            created_at=now,
            expires_at=started_at + self.policy.retention,
        )
        # The short transaction the caller commits: the row, its audit event, and the
        # pending record gone. Should it never commit, the sweep removes the object.
        try:
            session.add(recording)
            await session.flush()
            audit.record(
                session,
                actor=actor,
                action="recording.ingest",
                subject_type=SUBJECT,
                subject_id=recording.id,
                at=now,
                details={
                    "object_key": key,
                    "version_id": put.version_id,
                    "sha256": audio.sha256_original,
                    "duration_seconds": audio.duration,
                    "original_format": audio.original_format,
                    # Admins read the audit: a withheld number stays out of it.
                    "filename": shield_filename(recording.original_filename)
                    if recording.caller_withheld
                    else recording.original_filename,
                },
            )
            await clear_pending(session, key)
            await session.flush()
        except Exception as exc:
            # Nothing of this ingest stays: the row is rolled back, the object deleted with
            # no transaction open (if the store fails too, the pending record remains).
            await session.rollback()
            existing = None
            if isinstance(exc, IntegrityError):  # the same audio, stored meanwhile
                existing = await self.find_by_sha256(session, audio.sha256_original)
                await session.commit()
            await self._discard(session, key, put.version_id)
            if existing is not None:
                return IngestResult(existing, created=False)
            if isinstance(exc, IntegrityError):
                raise Conflict(N_("the recording could not be stored (conflicting row)")) from exc
            raise
        return IngestResult(recording, created=True)

    async def _discard(self, session: AsyncSession, key: str, version_id: str | None) -> None:
        """Delete an object no row will name, then its pending record; no transaction is
        open during the delete. A store that fails leaves the record for the sweep."""
        try:
            await self.store.delete(key, version_id=version_id)
        except ObjectStoreError:
            return
        await clear_pending(session, key)
        await session.commit()

    # --- holds ----------------------------------------------------------------------

    async def place_hold(
        self,
        session: AsyncSession,
        recording_id: int,
        *,
        kind: HoldKind,
        reason: str,
        actor: Actor,
        review_at: datetime | None = None,
    ) -> RecordingHold:
        hold, _ = await self.place_hold_once(
            session, recording_id, kind=kind, reason=reason, actor=actor, review_at=review_at
        )
        return hold

    async def place_hold_once(
        self,
        session: AsyncSession,
        recording_id: int,
        *,
        kind: HoldKind,
        reason: str,
        actor: Actor,
        review_at: datetime | None = None,
    ) -> tuple[RecordingHold, bool]:
        """Place a hold, or return the active one the same actor placed with the same kind
        and reason within HOLD_RETRY_WINDOW (a retry): (hold, created). A store that does
        not answer raises HoldRecordedStoreBehind: the hold is saved all the same."""
        reason = reason.strip()
        if not reason:
            raise InvalidInput(N_("a hold needs a reason"))
        if len(reason) > MAX_REASON:
            raise InvalidInput(N_("the reason is longer than {limit} characters"), limit=MAX_REASON)
        now = self.clock.now()
        asked_review = review_at
        if review_at is None:
            review_at = now + self.policy.review_period(kind)
            if kind == HoldKind.TRAINING:  # a deployment's longer default stays in bounds
                review_at = min(review_at, months_after(now, TRAINING_REVIEW_MONTHS))
        else:
            _check_review(kind, review_at, now)
        recording = await self._lock(session, recording_id)
        _refuse_if_deleting(recording)
        placed = _retried_hold(recording, kind, reason, _actor_label(actor), asked_review, now)
        if placed is not None:
            if recording.synced_revision != recording.hold_revision:
                await session.commit()  # no transaction open during the store calls
                await self._sync_hold(session, placed)
            return placed, False
        hold = RecordingHold(
            recording_id=recording.id,
            kind=kind,
            reason=reason,
            placed_by=_actor_label(actor),
            placed_at=now,
            review_at=review_at,
        )
        recording.holds.append(hold)
        await session.flush()
        audit.record(
            session,
            actor=actor,
            action="recording.hold",
            subject_type=SUBJECT,
            subject_id=recording.id,
            at=now,
            details={
                "hold_id": hold.id,
                "kind": kind.value,
                "reason": reason,
                "review_at": hold.review_at.isoformat(),
            },
        )
        await self._commit_change(session, recording)
        await self._sync_hold(session, hold)
        return hold, True

    async def _sync_hold(self, session: AsyncSession, hold: RecordingHold) -> None:
        """Bring the store in step with a saved hold; a store that does not answer says
        the hold is saved (so that a client does not place it again)."""
        try:
            await self._sync_store(session, hold.recording_id)
        except ObjectStoreUnavailable as exc:
            raise HoldRecordedStoreBehind(hold.id) from exc

    async def release_hold(
        self,
        session: AsyncSession,
        recording_id: int,
        hold_id: int,
        *,
        reason: str,
        actor: Actor,
        role: StaffRole,
    ) -> RecordingHold:
        """Release one hold if `role` may (RELEASE_ROLES: evidence holds need the privacy
        officer or an admin). The object returns to standard retention only when the last
        active hold is released."""
        recording = await self._lock(session, recording_id)
        hold = next((h for h in recording.holds if h.id == hold_id), None)
        if hold is not None and not may_release_hold(hold.kind, role):
            raise Forbidden(
                N_("{hold} may not be released by the {role} role"),
                hold=HOLD_NAMES[hold.kind],
                role=role.value,
            )
        reason = reason.strip()
        if not reason:
            raise InvalidInput(N_("releasing a hold needs a reason"))
        if len(reason) > MAX_REASON:
            raise InvalidInput(N_("the reason is longer than {limit} characters"), limit=MAX_REASON)
        if hold is None:
            raise NotFound(
                N_("hold {hold_id} not found on recording {recording_id}"),
                hold_id=hold_id,
                recording_id=recording_id,
            )
        if hold.released_at is not None:
            raise Conflict(N_("hold {hold_id} was already released"), hold_id=hold_id)
        await self._release(session, recording, hold, reason, actor=actor, at=self.clock.now())
        return hold

    async def renew_hold(
        self,
        session: AsyncSession,
        recording_id: int,
        hold_id: int,
        *,
        review_at: datetime,
        actor: Actor,
        role: StaffRole,
    ) -> RecordingHold:
        """Keep an active hold until a new review date (a training hold's at most 12 months
        ahead); whoever may release the hold may renew it."""
        recording = await self._lock(session, recording_id)
        hold = self._active_hold(recording, hold_id)
        if not may_release_hold(hold.kind, role):
            raise Forbidden(
                N_("{hold} may not be renewed by the {role} role"),
                hold=HOLD_NAMES[hold.kind],
                role=role.value,
            )
        now = self.clock.now()
        _check_review(hold.kind, review_at, now)
        previous = hold.review_at
        hold.review_at = review_at
        audit.record(
            session,
            actor=actor,
            action="recording.hold_renewed",
            subject_type=SUBJECT,
            subject_id=recording.id,
            at=now,
            details={
                "hold_id": hold.id,
                "kind": hold.kind.value,
                "previous_review_at": previous.isoformat(),
                "review_at": review_at.isoformat(),
            },
        )
        await session.flush()
        return hold

    async def end_training_hold(
        self,
        session: AsyncSession,
        recording_id: int,
        hold_id: int,
        *,
        actor: Actor,
        at: datetime | None = None,
    ) -> RecordingHold:
        """The retention sweep's release of a training hold whose review date has passed
        without a renewal. Refuses anything else: evidence holds are never released
        automatically, and a hold renewed meanwhile (review date moved on) stays."""
        now = at or self.clock.now()
        recording = await self._lock(session, recording_id)
        hold = self._active_hold(recording, hold_id)
        if hold.kind != HoldKind.TRAINING or hold.review_at > now:
            raise Conflict(
                N_("hold {hold_id} is not a training hold past its review date"), hold_id=hold_id
            )
        await self._release(
            session,
            recording,
            hold,
            REVIEW_PASSED,
            actor=actor,
            at=now,
            review_at=hold.review_at.isoformat(),
        )
        return hold

    async def _release(
        self,
        session: AsyncSession,
        recording: Recording,
        hold: RecordingHold,
        reason: str,
        *,
        actor: Actor,
        at: datetime,
        **details: str,
    ) -> None:
        """Release `hold` (audited with what still holds the recording); the stored version
        returns to standard retention once no hold is left."""
        hold.released_at = at
        hold.released_by = _actor_label(actor)
        hold.release_reason = reason
        remaining = active_holds(recording)
        audit.record(
            session,
            actor=actor,
            action="recording.release",
            subject_type=SUBJECT,
            subject_id=recording.id,
            at=at,
            details={
                "hold_id": hold.id,
                "kind": hold.kind.value,
                "reason": reason,
                **details,
                "remaining_holds": [h.id for h in remaining],
            },
        )
        await self._changed(session, recording)

    async def _changed(self, session: AsyncSession, recording: Recording) -> None:
        """Commit a change of the recording's holds (or version) with a new revision, then
        bring the store in step (no transaction open during its calls)."""
        await self._commit_change(session, recording)
        await self._sync_store(session, recording.id)

    @staticmethod
    async def _commit_change(session: AsyncSession, recording: Recording) -> None:
        recording.hold_revision += 1  # under the row lock: no change is lost
        await session.flush()
        await session.commit()

    @staticmethod
    def _active_hold(recording: Recording, hold_id: int) -> RecordingHold:
        hold = next((h for h in recording.holds if h.id == hold_id), None)
        if hold is None:
            raise NotFound(
                N_("hold {hold_id} not found on recording {id}"), hold_id=hold_id, id=recording.id
            )
        if hold.released_at is not None:
            raise Conflict(N_("hold {hold_id} was already released"), hold_id=hold_id)
        return hold

    # --- tags -----------------------------------------------------------------------

    async def set_tags(
        self, session: AsyncSession, recording_id: int, tags: Iterable[str], *, actor: Actor
    ) -> list[str]:
        wanted = normalise_tags(tags)
        # Under the row lock: a parallel edit waits and then sees these tags, instead of
        # inserting the same (recording, tag) again.
        recording = await self._lock(session, recording_id)
        current = {t.tag for t in recording.tags}
        added = sorted(set(wanted) - current)
        removed = sorted(current - set(wanted))
        if not added and not removed:
            return wanted
        recording.tags = [t for t in recording.tags if t.tag in wanted] + [
            RecordingTag(tag=tag) for tag in added
        ]
        audit.record(
            session,
            actor=actor,
            action="recording.tags",
            subject_type=SUBJECT,
            subject_id=recording.id,
            at=self.clock.now(),
            details={"added": added, "removed": removed, "tags": wanted},
        )
        await session.flush()
        return wanted

    async def adopt_version(
        self,
        session: AsyncSession,
        recording_id: int,
        version_id: str,
        *,
        actor: Actor,
        reason: str = "",
    ) -> None:
        """Point the row at another stored version of its key (the caller has checked that
        its bytes are the recording's: a bucket restored or copied elsewhere has new version
        ids) and give that version the hold state the rows ask for."""
        recording = await self._lock(session, recording_id)
        previous, recording.version_id = recording.version_id, version_id
        audit.record(
            session,
            actor=actor,
            action="recording.version_adopted",
            subject_type=SUBJECT,
            subject_id=recording.id,
            at=self.clock.now(),
            details={"previous": previous, "version_id": version_id, "reason": reason},
        )
        await self._changed(session, recording)

    # --- deletion -------------------------------------------------------------------

    async def delete_recording(
        self,
        session: AsyncSession,
        recording_id: int,
        *,
        actor: Actor,
        reason: str = "",
        at: datetime | None = None,
    ) -> None:
        """THE delete path: refuses while a hold is active; deletes the stored version,
        then the row with its trainers' notes; writes the audit event. `at` stamps the
        audit event and tombstone (a sweep's own moment, e.g. `sweep --now`); default the
        service's clock.

        Three steps, none with a transaction open across the store: the decision (hold
        check, `delete_requested_at`, the claim) is committed; the version is deleted;
        the row goes in the caller's transaction (it commits). No hold can be placed on a
        recording whose delete is decided. A store that fails leaves the decided delete to
        the sweep (`settle_store`), which finishes it through this same path."""
        moment = at or self.clock.now()
        target = await self._decide_delete(session, recording_id, reason, moment)
        try:
            if target.revision != target.synced:
                await self._apply_retention(target)  # a release not yet in the store
            await self.store.delete(target.key, version_id=target.version_id)
        except ObjectHeld as exc:
            await self._cancel_delete(session, target)
            raise RecordingHeld(
                N_("recording {recording_id}: the object store refuses the delete (legal hold)"),
                [],
                recording_id=recording_id,
            ) from exc
        recording = await self._lock(session, recording_id, deleting=True)
        if recording.delete_requested_at is None:  # withdrawn meanwhile: the store held it
            raise Conflict(
                N_("recording {recording_id} is being changed; please try again"),
                recording_id=recording_id,
            )
        if self.policy.waveform_dir is not None:
            picture = waveform_path(self.policy.waveform_dir, recording.sha256_archive)
            await asyncio.to_thread(picture.unlink, missing_ok=True)
        # Trainers' notes go with the recording (the foreign key cascades too; deleting them
        # here keeps that true whatever the backend and counts them for the audit).
        notes = await delete_recording_notes(session, recording.id)
        # Before the delete event is added, so that the event itself keeps its details.
        await purge.strip_audit(session, SUBJECT, [recording.id])
        audit.record(
            session,
            actor=actor,
            action="recording.delete",
            subject_type=SUBJECT,
            subject_id=recording.id,
            at=moment,
            details={
                "object_key": recording.object_key,
                "version_id": recording.version_id,
                "sha256": recording.sha256_original,
                "reason": reason,
                "notes_deleted": notes,
            },
        )
        # Metadata reduced to a non-personal tombstone (events about it stripped above).
        session.add(
            RecordingTombstone(
                recording_id=recording.id,
                sha256_original=recording.sha256_original,
                call_month=f"{recording.call_started_at:%Y-%m}",
                duration_seconds=recording.duration_seconds,
                hold_count=len(recording.holds),
                reason=reason[:200],
                deleted_at=moment,
            )
        )
        await session.delete(recording)
        await session.flush()

    async def _decide_delete(
        self, session: AsyncSession, recording_id: int, reason: str, moment: datetime
    ) -> StoreTarget:
        """The hold check and the decision, committed with the claim on the store."""
        recording = await self._lock(session, recording_id, deleting=True)
        held = active_holds(recording)
        if held:
            raise RecordingHeld(
                N_("recording {recording_id} is held and cannot be deleted: {holds}"),
                held,
                recording_id=recording.id,
                holds=Joined(
                    Message(HOLD_ITEMS[h.kind], hold_id=h.id, reason=h.reason) for h in held
                ),
            )
        now = self.clock.now()
        # A live claim of a hold change: its call may still land, wait for it. A decided
        # delete's is taken over (a process killed mid-delete): deleting the version again
        # cannot undo anything, and no hold can have come since.
        live = recording.sync_claim is not None and (
            recording.sync_claimed_until is None or recording.sync_claimed_until >= now
        )
        if live and recording.delete_requested_at is None:
            raise RecordingBusy(
                N_(
                    "recording {recording_id} is being updated in the object store; "
                    "please try again in a few minutes"
                ),
                recording_id=recording.id,
            )
        claim = uuid.uuid4().hex
        recording.sync_claim, recording.sync_claimed_until = claim, now + SYNC_LEASE
        if recording.delete_requested_at is None:
            recording.delete_requested_at, recording.delete_reason = moment, reason
        target = StoreTarget(
            recording.id,
            recording.object_key,
            recording.version_id,
            recording.hold_revision,
            False,
            True,
            claim=claim,
            synced=recording.synced_revision,
        )
        await session.flush()
        await session.commit()
        return target

    async def _cancel_delete(self, session: AsyncSession, target: StoreTarget) -> None:
        """The store holds the version after all: the decision is withdrawn."""
        await session.execute(
            update(Recording)
            .where(Recording.id == target.recording_id, Recording.sync_claim == target.claim)
            .values(
                delete_requested_at=None,
                delete_reason=None,
                sync_claim=None,
                sync_claimed_until=None,
                hold_revision=Recording.hold_revision + 1,  # the store disagrees: resync
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()

    # --- settling what a crash or a timeout left ---------------------------------------

    async def settle_store(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        dry_run: bool = False,
        limit: int = 1000,
    ) -> StoreSettleReport:
        """Recordings whose store state is not confirmed and whose claim is free or past
        its lease: a decided delete is finished through `delete_recording` (the hold
        check again), otherwise the legal hold and tag are set to match the rows. Each in
        short transactions of its own, the store called with none open."""
        report = StoreSettleReport()
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(Recording.id, Recording.delete_requested_at.is_not(None))
                    .where(
                        or_(
                            Recording.hold_revision != Recording.synced_revision,
                            Recording.delete_requested_at.is_not(None),
                        ),
                        or_(
                            Recording.sync_claim.is_(None),
                            Recording.sync_claimed_until < self.clock.now(),
                        ),
                    )
                    .order_by(Recording.id)
                    .limit(limit)
                )
            ).all()
            await session.rollback()
        if dry_run:
            report.waiting = len(rows)
            return report
        for recording_id, deleting in rows:
            async with sessions() as session:
                try:
                    if deleting:
                        reason = await session.scalar(
                            select(Recording.delete_reason).where(Recording.id == recording_id)
                        )
                        await self.delete_recording(
                            session, recording_id, actor=SETTLE_ACTOR, reason=reason or ""
                        )
                        await session.commit()
                        report.deleted.append(recording_id)
                    else:
                        await self._sync_store(session, recording_id)
                        report.synced.append(recording_id)
                except (ObjectStoreError, ServiceError) as exc:
                    await session.rollback()
                    log.warning("recording %s not settled: %s", recording_id, type(exc).__name__)
                    report.failed[recording_id] = type(exc).__name__
        return report

    async def due_for_deletion(
        self,
        session: AsyncSession,
        now: datetime,
        *,
        limit: int | None = None,
        skip_locked: bool = False,
        exclude: Iterable[int] = (),
    ) -> list[int]:
        """Ids past their date without an active hold; `skip_locked` (PostgreSQL) locks
        them so that a second sweeper takes the next ones."""
        stmt = (
            select(Recording.id)
            .where(Recording.expires_at <= now, ~active_hold())
            .order_by(Recording.expires_at, Recording.id)
            .limit(limit)
        )
        if skipped := list(exclude):
            stmt = stmt.where(Recording.id.not_in(skipped))
        if skip_locked:
            stmt = stmt.with_for_update(skip_locked=True, of=Recording)
        return list(await session.scalars(stmt))
