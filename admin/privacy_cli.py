"""`supportdesk export --contact ID [--out PATH]`: the access/portability export of one
contact person as a ZIP file (also kept 7 days in the object store, like the admin's)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from storage import migrate as migrations
from storage.clock import SystemClock
from storage.config import ConfigError, Settings, load_settings
from storage.db import create_engine, create_sessionmaker
from storage.objectstore import create_object_store
from storage.services.audit import Actor
from storage.services.errors import ServiceError
from storage.services.privacy import PrivacyService
from storage.services.privacy_export import export_contact


async def _export(settings: Settings, contact_id: int, out: Path) -> int:
    engine = create_engine(settings.effective_database_url)
    store = create_object_store(settings)
    try:
        await migrations.upgrade(engine)
        await store.ensure_bucket()
        async with create_sessionmaker(engine)() as session:
            document = await export_contact(
                PrivacyService(SystemClock(), store),
                session,
                contact_id,
                actor=Actor.system("cli"),
                out=out,
            )
            await session.commit()
            return document.id
    finally:
        await store.close()
        await engine.dispose()


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
    try:
        settings = load_settings()
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    target = out or Path(f"export-contact-{contact_id}.zip")
    try:
        document_id = asyncio.run(_export(settings, contact_id, target))
    except ServiceError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"{target} (stored as privacy document {document_id}, removed after 7 days)")
