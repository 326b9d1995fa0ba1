"""Reconcile the object store with the rows that point into it.

Finds objects without a row (e.g. a crash after the upload, before the commit) and rows
without an object (e.g. a crash after the object delete, before the row delete). With
`fix`: orphan objects older than `min_age` are removed unless held (legal hold or the
retention=held tag); rows without an object go through the normal delete path (a held
recording's row is only reported: a person must look at it).

Here, not in storage, because it needs the vault: its hold tags and its delete path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.service import RETENTION_HELD, RETENTION_TAG, RecordingService
from storage.clock import Clock
from storage.models import Attachment, Recording
from storage.objectstore.base import ObjectStore
from storage.services import audit
from storage.services.audit import Actor
from storage.services.recording_port import RecordingHeld

# Key prefix -> the column that owns objects under it. Other prefixes are left alone.
OWNED: dict[str, Any] = {
    "recordings/": Recording.object_key,
    "attachments/": Attachment.object_key,
}
MIN_AGE = timedelta(hours=1)
ACTOR = Actor.system("reconcile")


@dataclass
class ReconcileReport:
    orphan_objects: list[str] = field(default_factory=list)
    removed_objects: list[str] = field(default_factory=list)
    kept_objects: dict[str, str] = field(default_factory=dict)
    missing_objects: list[str] = field(default_factory=list)  # "recording 12", "attachment 3"
    cleaned_rows: list[str] = field(default_factory=list)
    kept_rows: dict[str, str] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.orphan_objects and not self.missing_objects

    def lines(self) -> list[str]:
        out = [
            f"objects without a row: {len(self.orphan_objects)} "
            f"(removed {len(self.removed_objects)}, kept {len(self.kept_objects)})",
            f"rows without an object: {len(self.missing_objects)} "
            f"(cleaned {len(self.cleaned_rows)}, kept {len(self.kept_rows)})",
        ]
        out += [f"  orphan object {key}" for key in self.orphan_objects]
        out += [f"  kept object {key}: {why}" for key, why in self.kept_objects.items()]
        out += [f"  {row} has no object" for row in self.missing_objects]
        out += [f"  kept {row}: {why}" for row, why in self.kept_rows.items()]
        return out


async def reconcile(
    sessions: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    clock: Clock,
    *,
    fix: bool = False,
    min_age: timedelta = MIN_AGE,
    recordings: RecordingService | None = None,
) -> ReconcileReport:
    """`recordings` deletes recording rows (pass one with the settings' policy, so the
    cached waveform goes too)."""
    report = ReconcileReport()
    recordings = recordings or RecordingService(clock, store)
    now = clock.now()
    for prefix, column in OWNED.items():
        objects = {info.key: info for info in await store.list(prefix)}
        async with sessions() as session:
            rows = dict(
                (
                    await session.execute(
                        select(column, column.class_.id).where(column.startswith(prefix))
                    )
                ).all()
            )
        for key in sorted(set(objects) - set(rows)):
            report.orphan_objects.append(key)
            if fix:
                await _fix_orphan(store, key, objects[key].last_modified, now, min_age, report)
        for key in sorted(set(rows) - set(objects)):
            label = f"{column.class_.__tablename__[:-1]} {rows[key]}"
            report.missing_objects.append(label)
            if fix:
                await _fix_row(sessions, recordings, clock, column.class_, rows[key], label, report)
    return report


async def _fix_orphan(
    store: ObjectStore,
    key: str,
    modified: datetime | None,
    now: datetime,
    min_age: timedelta,
    report: ReconcileReport,
) -> None:
    if modified is None or now - modified < min_age:
        report.kept_objects[key] = f"younger than {min_age} (an upload may be in flight)"
    elif await store.is_legal_hold(key) or (
        (await store.get_tags(key)).get(RETENTION_TAG) == RETENTION_HELD
    ):
        report.kept_objects[key] = "held"
    else:
        await store.delete(key)
        report.removed_objects.append(key)


async def _fix_row(
    sessions: async_sessionmaker[AsyncSession],
    recordings: RecordingService,
    clock: Clock,
    model: Any,
    row_id: int,
    label: str,
    report: ReconcileReport,
) -> None:
    async with sessions() as session:
        if model is Recording:
            try:
                await recordings.delete_recording(
                    session, row_id, actor=ACTOR, reason="object missing (reconcile)"
                )
            except RecordingHeld:
                report.kept_rows[label] = "held: restore the object or release the hold"
                return
        else:
            await session.execute(delete(model).where(model.id == row_id))
            audit.record(
                session,
                actor=ACTOR,
                action="attachment.object_missing",
                subject_type="attachment",
                subject_id=row_id,
                at=clock.now(),
                details={"reason": "object missing (reconcile)"},
            )
        await session.commit()
    report.cleaned_rows.append(label)
