"""`supportdesk ingest`: the recording vault on the command line.

Registered on the main group in admin/cli.py. The recordings sweep is one rule of
`supportdesk sweep` (storage/retention/cli.py), which calls RecordingService.delete_recording.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import click

from recordings.archive import configure_lifecycle, retention_days
from recordings.audio import AUDIO_SUFFIXES, AudioError
from recordings.policy import policy_from_settings
from recordings.service import (
    MAX_CLOCK_SKEW,
    IngestMetadata,
    RecordingDeleted,
    RecordingService,
)
from storage import migrate as migrations
from storage.clock import SystemClock
from storage.config import ConfigError, Settings, load_settings
from storage.db import create_engine, create_sessionmaker
from storage.objectstore import create_object_store
from storage.services.audit import Actor
from storage.services.errors import ServiceError


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


def _parse_moment(value: str | None, settings: Settings, option: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO date/time: {value!r}", param_hint=option) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.zone)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise click.BadParameter(f"out of range: {value!r}", param_hint=option) from None


def _unique(paths: list[Path]) -> list[Path]:
    seen: set[Path] = set()
    unique = []
    for path in paths:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique


def collect_files(paths: tuple[Path, ...]) -> tuple[list[Path], list[Path]]:
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


async def _ingest(
    settings: Settings,
    files: list[Path],
    meta: IngestMetadata,
    use_mtime: bool,
    progress: bool,
) -> IngestSummary:
    engine = create_engine(settings.effective_database_url)
    store = create_object_store(settings)
    summary = IngestSummary()
    try:
        await migrations.upgrade(engine)
        await configure_lifecycle(store, retention_days(settings))
        service = RecordingService(SystemClock(), store, policy_from_settings(settings))
        sessions = create_sessionmaker(engine)
        actor = Actor.system("cli-ingest")
        with click.progressbar(
            files, label="ingesting", file=sys.stderr, hidden=not progress
        ) as bar:
            for path in bar:
                file_meta = meta
                if use_mtime:
                    # A clock ahead on the PBX must not push the expiry out: at most now.
                    mtime = await asyncio.to_thread(_mtime, path)
                    if mtime is not None:
                        mtime = min(mtime, datetime.now(UTC))
                    file_meta = IngestMetadata(**{**meta.__dict__, "started_at": mtime})
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
    finally:
        await store.close()
        await engine.dispose()
    return summary


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--caller", default=None, help="Caller number.")
@click.option("--caller-withheld", is_flag=True, help="The caller's number is withheld (shielded).")
@click.option("--callee", default=None, help="Called number.")
@click.option("--agent", default=None, help="Agent who took the call.")
@click.option(
    "--started-at",
    default=None,
    help="Call start (ISO 8601; without an offset SUPPORTDESK_TIMEZONE). "
    "Default: each file's modification time.",
)
@click.option("--ticket", "ticket_id", type=int, default=None, help="Link to this ticket id.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def ingest(
    paths: tuple[Path, ...],
    caller: str | None,
    caller_withheld: bool,
    callee: str | None,
    agent: str | None,
    started_at: str | None,
    ticket_id: int | None,
    quiet: bool,
) -> None:
    """Import call recordings (files, or folders walked recursively, e.g. a PBX export).

    Idempotent: a file whose sha256 is already in the vault, or whose recording was deleted
    before, is skipped, and so are folder files that are not audio we take. Prints a summary
    of imported/skipped/failed; exits 1 when any file failed.
    """
    settings = _settings()
    moment = _parse_moment(started_at, settings, "--started-at")
    if moment is not None and moment > datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise click.BadParameter(
            f"{started_at} is in the future; a call start cannot be", param_hint="--started-at"
        )
    files, not_audio = collect_files(paths)
    meta = IngestMetadata(
        caller=caller,
        caller_withheld=caller_withheld,
        callee=callee,
        agent=agent,
        started_at=moment,
        ticket_id=ticket_id,
    )
    summary = asyncio.run(
        _ingest(settings, files, meta, use_mtime=moment is None, progress=not quiet)
    )
    summary.not_audio = not_audio
    for path in summary.deleted_before:
        click.echo(f"skipped: {path}: deleted before, not imported again", err=True)
    for path in summary.not_audio:
        click.echo(f"skipped: {path}: not audio we take ({path.suffix or 'no suffix'})", err=True)
    for path, reason in summary.failed.items():
        click.echo(f"failed: {path}: {reason}", err=True)
    click.echo(summary.line())
    if summary.failed:
        sys.exit(1)
