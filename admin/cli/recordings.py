"""The recording vault on the command line: `supportdesk ingest`. (The recordings sweep is
one rule of `supportdesk sweep`, admin/cli/retention.py.)"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from admin.cli.runtime import cli_runtime, cli_settings, moment_option, run
from recordings.archive import configure_lifecycle, retention_days
from recordings.bulk_ingest import IngestSummary, collect_files, ingest_files
from recordings.service import MAX_CLOCK_SKEW, IngestMetadata
from storage.config import Settings
from storage.services.audit import Actor


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
    settings = cli_settings()
    moment = moment_option(started_at, settings, "--started-at")
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
    summary = run(_ingest(settings, files, meta, use_mtime=moment is None, progress=not quiet))
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


async def _ingest(
    settings: Settings, files: list[Path], meta: IngestMetadata, *, use_mtime: bool, progress: bool
) -> IngestSummary:
    async with cli_runtime(settings) as rt:
        await configure_lifecycle(rt.store, retention_days(settings))  # creates the bucket too
        with click.progressbar(
            files, label="ingesting", file=sys.stderr, hidden=not progress
        ) as bar:
            return await ingest_files(
                rt.recordings(),
                rt.sessions,
                bar,
                meta,
                Actor.system("cli-ingest"),
                use_mtime=use_mtime,
            )
