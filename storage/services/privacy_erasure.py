"""Erasure (GDPR art. 17) that always finishes: everything the subject index
(storage/services/subject.py) finds about the person goes, item by item, each listed with
its outcome:

- erased      deleted (rows; objects first, every version);
- anonymised  the row stays for others (a ticket's statistics, a request's proof) with its
              personal fields overwritten;
- kept        under an evidence hold: GDPR art. 17(3)(e) (legal claims), with the ticket the
              recording is about;
- waiting     could not be done now (an object store error): retried on the next run.

A training hold yields: it is released with the request as its documented reason (audited
on the request), then the recording goes through the vault's hold-checked delete.

While anything is kept or waiting the request stays open and its erasure run (erasure_runs)
holds the ids of those items and the subject's identifiers needed to find them (E.164
numbers, e-mail, Telegram id): the contact row itself is gone after the first run. A re-run
finishes what it can; when nothing is left the run and its snapshot are deleted and the
request is closed with the list as its outcome.

SQLite: the search indexes are compacted; after the commit the WAL is checkpointed; freed
pages are zeroed (secure_delete, storage/db.py). PostgreSQL: rows are deleted or updated,
which leaves their old versions in the pages; every table any of the erasure's commits
changed is rewritten (VACUUM (FULL)) so the erased values leave the table, TOAST and index
files. Both by the disk cleanup worker, off the request path (storage/services/disk_cleanup.py):
the session is tracked from the erasure's start, as the vault commits partway through.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Attachment,
    BotUpdate,
    ContactFormSubmission,
    ErasureItem,
    ErasureRun,
    LinkCode,
    MessageEdit,
    OutboxMessage,
    PrivacyDocument,
    PrivacyRequest,
    PrivacyRequestEvent,
    ReplyChunk,
    RequestStatus,
    RequestType,
    Ticket,
    TicketMessage,
    UnfiledMessage,
)
from storage.objectstore.base import ObjectStoreError
from storage.services import audit, disk_cleanup, purge
from storage.services.audit import Actor
from storage.services.errors import N_, Conflict, InvalidInput
from storage.services.privacy import OPEN, PrivacyService
from storage.services.privacy_recordings import delete_subject_recordings
from storage.services.recording_port import RecordingEraser
from storage.services.redaction import erase_mentions
from storage.services.subject import SubjectIdentity, SubjectIndex, identity_of_contact, index

ERASED_TEXT = "[verwijderd op verzoek van de betrokkene / erased at the data subject's request]"
TICKET_MODES = ("anonymise", "delete")
ERASED, ANONYMISED, KEPT, WAITING = "erased", "anonymised", "kept", "waiting"
GROUND_EVIDENCE = (
    "AVG art. 17 lid 3 sub e (bewijs, rechtsvordering) / "
    "GDPR art. 17(3)(e) (evidence, legal claims)"
)
GROUND_TICKET = "bij opname onder bewijsblokkade / with a recording under evidence hold: " + (
    "GDPR art. 17(3)(e)"
)
COMPLETED = "completed"


@dataclass
class Item:
    type: str
    id: int
    outcome: str
    ground: str = ""

    @property
    def kind(self) -> str:  # the former `Kept.kind`
        return self.type


@dataclass
class ErasureResult:
    request_id: int | None = None
    items: list[Item] = field(default_factory=list)

    @property
    def status(self) -> str:
        """'waiting' while any item is kept or waiting, else 'completed'."""
        return WAITING if self.kept else COMPLETED

    @property
    def kept(self) -> list[Item]:
        return [i for i in self.items if i.outcome in (KEPT, WAITING)]

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.items:
            key = f"{item.type}_{item.outcome}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def add(self, type: str, ids: object, outcome: str, ground: str = "") -> None:
        self.items += [Item(type, i, outcome, ground) for i in ids]  # type: ignore[attr-defined]

    def summary(self) -> str:
        lines = [f"{kind}: {n}" for kind, n in sorted(self.counts.items())]
        if self.kept:
            lines.append("Bewaard / kept (of wachtend / or waiting):")
            lines += [f"- {k.type} {k.id} ({k.outcome}): {k.ground}" for k in self.kept]
        return "\n".join(lines)

    def as_json(self) -> list[dict[str, object]]:
        return [
            {"type": i.type, "id": i.id, "outcome": i.outcome, "ground": i.ground}
            for i in self.items
        ]


# --- recordings --------------------------------------------------------------------------


async def _recordings(
    session: AsyncSession,
    recordings: RecordingEraser,
    found: SubjectIndex,
    *,
    actor: Actor,
    reason: str,
    request_id: int | None,
    now: datetime,
    result: ErasureResult,
) -> set[int]:
    """Evidence keeps a recording; a training hold yields (privacy_recordings.py).
    Returns the tickets a kept recording is about."""
    outcome = await delete_subject_recordings(
        session, recordings, found, actor=actor, reason=reason, request_id=request_id, now=now
    )
    result.add("recording", outcome.erased, ERASED)
    result.add("recording", outcome.kept, KEPT, GROUND_EVIDENCE)
    for recording_id, why in outcome.waiting.items():
        result.add("recording", [recording_id], WAITING, why)
    return outcome.keep_tickets


# --- tickets -----------------------------------------------------------------------------


async def _delete_attachment_objects(
    service: PrivacyService, attachments: list[Attachment]
) -> dict[int, str]:
    """Every version of each attachment's object; returns the tickets whose objects failed."""
    failed: dict[int, str] = {}
    for attachment in attachments:
        try:
            await service.store.delete(attachment.object_key)
        except ObjectStoreError as exc:
            failed.setdefault(attachment.ticket_id, f"object: {type(exc).__name__}")
    return failed


