"""Erasure (GDPR art. 17): everything about one contact person goes, except what an active
hold keeps (art. 17(3)(e): establishment, exercise or defence of legal claims), which is
kept and listed with its ground.

Per data kind: tickets are anonymised (personal fields blanked, texts replaced, so the
statistics survive) or deleted (SUPPORTDESK_PRIVACY_ERASURE_TICKETS); attachments, exports,
ID copies, contact-form messages and non-held recordings are deleted (objects first, then
rows; recordings through the injected RecordingDeleter: the vault's delete path and its
hold check). Audit events about the subject are stripped of personal data. Held messages
go with the contact (ON DELETE CASCADE). On SQLite the search indexes are compacted
afterwards and freed pages are zeroed (secure_delete, storage/db.py), so nothing erased
lingers in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Attachment,
    BotUpdate,
    ContactFormSubmission,
    HoldKind,
    MessageEdit,
    PrivacyDocument,
    PrivacyRequest,
    PrivacyRequestEvent,
    Recording,
    RecordingHold,
    ReplyChunk,
    Ticket,
    TicketMessage,
)
from storage.services import audit, purge
from storage.services.audit import Actor
from storage.services.errors import N_, Conflict
from storage.services.privacy import PrivacyService
from storage.services.privacy_export import gather
from storage.services.recording_port import RecordingDeleter, RecordingHeld

ERASED_TEXT = "[verwijderd op verzoek van de betrokkene / erased at the data subject's request]"
TICKET_MODES = ("anonymise", "delete")
GROUNDS = {
    HoldKind.EVIDENCE: "AVG art. 17 lid 3 sub e (bewijs, rechtsvordering) / "
    "GDPR art. 17(3)(e) (evidence, legal claims)",
    HoldKind.TRAINING: "trainingsblokkade: eerst vrijgeven, dan opnieuw wissen / "
    "training hold: release it, then erase again",
}


@dataclass
class Kept:
    kind: str
    id: int
    ground: str


@dataclass
class ErasureResult:
    counts: dict[str, int] = field(default_factory=dict)
    kept: list[Kept] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{kind}: {n}" for kind, n in sorted(self.counts.items())]
        if self.kept:
            lines.append("Bewaard / kept:")
            lines += [f"- {k.kind} {k.id}: {k.ground}" for k in self.kept]
        return "\n".join(lines)


async def _held_grounds(session: AsyncSession, recording_ids: list[int]) -> dict[int, str]:
    rows = await session.execute(
        select(RecordingHold.recording_id, RecordingHold.kind).where(
            RecordingHold.recording_id.in_(recording_ids), RecordingHold.released_at.is_(None)
        )
    )
    grounds: dict[int, str] = {}
    for recording_id, kind in rows:
        if kind == HoldKind.EVIDENCE or recording_id not in grounds:
            grounds[recording_id] = GROUNDS[kind]
    return grounds


async def _recordings(
    session: AsyncSession,
    recordings: RecordingDeleter,
    ids: list[int],
    actor: Actor,
    result: ErasureResult,
) -> set[int]:
    """Delete every recording that is not held; returns the tickets a held one keeps."""
    grounds = await _held_grounds(session, ids)
    keep_tickets: set[int] = set()
    deleted = 0
    for recording_id in ids:
        try:
            async with session.begin_nested():
                await recordings.delete_recording(
                    session, recording_id, actor=actor, reason="erasure request"
                )
        except RecordingHeld:
            result.kept.append(Kept("recording", recording_id, grounds.get(recording_id, "")))
            ticket_id = await session.scalar(
                select(Recording.ticket_id).where(Recording.id == recording_id)
            )
            if ticket_id is not None:
                keep_tickets.add(ticket_id)
        else:
            deleted += 1
    result.counts["recordings_deleted"] = deleted
    return keep_tickets


async def _anonymise_tickets(
    session: AsyncSession, service: PrivacyService, ticket_ids: list[int]
) -> None:
    """Attachments (files) go; the ticket and its messages stay without personal data."""
    rows = await session.execute(
        select(Attachment.object_key, Attachment.version_id).where(
            Attachment.ticket_id.in_(ticket_ids)
        )
    )
    for key, version_id in rows.all():
        await service.store.delete(key, version_id=version_id)
    await session.execute(delete(Attachment).where(Attachment.ticket_id.in_(ticket_ids)))
    message_ids = select(TicketMessage.id).where(TicketMessage.ticket_id.in_(ticket_ids))
    await session.execute(delete(MessageEdit).where(MessageEdit.message_id.in_(message_ids)))
    await session.execute(delete(ReplyChunk).where(ReplyChunk.message_id.in_(message_ids)))
    await session.execute(
        update(TicketMessage)
        .where(TicketMessage.ticket_id.in_(ticket_ids))
        .values(
            text=ERASED_TEXT,
            author_contact_id=None,
            telegram_chat_id=None,
            telegram_message_id=None,
            delivery_error=None,
        )
    )
    await session.execute(
        update(Ticket).where(Ticket.id.in_(ticket_ids)).values(subject="", contact_id=None)
    )
    await purge.strip_audit(session, "ticket", ticket_ids)


async def erase_contact(
    service: PrivacyService,
    recordings: RecordingDeleter,
    session: AsyncSession,
    contact_id: int,
    *,
    actor: Actor,
    request_id: int | None = None,
    ticket_mode: str = "anonymise",
) -> ErasureResult:
    if ticket_mode not in TICKET_MODES:
        raise ValueError(f"ticket_mode must be one of {TICKET_MODES}")
    if request_id is not None:
        request = await service.get(session, request_id)
        if request.verified_at is None:
            raise Conflict(N_("verify the requester's identity before erasing"))
    data = await gather(session, contact_id)  # NotFound when already gone
    contact = data["contact"][0]
    telegram_id = contact.telegram_user_id
    result = ErasureResult()
    now = service.clock.now()

    keep_tickets = await _recordings(
        session, recordings, [r.id for r in data["recordings"]], actor, result
    )
    ticket_ids = [t.id for t in data["tickets"] if t.id not in keep_tickets]
    result.kept += [Kept("ticket", t, "bij bewaarde opname / with a kept recording") for t in
                    sorted(keep_tickets)]  # fmt: skip
    if ticket_mode == "delete":
        purged = await purge.delete_tickets(
            session, service.store, ticket_ids, actor=actor, at=now, reason="erasure request"
        )
        result.counts["tickets_deleted"] = len(purged.deleted)
        # A ticket whose attachment object could not be deleted survives: say so.
        result.kept += [Kept("ticket", t, why) for t, why in sorted(purged.failed.items())]
    else:
        await _anonymise_tickets(session, service, ticket_ids)
        result.counts["tickets_anonymised"] = len(ticket_ids)

    forms = [f.id for f in data["contact_form"]]
    await purge.strip_audit(session, "contact_form_submission", forms)
    await session.execute(delete(ContactFormSubmission).where(ContactFormSubmission.id.in_(forms)))
    result.counts["contact_form_deleted"] = len(forms)

    result.counts["files_deleted"] = await service.delete_documents(
        session,
        select(PrivacyDocument.id).where(PrivacyDocument.contact_id == contact_id),
        actor=actor,
        reason="erasure request",
    )
    request_ids = [r.id for r in data["privacy_requests"]]
    await session.execute(
        update(PrivacyRequest)
        .where(PrivacyRequest.id.in_(request_ids))
        .values(telegram_user_id=None, details="")
    )
    await session.execute(
        update(PrivacyRequestEvent)
        .where(PrivacyRequestEvent.request_id.in_(request_ids))
        .values(note="")
    )
    if telegram_id is not None:
        # Inbox payloads still naming the user (unhandled or failed updates).
        # Anchored on what may follow the number: "id":123 must not match "id":1234.
        await session.execute(
            delete(BotUpdate).where(
                or_(
                    *(
                        BotUpdate.payload.contains(f'"id"{sep}{telegram_id}{end}')
                        for sep in (":", ": ")
                        for end in (",", "}")
                    )
                )
            )
        )
    await purge.delete_contacts(
        session, [contact_id], actor=actor, at=now, reason="erasure request"
    )
    result.counts["contact_deleted"] = 1
    audit.record(
        session,
        actor=actor,
        action="privacy.erasure",
        subject_type="privacy_request" if request_id is not None else "contact",
        subject_id=request_id if request_id is not None else contact_id,
        at=now,
        details={
            "ticket_mode": ticket_mode,
            "counts": result.counts,
            "kept": [{"kind": k.kind, "id": k.id, "ground": k.ground} for k in result.kept],
        },
    )
    if request_id is not None:
        service._log(session, request_id, actor, "erased", result.summary())
    await purge.compact_search_index(session)  # flushes
    purge.checkpoint_wal_after_commit(session)  # the WAL still holds the erased texts
    return result
