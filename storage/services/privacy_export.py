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

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Attachment,
    AuditEvent,
    ContactFormSubmission,
    ContactPerson,
    ContactPrivacy,
    DocumentKind,
    MessageEdit,
    Organisation,
    PrivacyDocument,
    PrivacyRequest,
    PrivacyRequestEvent,
    Recording,
    Ticket,
    TicketMessage,
    UnfiledMessage,
)
from storage.objectstore.base import ObjectStore
from storage.services import audit
from storage.services.audit import Actor
from storage.services.errors import N_, NotFound
from storage.services.privacy import PrivacyService
from storage.services.text import csv_cell

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")

README = """\
Uw gegevens bij Dynamic Telecom BV (export van {day})
====================================================

Dit archief bevat alle persoonsgegevens die de supportdesk over u bewaart (AVG art. 15
en 20). Elk bestand staat er als JSON (voor programma's) en als CSV (voor spreadsheets).

{files_nl}
Bijlagen staan als oorspronkelijk bestand in de map attachments/. Audio van
gespreksopnames zit er niet in; vraag ernaar als u die wilt ontvangen.
Interne notities van medewerkers staan in messages met direction "note".

Your data at Dynamic Telecom BV (export of {day})
==============================================

This archive holds all personal data the support desk keeps about you (GDPR art. 15 and
20). Each file is given as JSON (for programs) and as CSV (for spreadsheets).

{files_en}
Attachments are in the attachments/ folder as their original files. Call recording audio
is not included; ask for it if you want to receive it.
Internal staff notes are in messages with direction "note".
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
    "recordings": ("gespreksopnames met uw nummer als beller of gebelde (zonder audio)",
                   "call recordings with your number calling or called (no audio)"),
    "contact_form": ("berichten via het contactformulier van de website",
                     "messages sent through the website's contact form"),
    "held_messages": ("berichten die nog op een ticketkeuze wachten",
                      "messages still waiting for a ticket choice"),
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
    """Every row about the contact, by kind (also used by the erasure to know its scope)."""
    contact = await session.get(ContactPerson, contact_id, populate_existing=True)
    if contact is None:
        raise NotFound(N_("contact {contact_id} not found"), contact_id=contact_id)
    # By identity: the e-mail address and the number in E.164, however either was typed.
    phone = contact.phone_e164
    form_match = [ContactFormSubmission.email == contact.email] if contact.email else []
    if phone:
        form_match.append(ContactFormSubmission.phone_e164 == phone)
    forms = (
        list(
            await session.scalars(
                select(ContactFormSubmission)
                .where(or_(*form_match))
                .order_by(ContactFormSubmission.id)
            )
        )
        if form_match
        else []
    )
    # Their tickets, and tickets their contact-form messages opened without a contact link.
    form_tickets = [f.ticket_id for f in forms if f.ticket_id is not None]
    tickets = list(
        await session.scalars(
            select(Ticket)
            .where(or_(Ticket.contact_id == contact_id, Ticket.id.in_(form_tickets)))
            .order_by(Ticket.id)
        )
    )
    ticket_ids = [t.id for t in tickets]
    messages = list(
        await session.scalars(
            select(TicketMessage)
            .where(TicketMessage.ticket_id.in_(ticket_ids))
            .order_by(TicketMessage.id)
        )
    )
    message_ids = [m.id for m in messages]
    requests = list(
        await session.scalars(
            select(PrivacyRequest)
            .where(PrivacyRequest.contact_id == contact_id)
            .order_by(PrivacyRequest.id)
        )
    )
    request_ids = [r.id for r in requests]
    subjects = or_(
        (AuditEvent.subject_type == "contact") & (AuditEvent.subject_id == str(contact_id)),
        (AuditEvent.actor_type == "customer") & (AuditEvent.actor_id == str(contact_id)),
        (AuditEvent.subject_type == "ticket")
        & AuditEvent.subject_id.in_([str(i) for i in ticket_ids]),
        (AuditEvent.subject_type == "privacy_request")
        & AuditEvent.subject_id.in_([str(i) for i in request_ids]),
    )
    return {
        "contact": [contact],
        "organisation": [await session.get(Organisation, contact.organisation_id)]
        if contact.organisation_id
        else [],
        "tickets": tickets,
        "messages": messages,
        "message_edits": list(
            await session.scalars(
                select(MessageEdit)
                .where(MessageEdit.message_id.in_(message_ids))
                .order_by(MessageEdit.id)
            )
        ),
        "attachments": list(
            await session.scalars(
                select(Attachment)
                .where(Attachment.ticket_id.in_(ticket_ids))
                .order_by(Attachment.id)
            )
        ),
        "recordings": list(
            await session.scalars(
                select(Recording)
                .where(or_(Recording.caller_e164 == phone, Recording.callee_e164 == phone))
                .order_by(Recording.id)
            )
        )
        if phone
        else [],
        "contact_form": forms,
        "held_messages": list(
            await session.scalars(
                select(UnfiledMessage)
                .where(UnfiledMessage.contact_id == contact_id)
                .order_by(UnfiledMessage.id)
            )
        ),
        "privacy_requests": requests,
        "privacy_request_events": list(
            await session.scalars(
                select(PrivacyRequestEvent)
                .where(PrivacyRequestEvent.request_id.in_(request_ids))
                .order_by(PrivacyRequestEvent.id)
            )
        ),
        "privacy_flags": [f for f in [await session.get(ContactPrivacy, contact_id)] if f],
        "audit": list(
            await session.scalars(select(AuditEvent).where(subjects).order_by(AuditEvent.id))
        ),
    }


# Columns that are ours, not theirs: storage internals left out of the export.
_HIDDEN = {
    "contact_form": ("ip_hash",),
    "attachments": ("object_key", "version_id"),
    "recordings": ("object_key", "version_id"),
}


def _tables(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    for name in FILES:
        rows = _rows(data[name])
        hidden = _HIDDEN.get(name, ())
        tables[name] = [{k: v for k, v in row.items() if k not in hidden} for row in rows]
    events = _rows(data["privacy_request_events"])
    for row in tables["privacy_requests"]:
        row["events"] = [e for e in events if e["request_id"] == row["id"]]
    return tables


def _write_zip(
    path: Path, tables: dict[str, list[dict[str, Any]]], files: list[tuple[str, Path]], day: str
) -> None:
    files_nl = "".join(f"- {n}.json / {n}.csv: {FILES[n][0]}\n" for n in FILES)
    files_en = "".join(f"- {n}.json / {n}.csv: {FILES[n][1]}\n" for n in FILES)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("README.txt", README.format(day=day, files_nl=files_nl, files_en=files_en))
        for name, rows in tables.items():
            zf.writestr(f"{name}.json", json.dumps(rows, indent=2, ensure_ascii=False))
            zf.writestr(f"{name}.csv", _csv(rows))
        for arcname, source in files:
            zf.write(source, arcname)


async def download_object(store: ObjectStore, key: str, target: Path) -> None:
    """Stream one object to disk without holding it in memory."""
    stream = await store.get(key)
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
    it to that path (the CLI)."""
    data = await gather(session, contact_id)
    tables = _tables(data)
    now = service.clock.now()
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="sd-export-"))
    try:
        files = []
        for attachment in data["attachments"]:
            name = _SAFE.sub("_", attachment.filename or "file")[:100]
            target = workdir / f"a{attachment.id}"
            await download_object(service.store, attachment.object_key, target)
            files.append((f"attachments/{attachment.id}_{name}", target))
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