async def _anonymise_messages(session: AsyncSession, message_ids: list[int]) -> None:
    if not message_ids:
        return
    await session.execute(delete(MessageEdit).where(MessageEdit.message_id.in_(message_ids)))
    await session.execute(delete(ReplyChunk).where(ReplyChunk.message_id.in_(message_ids)))
    await session.execute(
        update(TicketMessage)
        .where(TicketMessage.id.in_(message_ids))
        .values(
            text=ERASED_TEXT,
            author_contact_id=None,
            telegram_chat_id=None,
            telegram_message_id=None,
            delivery_error=None,
        )
        .execution_options(synchronize_session=False)
    )


async def _tickets(
    service: PrivacyService,
    session: AsyncSession,
    found: SubjectIndex,
    keep: set[int],
    *,
    mode: str,
    actor: Actor,
    reason: str,
    result: ErasureResult,
) -> None:
    subject_tickets = [t.id for t in found.tickets]
    result.add("ticket", sorted(keep & set(subject_tickets)), KEPT, GROUND_TICKET)
    ids = [t for t in subject_tickets if t not in keep]
    attachments = [a for a in found.attachments if a.ticket_id in ids]
    failed = await _delete_attachment_objects(service, attachments)
    result.add("ticket", sorted(failed), WAITING, "attachment object not deleted yet")
    ids = [t for t in ids if t not in failed]
    done_attachments = [a.id for a in attachments if a.ticket_id in ids]
    if mode == "delete":
        purged = await purge.delete_tickets(
            session, service.store, ids, actor=actor, at=service.clock.now(), reason=reason
        )
        result.add("ticket", purged.deleted, ERASED)
        result.add("attachment", done_attachments, ERASED)
    elif ids:
        await session.execute(delete(Attachment).where(Attachment.id.in_(done_attachments)))
        in_tickets = [m.id for m in found.messages if m.ticket_id in ids]
        await _anonymise_messages(session, in_tickets)
        await session.execute(
            update(Ticket)
            .where(Ticket.id.in_(ids))
            .values(subject="", contact_id=None)
            .execution_options(synchronize_session=False)
        )
        await purge.strip_audit(session, "ticket", ids)
        result.add("ticket", ids, ANONYMISED)
        result.add("attachment", done_attachments, ERASED)
        result.add("message", in_tickets, ANONYMISED)
    # What they wrote in other people's tickets: those messages only.
    elsewhere = [m.id for m in found.messages if m.ticket_id not in subject_tickets]
    await _anonymise_messages(session, elsewhere)
    result.add("message", elsewhere, ANONYMISED)
    message_ids = {m.id for m in found.messages}
    edits = [e.id for e in found.message_edits if e.message_id not in message_ids]
    if edits:
        await session.execute(delete(MessageEdit).where(MessageEdit.id.in_(edits)))
        result.add("message_edit", edits, ERASED)


# --- everything else ---------------------------------------------------------------------


