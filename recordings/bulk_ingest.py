"""Importing a batch of call recordings: files and folders (e.g. a PBX export) walked for
the audio we take, each file ingested in its own transaction, and a summary that adds up.

`supportdesk ingest` (admin/cli/recordings.py) drives it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.audio import AUDIO_SUFFIXES, AudioError
from recordings.service import IngestMetadata, RecordingDeleted, RecordingService
from storage.services.audit import Actor
from storage.services.errors import ServiceError


def _unique(paths: list[Path]) -> list[Path]:
    seen: set[Path] = set()
    unique = []
    for path in paths:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique


def collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Files named on the command line plus audio files found under named folders, and the
    other files in those folders (not audio we take: counted, so that the summary adds up)."""
    found: list[Path] = []
    other: list[Path] = []
    for path in paths:
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if p.is_file():
                    (found if p.suffix.lower() in AUDIO_SUFFIXES else other).append(p)
        else:
            found.append(path)
    files = _unique(found)
    taken = {p.resolve() for p in files}
    return files, [p for p in _unique(other) if p.resolve() not in taken]


@dataclass
class IngestSummary:
    imported: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # already stored
    deleted_before: list[Path] = field(default_factory=list)
    not_audio: list[Path] = field(default_factory=list)  # folder files of other types
    failed: dict[Path, str] = field(default_factory=dict)

    def line(self) -> str:
        skipped = len(self.skipped) + len(self.deleted_before) + len(self.not_audio)
        return (
            f"imported {len(self.imported)}, skipped {skipped} ({len(self.skipped)} already "
            f"stored, {len(self.deleted_before)} deleted before, {len(self.not_audio)} not "
            f"audio we take), failed {len(self.failed)}"
        )


def modified_at(path: Path) -> datetime | None:
    """The file's modification time (blocking: run in a thread); None when unreadable."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None


async def ingest_files(
    service: RecordingService,
    sessions: async_sessionmaker[AsyncSession],
    files: Iterable[Path],
    meta: IngestMetadata,
    actor: Actor,
    *,
    use_mtime: bool,
) -> IngestSummary:
    """Ingest each file in its own session; a file that fails is noted and the rest go on.
    With `use_mtime` a file's call start is its modification time."""
    summary = IngestSummary()
    for path in files:
        file_meta = meta
        if use_mtime:
            # A clock ahead on the PBX must not push the expiry out: at most now.
            mtime = await asyncio.to_thread(modified_at, path)
            if mtime is not None:
                mtime = min(mtime, datetime.now(UTC))
            file_meta = replace(meta, started_at=mtime)
        async with sessions() as session:
            try:
                result = await service.ingest(session, path, file_meta, actor)
                await session.commit()
            except RecordingDeleted:
                await session.rollback()
                summary.deleted_before.append(path)
                continue
            except (AudioError, ServiceError) as exc:
                await session.rollback()
                summary.failed[path] = exc.message
                continue
            except OSError as exc:
                await session.rollback()
                summary.failed[path] = str(exc)
                continue
        (summary.imported if result.created else summary.skipped).append(path)
    return summary
