"""Privacy rights on the command line: `supportdesk export`, the access/portability export
of one contact person as a ZIP file (also kept 7 days in the object store, like the
admin's)."""

from __future__ import annotations

from pathlib import Path

import click

from admin.cli.runtime import cli_runtime, cli_settings, run
from storage.config import Settings
from storage.services.audit import Actor
from storage.services.privacy import PrivacyService
from storage.services.privacy_export import export_contact


@click.command("export")
@click.option("--contact", "contact_id", type=int, required=True, help="Contact person id.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the ZIP (default: ./export-contact-ID.zip).",
)
def export(contact_id: int, out: Path | None) -> None:
    """Write everything held about contact person ID to a ZIP (JSON, CSV, attachments and a
    Dutch/English README) for an access or portability request."""
    settings = cli_settings()
    target = out or Path(f"export-contact-{contact_id}.zip")
    document_id = run(_export(settings, contact_id, target))
    click.echo(f"{target} (stored as privacy document {document_id}, removed after 7 days)")


async def _export(settings: Settings, contact_id: int, out: Path) -> int:
    async with cli_runtime(settings, bucket=True) as rt:
        document = await rt.in_session(
            lambda session: export_contact(
                PrivacyService(rt.clock, rt.store),
                session,
                contact_id,
                actor=Actor.system("cli"),
                out=out,
            )
        )
        return document.id