async def _rest(
    service: PrivacyService,
    session: AsyncSession,
    found: SubjectIndex,
    *,
    actor: Actor,
    reason: str,
    result: ErasureResult,
) -> None:
    forms = [f.id for f in found.contact_form]
    await purge.strip_audit(session, "contact_form_submission", forms)
    await session.execute(delete(ContactFormSubmission).where(ContactFormSubmission.id.in_(forms)))
    result.add("contact_form", forms, ERASED)

    documents = [d.id for d in found.privacy_documents if d.deleted_at is None]
    failed: dict[int, str] = {}
    await service.delete_documents(
        session,
        select(PrivacyDocument.id).where(PrivacyDocument.id.in_(documents)),
        actor=actor,
        reason=reason,
        failed=failed,
    )
    result.add("privacy_document", [d for d in documents if d not in failed], ERASED)
    result.add("privacy_document", sorted(failed), WAITING, "object not deleted yet")

    for model, rows, kind in (
        (UnfiledMessage, found.held_messages, "held_message"),
        (LinkCode, found.link_codes, "link_code"),
    ):
        ids = [r.id for r in rows]
        await session.execute(delete(model).where(model.id.in_(ids)))
        result.add(kind, ids, ERASED)
    # Nothing more is said to an erased subject: what waits in the outbox goes too.
    outbox = [m.id for m in found.outbox]
    await session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(outbox)))
    result.add("outbox", outbox, ERASED)
    updates = [u.update_id for u in found.bot_updates]
    await session.execute(delete(BotUpdate).where(BotUpdate.update_id.in_(updates)))
    result.add("bot_update", updates, ERASED)

    requests = [r.id for r in found.privacy_requests]
    await session.execute(
        update(PrivacyRequest)
        .where(PrivacyRequest.id.in_(requests))
        .values(telegram_user_id=None, details="")
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(PrivacyRequestEvent)
        .where(PrivacyRequestEvent.request_id.in_(requests))
        .values(note="")
        .execution_options(synchronize_session=False)
    )
    result.add("privacy_request", requests, ANONYMISED)

    contacts = [c.id for c in found.contact]
    await purge.delete_contacts(
        session, contacts, actor=actor, at=service.clock.now(), reason=reason
    )
    result.add("contact", contacts, ERASED)


async def _erase(
    service: PrivacyService,
    recordings: RecordingEraser,
    session: AsyncSession,
    identity: SubjectIdentity,
    *,
    actor: Actor,
    ticket_mode: str,
    request_id: int | None,
) -> ErasureResult:
    if ticket_mode not in TICKET_MODES:
        raise ValueError(f"ticket_mode must be one of {TICKET_MODES}")
    reason = (
        f"erasure request {request_id} (GDPR art. 17)" if request_id else "erasure (GDPR art. 17)"
    )
    # Before the first commit (the vault's): every commit of the erasure counts.
    disk_cleanup.track_erasure(session, service.disk_cleanup)
    found = await index(session, identity)
    result = ErasureResult(request_id)
    keep = await _recordings(
        session, recordings, found, actor=actor, reason=reason, request_id=request_id,
        now=service.clock.now(), result=result,
    )  # fmt: skip
    await _tickets(
        service, session, found, keep, mode=ticket_mode, actor=actor, reason=reason, result=result
    )
    # Where other people's rows name them (a note in a colleague's ticket): the mention goes.
    mentions = await erase_mentions(session, found)
    for kind, ids in mentions.items():
        result.add(kind, ids, ANONYMISED)
    await _rest(service, session, found, actor=actor, reason=reason, result=result)
    return result


def _remaining(identity: SubjectIdentity, result: ErasureResult) -> SubjectIdentity:
    """Only what finishing needs: the ids left, and the E.164 numbers only while a
    recording (found by number) is among them; no e-mail, no Telegram id."""
    kept = result.kept
    recordings = [i.id for i in kept if i.type == "recording"]
    return SubjectIdentity(
        contact_id=identity.contact_id,
        phones=identity.phones if recordings else frozenset(),
        ticket_ids=frozenset(i.id for i in kept if i.type == "ticket"),
        recording_ids=frozenset(recordings),
        request_ids=identity.request_ids,
    )


