"""Access/portability export (GDPR art. 15 and 20): a ZIP with JSON and CSV of everything
held about one contact person, the attachment files and a README in Dutch and English.

The ZIP is built in a temporary directory (attachments streamed to disk chunk by chunk,
zipping in a thread) and stored as a temporary object, removed after 7 days.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import shutil
import tempfile
import zipfile
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    DocumentKind,
    PrivacyDocument,
)
from storage.objectstore.base import ObjectStore
from storage.services import audit
from storage.services.audit import Actor
from storage.services.errors import N_, InvalidInput
from storage.services.privacy import PrivacyService
from storage.services.redaction import REDACTED, Redactor, redactor
from storage.services.subject import index_of_contact
from storage.services.text import csv_cell

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")

README = """\
Uw gegevens bij Dynamic Telecom BV (export van {day})
====================================================

Dit archief bevat alle persoonsgegevens die de supportdesk over u bewaart (AVG art. 15
en 20). Elk bestand staat er als JSON (voor programma's) en als CSV (voor spreadsheets).

{files_nl}
Bijlagen staan als oorspronkelijk bestand in de map attachments/, de audio van
gespreksopnames in de map recordings/ (met hun blokkadegeschiedenis in recording_holds en
de notities van trainers over het gesprek in recording_notes).
Interne notities van medewerkers staan in messages met direction "note".
Namen, telefoonnummers en e-mailadressen van andere personen in vrije tekst zijn
vervangen door "{marker}": hun gegevens horen niet bij uw inzage (AVG art. 15 lid 4).

Your data at Dynamic Telecom BV (export of {day})
==============================================

This archive holds all personal data the support desk keeps about you (GDPR art. 15 and
20). Each file is given as JSON (for programs) and as CSV (for spreadsheets).

{files_en}
Attachments are in the attachments/ folder as their original files, call recording audio
in the recordings/ folder (their hold history in recording_holds, trainers' notes about
the call in recording_notes).
Internal staff notes are in messages with direction "note".
Names, phone numbers and e-mail addresses of other people in free text are replaced by
"{marker}": their data is not part of your copy (GDPR art. 15(4)).
"""

# name: (Dutch, English)
FILES: dict[str, tuple[str, str]] = {
    "contact": ("uw contactgegevens (naam, e-mail, telefoon, Telegram)",
                "your contact data (name, e-mail, phone, Telegram)"),
    "organisation": ("de organisatie waaraan u gekoppeld bent",
                     "the organisation you are linked to"),
    "tickets": ("uw supporttickets", "your support tickets"),
    "messages": ("alle berichten in die tickets", "every message in those tickets"),
    "message_edits": ("wijzigingen van die berichten", "edits of those messages"),
    "attachments": ("gegevens van de bijlagen (de bestanden zelf in attachments/)",
                    "metadata of the attachments (the files themselves in attachments/)"),
    "recordings": ("gespreksopnames met uw nummer of over uw tickets (audio in recordings/)",
                   "call recordings with your number or about your tickets (audio in recordings/)"),
    "recording_holds": ("blokkades op die opnames (training, bewijs) en hun opheffing",
                        "holds on those recordings (training, evidence) and their release"),
    "recording_notes": ("notities van trainers bij momenten in die opnames",
                        "trainers' notes at moments of those recordings"),
    "link_codes": ("koppelcodes voor Telegram (zonder de code zelf)",
                   "Telegram link codes (without the code itself)"),
    "contact_form": ("berichten via het contactformulier van de website",
                     "messages sent through the website's contact form"),
    "held_messages": ("berichten die nog op een ticketkeuze wachten",
                      "messages still waiting for a ticket choice"),
    "outbox": ("wat de bot u nog stuurt of stuurde (verzonden berichten zonder tekst)",
               "what the bot is still to send you or sent (sent messages without text)"),
    "privacy_requests": ("uw privacyverzoeken en hun verloop",
                         "your privacy requests and their progress"),
    "privacy_flags": ("beperking, ingetrokken toestemming en bezwaar",
                      "restriction, withdrawn consent and objection"),
    "audit": ("de audittrail van handelingen over u of door u",
              "the audit trail of actions about you or by you"),
}  # fmt: skip


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict | list):
        return value
    return value


def _rows(objects: list[Any], columns: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    rows = []
    for obj in objects:
        names = columns or tuple(c.key for c in obj.__table__.columns)
        rows.append({name: _plain(getattr(obj, name)) for name in names})
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    """The CSV files are meant for spreadsheets: cells that could run as a formula are
    neutralised (csv_cell); the JSON files keep the exact values."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: csv_cell(json.dumps(v) if isinstance(v, dict | list) else v)
                    for k, v in row.items()
                }
            )
    return out.getvalue()


async def gather(session: AsyncSession, contact_id: int) -> dict[str, Any]:
    """Every row about the contact, by kind: the subject index (storage/services/subject.py)."""
    return (await index_of_contact(session, contact_id)).as_dict()


