"""Reconcile the object store with the rows that point into it, version by version.

Every recording and attachment row names the object version it owns (`version_id`). A
versioned bucket keeps a version after a plain DELETE (it only adds a delete marker), and a
bucket copied elsewhere holds the same keys under new version ids: so the check is the
exact version a row names, never "is there something under this key".

- A row whose version exists is never touched. A delete marker on its key is reported
  and, with `fix`, removed (a DELETE naming the marker's version id: no data goes).
- A row whose version is missing while other versions of its key exist is reported and
  never deleted. When no row finds its version at all, the bucket was restored or copied
  (new version ids): `adopt_current` re-points each row at its key's current version
  after checking that version's sha256 against the row.
- A row whose key has no version at all (a crash after the object delete, before the row
  delete) goes, with `fix`, through the normal delete path (a held recording's row is only
  reported: a person must look at it); not while the bucket looks restored.
- An object under an owned prefix without a row (a crash after the upload, before the
  commit) is removed with `fix` when older than `min_age` and no version of it is held
  (legal hold or the retention=held tag). No row names any of its versions.

- A recording whose legal hold, or decided delete, a store timeout left unconfirmed (its
  claim lapsed) is settled first with `fix` (`RecordingService.settle_store`).

Nothing is changed without `fix` or `adopt_current`, the bucket included: a missing
bucket is reported, never created. Here, not in storage, because it needs the vault: its
hold tags, its delete path and its adopt path.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.service import (
    RETENTION_HELD,
    RETENTION_TAG,
    RecordingService,
    StoreSettleReport,
)
from storage.clock import Clock
from storage.models import Attachment, Recording
from storage.objectstore.base import ObjectStore, ObjectVersion
from storage.services import audit
from storage.services.audit import Actor
from storage.services.recording_port import RecordingBusy, RecordingHeld

MIN_AGE = timedelta(hours=1)
ACTOR = Actor.system("reconcile")
ADOPT_COMMAND = "supportdesk reconcile --adopt-current"


@dataclass(frozen=True)
class Owner:
    """A key prefix and the rows that own objects under it (other prefixes are left alone)."""

    prefix: str
    model: Any
    sha256: Any  # the column holding the sha256 of the stored bytes
    label: str


OWNERS = (
    Owner("recordings/", Recording, Recording.sha256_archive, "recording"),
    Owner("attachments/", Attachment, Attachment.sha256, "attachment"),
)


@dataclass(frozen=True)
class Row:
    owner: Owner
    id: int
    key: str
    version_id: str | None
    sha256: str

    @property
    def label(self) -> str:
        return f"{self.owner.label} {self.id}"


@dataclass
class KeyVersions:
    """What the store holds under one key."""

    stored: dict[str | None, ObjectVersion] = field(default_factory=dict)
    markers: list[ObjectVersion] = field(default_factory=list)

    def current(self) -> ObjectVersion | None:
        """The newest stored version (a delete marker above it does not count)."""
        if not self.stored:
            return None
        latest = [v for v in self.stored.values() if v.is_latest]
        if latest:
            return latest[0]
        return max(self.stored.values(), key=lambda v: v.last_modified or datetime.min)


@dataclass
class ReconcileReport:
    bucket_missing: bool = False
    orphan_objects: list[str] = field(default_factory=list)
    removed_objects: list[str] = field(default_factory=list)
    kept_objects: dict[str, str] = field(default_factory=dict)
    missing_objects: list[str] = field(default_factory=list)  # "recording 12", "attachment 3"
    cleaned_rows: list[str] = field(default_factory=list)
    kept_rows: dict[str, str] = field(default_factory=dict)
    # row label -> what is missing and what the key holds instead
    missing_versions: dict[str, str] = field(default_factory=dict)
    restored: bool = False  # no row finds its version: bucket restored or copied
    adopted: list[str] = field(default_factory=list)
    not_adopted: dict[str, str] = field(default_factory=dict)
    stray_markers: list[str] = field(default_factory=list)  # "key (marker version)"
    removed_markers: list[str] = field(default_factory=list)
    settled: StoreSettleReport | None = None  # recordings' unconfirmed store state

    @property
    def clean(self) -> bool:
        return not (
            self.bucket_missing
            or self.orphan_objects
            or self.missing_objects
            or self.missing_versions
            or self.stray_markers
        )

    def lines(self) -> list[str]:
        if self.bucket_missing:
            return ["the bucket does not exist: nothing checked (reconcile never creates it)"]
        out = self.settled.lines() if self.settled is not None else []
        out += [
            f"objects without a row: {len(self.orphan_objects)} "
            f"(removed {len(self.removed_objects)}, kept {len(self.kept_objects)})",
            f"rows without an object: {len(self.missing_objects)} "
            f"(cleaned {len(self.cleaned_rows)}, kept {len(self.kept_rows)})",
            f"rows whose version is missing: {len(self.missing_versions)} "
            f"(adopted {len(self.adopted)}, not adopted {len(self.not_adopted)})",
            f"delete markers on owned keys: {len(self.stray_markers)} "
            f"(removed {len(self.removed_markers)})",
        ]
        if self.restored:
            out.append(
                "  no row finds its version: the bucket was restored or copied (new version "
                f"ids); check it, then run `{ADOPT_COMMAND}`"
            )
        out += [f"  orphan object {key}" for key in self.orphan_objects]
        out += [f"  kept object {key}: {why}" for key, why in self.kept_objects.items()]
        out += [f"  {row} has no object" for row in self.missing_objects]
        out += [f"  kept {row}: {why}" for row, why in self.kept_rows.items()]
        out += [f"  {row}: {what}" for row, what in self.missing_versions.items()]
        out += [f"  not adopted {row}: {why}" for row, why in self.not_adopted.items()]
        out += [f"  delete marker {marker}" for marker in self.stray_markers]
        return out


async def reconcile(
    sessions: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    clock: Clock,
    *,
    fix: bool = False,
    adopt_current: bool = False,
    min_age: timedelta = MIN_AGE,
    recordings: RecordingService | None = None,
) -> ReconcileReport:
    """`recordings` deletes recording rows (pass one with the settings' policy, so the
    cached waveform goes too) and adopts versions for them (their holds follow)."""
    report = ReconcileReport()
    if not await store.bucket_exists():
        report.bucket_missing = True
        return report
    recordings = recordings or RecordingService(clock, store)
    # First what a store timeout left unconfirmed: legal holds set to match the rows,
    # decided deletes finished (through the hold-checked delete).
    report.settled = await recordings.settle_store(sessions, dry_run=not fix)
    rows = await _rows(sessions)
    keys = await _key_versions(store)
    report.restored = _looks_restored(rows, keys)
    for row in rows:
        await _check_row(sessions, store, recordings, clock, row, keys, report, fix, adopt_current)
    owned = {row.key for row in rows}
    now = clock.now()
    for key in sorted(k for k, held in keys.items() if held.stored and k not in owned):
        report.orphan_objects.append(key)
        if fix:
            await _fix_orphan(store, key, keys[key], now, min_age, report)
    return report


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> list[Row]:
    found: list[Row] = []
    async with sessions() as session:
        for owner in OWNERS:
            model = owner.model
            result = await session.execute(
                select(model.id, model.object_key, model.version_id, owner.sha256)
                .where(model.object_key.startswith(owner.prefix))
                .order_by(model.id)
            )
            found += [Row(owner, *values) for values in result.all()]
    return found


async def _key_versions(store: ObjectStore) -> dict[str, KeyVersions]:
    keys: dict[str, KeyVersions] = defaultdict(KeyVersions)
    for owner in OWNERS:
        for version in await store.list_versions(owner.prefix):
            entry = keys[version.key]
            if version.is_delete_marker:
                entry.markers.append(version)
            else:
                entry.stored[version.version_id] = version
    return dict(keys)


def _owned_version(row: Row, held: KeyVersions | None) -> ObjectVersion | None:
    """The version the row names, if stored (a row without a version id owns the newest)."""
    if held is None:
        return None
    if row.version_id is None:
        return held.current()
    return held.stored.get(row.version_id)


def _looks_restored(rows: list[Row], keys: dict[str, KeyVersions]) -> bool:
    pinned = [row for row in rows if row.version_id is not None]
    if not pinned or any(_owned_version(row, keys.get(row.key)) for row in pinned):
        return False
    return any(row.key in keys and keys[row.key].stored for row in pinned)


async def _check_row(
    sessions: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    recordings: RecordingService,
    clock: Clock,
    row: Row,
    keys: dict[str, KeyVersions],
    report: ReconcileReport,
    fix: bool,
    adopt_current: bool,
) -> None:
    held = keys.get(row.key)
    if _owned_version(row, held) is not None:
        assert held is not None
        for marker in held.markers:  # the row's version is there: never touch the row
            report.stray_markers.append(f"{row.key} ({marker.version_id})")
            if fix and marker.version_id is not None:
                await store.remove_delete_marker(row.key, marker.version_id)
                report.removed_markers.append(f"{row.key} ({marker.version_id})")
        return
    current = held.current() if held else None
    if current is None:  # nothing stored under the key at all
        report.missing_objects.append(row.label)
        if fix and report.restored:
            report.kept_rows[row.label] = f"the bucket looks restored: run `{ADOPT_COMMAND}` first"
        elif fix:
            await _fix_row(sessions, recordings, clock, row, report)
        return
    # Another version of the key is there: never delete the row (or that version).
    report.missing_versions[row.label] = (
        f"{row.key} version {row.version_id} missing; the key holds version {current.version_id}"
    )
    if adopt_current:
        await _adopt(sessions, store, recordings, clock, row, current, report)


async def _adopt(
    sessions: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    recordings: RecordingService,
    clock: Clock,
    row: Row,
    current: ObjectVersion,
    report: ReconcileReport,
) -> None:
    assert current.version_id is not None
    digest = await _sha256(store, row.key, current.version_id)
    if digest != row.sha256:
        report.not_adopted[row.label] = (
            f"version {current.version_id} has sha256 {digest}, the row {row.sha256}"
        )
        return
    reason = "version missing, current version has the row's sha256 (reconcile)"
    async with sessions() as session:
        if row.owner.model is Recording:
            await recordings.adopt_version(
                session, row.id, current.version_id, actor=ACTOR, reason=reason
            )
        else:
            await session.execute(
                update(Attachment)
                .where(Attachment.id == row.id)
                .values(version_id=current.version_id)
            )
            audit.record(
                session,
                actor=ACTOR,
                action="attachment.version_adopted",
                subject_type="attachment",
                subject_id=row.id,
                at=clock.now(),
                details={
                    "previous": row.version_id,
                    "version_id": current.version_id,
                    "reason": reason,
                },
            )
        await session.commit()
    report.adopted.append(row.label)


async def _sha256(store: ObjectStore, key: str, version_id: str) -> str:
    digest = hashlib.sha256()
    async with await store.get(key, version_id=version_id) as stream:
        async for chunk in stream:
            digest.update(chunk)
    return digest.hexdigest()


async def _fix_orphan(
    store: ObjectStore,
    key: str,
    held: KeyVersions,
    now: datetime,
    min_age: timedelta,
    report: ReconcileReport,
) -> None:
    stamps = [v.last_modified for v in held.stored.values()]
    if any(stamp is None or now - stamp < min_age for stamp in stamps):
        report.kept_objects[key] = f"younger than {min_age} (an upload may be in flight)"
    elif await _any_version_held(store, key, held):
        report.kept_objects[key] = "held"
    else:
        await store.delete(key)  # every version: no row names any of them
        report.removed_objects.append(key)


async def _any_version_held(store: ObjectStore, key: str, held: KeyVersions) -> bool:
    for version in held.stored:
        if await store.is_legal_hold(key, version_id=version):
            return True
        if (await store.get_tags(key, version_id=version)).get(RETENTION_TAG) == RETENTION_HELD:
            return True
    return False


async def _fix_row(
    sessions: async_sessionmaker[AsyncSession],
    recordings: RecordingService,
    clock: Clock,
    row: Row,
    report: ReconcileReport,
) -> None:
    async with sessions() as session:
        if row.owner.model is Recording:
            try:
                await recordings.delete_recording(
                    session, row.id, actor=ACTOR, reason="object missing (reconcile)"
                )
            except RecordingHeld:
                report.kept_rows[row.label] = "held: restore the object or release the hold"
                return
            except RecordingBusy:
                report.kept_rows[row.label] = "its store state is being changed: run again later"
                return
        else:
            await session.execute(delete(Attachment).where(Attachment.id == row.id))
            audit.record(
                session,
                actor=ACTOR,
                action="attachment.object_missing",
                subject_type="attachment",
                subject_id=row.id,
                at=clock.now(),
                details={"reason": "object missing (reconcile)"},
            )
        await session.commit()
    report.cleaned_rows.append(row.label)