async def _finish(
    service: PrivacyService,
    session: AsyncSession,
    result: ErasureResult,
    *,
    actor: Actor,
    ticket_mode: str,
    subject_type: str,
    subject_id: int,
) -> None:
    audit.record(
        session,
        actor=actor,
        action="privacy.erasure",
        subject_type=subject_type,
        subject_id=subject_id,
        at=service.clock.now(),
        details={"ticket_mode": ticket_mode, "status": result.status, "items": result.as_json()},
    )
    await purge.compact_search_index(session)  # flushes
    disk_cleanup.last_commit(session)  # the caller's commit hands the last tables over


async def erase_request(
    service: PrivacyService,
    recordings: RecordingEraser,
    session: AsyncSession,
    request_id: int,
    *,
    actor: Actor,
    ticket_mode: str = "anonymise",
) -> ErasureResult:
    """Run (or re-run) the erasure of a verified request. Completed: the request is closed
    with the item list as its outcome. Waiting: it stays open with what is left."""
    request = await service.get(session, request_id)
    if request.status not in OPEN:
        raise Conflict(N_("privacy request {request_id} is already closed"), request_id=request_id)
    if request.type != RequestType.ERASURE:
        raise Conflict(
            N_("privacy request {request_id} does not ask for erasure: nothing was erased"),
            request_id=request_id,
        )
    if request.verified_at is None:
        raise Conflict(N_("verify the requester's identity before erasing"))
    now = service.clock.now()
    run = await session.get(ErasureRun, request_id, populate_existing=True)
    if run is None:
        if request.contact_id is None:
            raise InvalidInput(N_("the subject of this request no longer exists"))
        identity = replace(
            await identity_of_contact(session, request.contact_id),
            request_ids=frozenset([request_id]),
        )
    else:
        identity = SubjectIdentity.from_json(run.subject)
    result = await _erase(
        service, recordings, session, identity, actor=actor, ticket_mode=ticket_mode,
        request_id=request_id,
    )  # fmt: skip
    await session.execute(delete(ErasureItem).where(ErasureItem.request_id == request_id))
    if result.status == WAITING:
        if run is None:  # written only now: the full identity never reaches the table
            run = ErasureRun(request_id=request_id, started_at=now, subject={})
            session.add(run)
        run.status, run.updated_at = WAITING, now
        run.subject = _remaining(identity, result).to_json()
        await session.flush()
        session.add_all(
            ErasureItem(
                request_id=request_id,
                item_type=i.type,
                item_id=i.id,
                outcome=i.outcome,
                ground=i.ground,
                recorded_at=now,
            )
            for i in result.kept
        )
        service._log(session, request_id, actor, "erasure_waiting", result.summary())
    else:
        if run is not None:
            await session.delete(run)  # the identity snapshot goes with it
        request.status = RequestStatus.DONE
        request.outcome = result.summary() or "niets gevonden / nothing found"
        request.closed_at = now
        service._log(session, request_id, actor, "erased", result.summary())
        service._log(session, request_id, actor, RequestStatus.DONE.value)
    await _finish(
        service, session, result, actor=actor, ticket_mode=ticket_mode,
        subject_type="privacy_request", subject_id=request_id,
    )  # fmt: skip
    return result


async def erase_contact(
    service: PrivacyService,
    recordings: RecordingEraser,
    session: AsyncSession,
    contact_id: int,
    *,
    actor: Actor,
    request_id: int | None = None,
    ticket_mode: str = "anonymise",
) -> ErasureResult:
    """With `request_id`: `erase` (the request names the contact). Without: a one-off
    erasure of the contact (no request to keep waiting on)."""
    if request_id is not None:
        request = await service.get(session, request_id)
        if request.contact_id not in (contact_id, None):
            raise InvalidInput(N_("the request is about another contact"))
        return await erase_request(
            service, recordings, session, request_id, actor=actor, ticket_mode=ticket_mode
        )
    identity = await identity_of_contact(session, contact_id)
    result = await _erase(
        service, recordings, session, identity, actor=actor, ticket_mode=ticket_mode,
        request_id=None,
    )  # fmt: skip
    await _finish(
        service, session, result, actor=actor, ticket_mode=ticket_mode,
        subject_type="contact", subject_id=contact_id,
    )  # fmt: skip
    return result


async def erasure_state(session: AsyncSession, request_id: int) -> list[ErasureItem] | None:
    """The items a waiting erasure still holds, or None when no erasure waits."""
    if await session.get(ErasureRun, request_id) is None:
        return None
    return list(
        await session.scalars(
            select(ErasureItem).where(ErasureItem.request_id == request_id).order_by(ErasureItem.id)
        )
    )