# Columns that are ours, not theirs: storage internals left out of the export.
_HIDDEN = {
    "contact_form": ("ip_hash",),
    "attachments": ("object_key", "version_id"),
    "recordings": ("object_key", "version_id"),
    "link_codes": ("code_hash",),
}
# Free-text columns that can name other people: redacted (GDPR art. 15(4)). Identity
# columns (the subject's own name, number, e-mail) are theirs and stay.
_FREE_TEXT = {
    "tickets": ("subject",),
    "messages": ("text", "delivery_error"),
    "message_edits": ("previous_text", "new_text"),
    "attachments": ("filename",),
    "recordings": ("caller", "callee", "original_filename"),
    "recording_holds": ("reason", "release_reason"),
    "recording_notes": ("text",),
    "contact_form": ("message",),
    "held_messages": ("text",),
    "outbox": ("payload", "last_error"),
    "privacy_requests": ("details", "outcome"),
    "audit": ("details",),
}


def _tables(data: dict[str, Any], redact: Redactor) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    for name in FILES:
        rows = _rows(data[name])
        hidden = _HIDDEN.get(name, ())
        free = _FREE_TEXT.get(name, ())
        tables[name] = [
            {k: redact.value(v) if k in free else v for k, v in row.items() if k not in hidden}
            for row in rows
        ]
    events = [{**e, "note": redact.value(e["note"])} for e in _rows(data["privacy_request_events"])]
    for row in tables["privacy_requests"]:
        row["events"] = [e for e in events if e["request_id"] == row["id"]]
    return tables


def _write_zip(
    path: Path, tables: dict[str, list[dict[str, Any]]], files: list[tuple[str, Path]], day: str
) -> None:
    files_nl = "".join(f"- {n}.json / {n}.csv: {FILES[n][0]}\n" for n in FILES)
    files_en = "".join(f"- {n}.json / {n}.csv: {FILES[n][1]}\n" for n in FILES)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        readme = README.format(day=day, files_nl=files_nl, files_en=files_en, marker=REDACTED)
        zf.writestr("README.txt", readme)
        for name, rows in tables.items():
            zf.writestr(f"{name}.json", json.dumps(rows, indent=2, ensure_ascii=False))
            zf.writestr(f"{name}.csv", _csv(rows))
        for arcname, source in files:
            zf.write(source, arcname)


async def download_object(
    store: ObjectStore, key: str, target: Path, *, version_id: str | None = None
) -> None:
    """Stream one object to disk without holding it in memory."""
    stream = await store.get(key, version_id=version_id)
    fh = await asyncio.to_thread(target.open, "wb")
    try:
        async with stream:
            async for chunk in stream:
                await asyncio.to_thread(fh.write, chunk)
    finally:
        await asyncio.to_thread(fh.close)


async def export_contact(
    service: PrivacyService,
    session: AsyncSession,
    contact_id: int,
    *,
    actor: Actor,
    request_id: int | None = None,
    out: Path | None = None,
) -> PrivacyDocument:
    """Build the ZIP, store it as a temporary object (7 days) and, with `out`, also write
    it to that path (the CLI). With `request_id`, only for a request that offers one."""
    if request_id is not None:
        service.require_action(await service.get(session, request_id), "export")
    found = await index_of_contact(session, contact_id)
    data = found.as_dict()
    tables = _tables(data, await redactor(session, found))
    now = service.clock.now()
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="sd-export-"))
    try:
        files = []
        for attachment in data["attachments"]:
            name = _SAFE.sub("_", attachment.filename or "file")[:100]
            target = workdir / f"a{attachment.id}"
            await download_object(service.store, attachment.object_key, target)
            files.append((f"attachments/{attachment.id}_{name}", target))
        for recording in data["recordings"]:
            target = workdir / f"r{recording.id}"
            await download_object(
                service.store, recording.object_key, target, version_id=recording.version_id
            )
            files.append((f"recordings/{recording.id}.ogg", target))
        zip_path = workdir / "export.zip"
        await asyncio.to_thread(_write_zip, zip_path, tables, files, f"{now:%Y-%m-%d}")
        document = await service.store_document(
            session,
            kind=DocumentKind.EXPORT,
            source=zip_path,
            content_type="application/zip",
            request_id=request_id,
            contact_id=contact_id,
        )
        if out is not None:
            await asyncio.to_thread(shutil.copyfile, zip_path, out)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    counts = {name: len(rows) for name, rows in tables.items()}
    if request_id is not None:
        service._log(session, request_id, actor, "export_created", f"document {document.id}")
    audit.record(
        session,
        actor=actor,
        action="privacy.export",
        subject_type="contact",
        subject_id=contact_id,
        at=now,
        details={"request_id": request_id, "document_id": document.id, "counts": counts},
    )
    await session.flush()
    return document


async def export_request(
    service: PrivacyService, session: AsyncSession, request_id: int, *, actor: Actor
) -> PrivacyDocument:
    """The export a request asks for: only an access or portability request offers one."""
    request = await service.get(session, request_id)
    service.require_action(request, "export")  # before the subject: the clearer refusal
    if request.contact_id is None:
        raise InvalidInput(N_("the subject of this request no longer exists"))
    return await export_contact(
        service, session, request.contact_id, actor=actor, request_id=request.id
    )
