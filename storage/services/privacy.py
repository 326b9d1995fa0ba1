"""Privacy rights: THE place requests are recorded, verified, acted on and closed,
called by the bot, the admin and the CLI. Export and erasure live in privacy_export.py and
privacy_erasure.py; this module is their front door.

The caller owns the session: functions flush, write their audit event and a line in the
request's own log, never commit. Audit details never hold names, numbers or texts.
"""

from __future__ import annotations

import asyncio
import calendar
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.clock import Clock
from storage.models import (
    AuditEvent,
    ContactPerson,
    ContactPrivacy,
    DocumentKind,
    ErasureRun,
    PrivacyDocument,
    PrivacyRequest,
    PrivacyRequestEvent,
    RequestStatus,
    RequestType,
)
from storage.objectstore.base import ObjectStore
from storage.services import audit
from storage.services.audit import Actor
from storage.services.disk_cleanup import DiskCleanupQueue
from storage.services.errors import N_, Conflict, InvalidInput, NotFound
from storage.services.privacy_recordings import RecordingOutcome, delete_subject_recordings
from storage.services.recording_port import RecordingEraser
from storage.services.subject import index_of_contact

SUBJECT = "privacy_request"
TEMP_FILE_DAYS = 7  # ID copies (at most) and exports live this long in the object store
WARN_BEFORE = timedelta(days=7)
CHANNELS = ("telegram", "letter", "email", "phone", "admin")
ID_COPY_MAX_BYTES = 10 * 1024 * 1024
# What an ID copy may be, told by its first bytes (the client's Content-Type is not trusted).
ID_COPY_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)
OPEN = (RequestStatus.RECEIVED, RequestStatus.VERIFIED)
# Besides verifying the identity and completing, what each kind of request lets the desk
# do: an access request never offers an erasure. A correction is made on the contact page.
REQUEST_ACTIONS: dict[RequestType, frozenset[str]] = {
    RequestType.ACCESS: frozenset({"export"}),
    RequestType.PORTABILITY: frozenset({"export"}),
    RequestType.ERASURE: frozenset({"erase"}),
    RequestType.RESTRICTION: frozenset({"restricted"}),
    RequestType.OBJECTION: frozenset({"objected"}),
    RequestType.CONSENT_WITHDRAWAL: frozenset({"consent_withdrawn"}),
    RequestType.CORRECTION: frozenset(),
}


def request_reference(request_id: int) -> str:
    """How requesters and staff name a request (the bot says "P-12")."""
    return f"P-{request_id}"


def add_month(moment: datetime) -> datetime:
    """One calendar month later (31 January -> 28/29 February), as art. 12(3) GDPR counts."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def deadline_state(request: PrivacyRequest, now: datetime) -> str:
    """'overdue', 'warning' (within a week of the deadline), 'ok' or 'closed'."""
    if request.status not in OPEN:
        return "closed"
    if now >= request.deadline_at:
        return "overdue"
    return "warning" if now >= request.warn_at else "ok"


@dataclass(frozen=True)
class ErasureReport:
    status: str  # "completed", or "waiting" while something is kept (a hold)
    items: list[dict[str, Any]]


def erasure_report(status: str, items: list[dict[str, Any]]) -> ErasureReport:
    """The API's view of an erasure: its status and items {type, id, outcome, ground?}
    (ground only where an item was kept)."""
    return ErasureReport(
        status,
        [{k: v for k, v in item.items() if k != "ground" or v} for item in items],
    )


def _label(actor: Actor) -> str:
    return actor.label if actor.kind == "staff" else actor.kind


@dataclass
class Flags:
    restricted: bool = False
    consent_withdrawn: bool = False
    objected: bool = False


class PrivacyService:
    def __init__(
        self, clock: Clock, store: ObjectStore, disk_cleanup: DiskCleanupQueue | None = None
    ) -> None:
        self.clock = clock
        self.store = store
        # Woken after an erasure's commits; without it the work waits for the worker's
        # next pass (disk_cleanup.py).
        self.disk_cleanup = disk_cleanup

    # --- requests -------------------------------------------------------------------

    def _log(
        self, session: AsyncSession, request_id: int, actor: Actor, action: str, note: str = ""
    ) -> None:
        session.add(
            PrivacyRequestEvent(
                request_id=request_id,
                at=self.clock.now(),
                actor=_label(actor),
                action=action,
                note=note,
            )
        )

    def _audit(
        self, session: AsyncSession, actor: Actor, action: str, request_id: int, **details: object
    ) -> None:
        audit.record(
            session,
            actor=actor,
            action=action,
            subject_type=SUBJECT,
            subject_id=request_id,
            at=self.clock.now(),
            details=dict(details),
        )

    async def create_request(
        self,
        session: AsyncSession,
        *,
        type: RequestType | str,
        contact_id: int,
        channel: str,
        actor: Actor,
        details: str = "",
        received_at: datetime | None = None,
    ) -> PrivacyRequest:
        try:
            kind = RequestType(type)
        except ValueError:
            raise InvalidInput(N_("type: unknown request type {type!r}"), type=type) from None
        if channel not in CHANNELS:
            raise InvalidInput(N_("channel: one of {channels}"), channels=", ".join(CHANNELS))
        if len(details) > 4000:
            raise InvalidInput(N_("details: at most 4000 characters"))
        contact = await session.get(ContactPerson, contact_id)
        if contact is None:
            raise NotFound(N_("contact {contact_id} not found"), contact_id=contact_id)
        now = self.clock.now()
        received = received_at or now
        if received.tzinfo is None or received > now:
            raise InvalidInput(N_("received_at: a moment in the past, with a time zone"))
        deadline = add_month(received)
        request = PrivacyRequest(
            type=kind,
            status=RequestStatus.RECEIVED,
            channel=channel,
            contact_id=contact.id,
            telegram_user_id=contact.telegram_user_id if channel == "telegram" else None,
            details=details.strip(),
            received_at=received,
            deadline_at=deadline,
            warn_at=deadline - WARN_BEFORE,
            outcome="",
        )
        session.add(request)
        await session.flush()
        self._log(session, request.id, actor, "received", f"{kind.value} via {channel}")
        self._audit(session, actor, "privacy.request", request.id, type=kind.value, channel=channel)
        await session.flush()
        return request

    async def open_request(
        self, session: AsyncSession, *, contact_id: int, type: RequestType
    ) -> PrivacyRequest | None:
        """The contact's earliest request of this kind still being handled, if any."""
        return await session.scalar(
            select(PrivacyRequest)
            .where(
                PrivacyRequest.contact_id == contact_id,
                PrivacyRequest.type == type,
                PrivacyRequest.status.in_((RequestStatus.RECEIVED, RequestStatus.VERIFIED)),
            )
            .order_by(PrivacyRequest.id)
            .limit(1)
        )

    async def get(self, session: AsyncSession, request_id: int) -> PrivacyRequest:
        request = await session.scalar(
            select(PrivacyRequest)
            .where(PrivacyRequest.id == request_id)
            .options(selectinload(PrivacyRequest.events))
            .execution_options(populate_existing=True)
        )
        if request is None:
            raise NotFound(N_("privacy request {request_id} not found"), request_id=request_id)
        return request

    async def list_requests(
        self, session: AsyncSession, *, open_only: bool = False, limit: int = 200
    ) -> list[PrivacyRequest]:
        stmt = select(PrivacyRequest)
        if open_only:
            stmt = stmt.where(PrivacyRequest.status.in_(OPEN))
        stmt = stmt.order_by(PrivacyRequest.deadline_at, PrivacyRequest.id).limit(limit)
        return list(await session.scalars(stmt))

    async def _open(self, session: AsyncSession, request_id: int) -> PrivacyRequest:
        request = await self.get(session, request_id)
        if request.status not in OPEN:
            raise Conflict(
                N_("privacy request {request_id} is already closed"),
                request_id=request_id,
            )
        return request

    async def verify_identity(
        self,
        session: AsyncSession,
        request_id: int,
        *,
        actor: Actor,
        note: str = "",
        require_id_copy: bool = False,
    ) -> PrivacyRequest:
        """Identity checked: the ID copies have served their purpose and go now. With
        `require_id_copy` (the API: no officer looked at the person) only once an ID copy
        was uploaded for this request."""
        request = await self._open(session, request_id)
        if request.verified_at is not None:
            raise Conflict(N_("identity already verified"))
        if require_id_copy and not await self._has_id_copy(session, request_id):
            raise Conflict(N_("upload a copy of the requester's ID before verifying"))
        request.verified_at = self.clock.now()
        request.status = RequestStatus.VERIFIED
        removed = await self.delete_documents(
            session,
            select(PrivacyDocument.id).where(
                PrivacyDocument.request_id == request_id,
                PrivacyDocument.kind == DocumentKind.ID_COPY,
            ),
            actor=actor,
            reason="identity verified",
        )
        self._log(session, request_id, actor, "identity_verified", note[:2000])
        if removed:
            self._log(session, request_id, actor, "id_copy_deleted", f"{removed} file(s)")
        self._audit(session, actor, "privacy.verify", request_id, id_copies_deleted=removed)
        await session.flush()
        return request

    @staticmethod
    async def _has_id_copy(session: AsyncSession, request_id: int) -> bool:
        """An ID copy was uploaded (its row stays after the file is deleted)."""
        found = await session.scalar(
            select(PrivacyDocument.id)
            .where(
                PrivacyDocument.request_id == request_id,
                PrivacyDocument.kind == DocumentKind.ID_COPY,
            )
            .limit(1)
        )
        return found is not None

    @staticmethod
    def require_kind(request: PrivacyRequest, *kinds: RequestType) -> None:
        """Refuse an action that does not belong to this kind of request."""
        if request.type not in kinds:
            names = ", ".join(kind.value for kind in kinds)
            raise Conflict(
                N_("privacy request {id} is a {kind} request, not {names}"),
                id=request.id,
                kind=request.type.value,
                names=names,
            )

    @staticmethod
    def require_action(request: PrivacyRequest, action: str) -> None:
        """Refuse an action this kind of request does not offer (REQUEST_ACTIONS): the
        desk only shows the right ones, the server must not rely on that."""
        if action not in REQUEST_ACTIONS[request.type]:
            raise Conflict(
                N_("privacy request {id} is a {kind} request: it does not offer {action}"),
                id=request.id,
                kind=request.type.value,
                action=action,
            )

    async def request_export(self, session: AsyncSession, request_id: int) -> PrivacyDocument:
        """The newest export of this request still stored, once the identity is verified
        (the file leaves the desk: only to the person it is about)."""
        request = await self.get(session, request_id)
        self.require_action(request, "export")
        if request.verified_at is None:
            raise Conflict(N_("verify the requester's identity before handing out the export"))
        document = await session.scalar(
            select(PrivacyDocument)
            .where(
                PrivacyDocument.request_id == request_id,
                PrivacyDocument.kind == DocumentKind.EXPORT,
                PrivacyDocument.deleted_at.is_(None),
            )
            .order_by(PrivacyDocument.id.desc())
            .limit(1)
        )
        if document is None:
            raise NotFound(
                N_("privacy request {request_id} has no stored export"), request_id=request_id
            )
        return document

    async def erasure_report(self, session: AsyncSession, request_id: int) -> ErasureReport | None:
        """What the request's erasure did, from its audit event (None: not erased)."""
        event = await session.scalar(
            select(AuditEvent)
            .where(
                AuditEvent.action == "privacy.erasure",
                AuditEvent.subject_type == SUBJECT,
                AuditEvent.subject_id == str(request_id),
            )
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
        if event is None:
            return None
        details = event.details or {}
        return erasure_report(details.get("status", "completed"), details.get("items") or [])

    async def close(
        self,
        session: AsyncSession,
        request_id: int,
        *,
        outcome: str,
        actor: Actor,
        rejected: bool = False,
    ) -> PrivacyRequest:
        outcome = outcome.strip()
        if not outcome:
            raise InvalidInput(N_("outcome: describe what was done (or why not)"))
        if len(outcome) > 8000:
            raise InvalidInput(N_("outcome: at most 8000 characters"))
        request = await self._open(session, request_id)
        run = await session.get(ErasureRun, request_id)
        if run is not None:
            if not rejected:
                raise Conflict(
                    N_(
                        "the erasure is still waiting (kept or pending items): erase again once "
                        "they are free; it closes the request itself"
                    )
                )
            await session.delete(run)  # the identity snapshot goes with the request
        request.status = RequestStatus.REJECTED if rejected else RequestStatus.DONE
        request.outcome = outcome
        request.closed_at = self.clock.now()
        self._log(session, request_id, actor, request.status.value)
        self._audit(session, actor, "privacy.close", request_id, status=request.status.value)
        await session.flush()
        return request

    # --- temporary documents (ID copies, exports) -------------------------------------

    async def store_document(
        self,
        session: AsyncSession,
        *,
        kind: DocumentKind,
        source: bytes | Path | BinaryIO,
        content_type: str,
        request_id: int | None,
        contact_id: int | None,
    ) -> PrivacyDocument:
        """Object first, then the row; if the row cannot be written the object goes again,
        so a failure leaves nothing behind."""
        now = self.clock.now()
        folder = "id-copies" if kind == DocumentKind.ID_COPY else "exports"
        key = f"privacy/{folder}/{now:%Y%m%d}/{uuid.uuid4().hex}"
        put = await self.store.put(key, source, content_type=content_type)
        document = PrivacyDocument(
            request_id=request_id,
            contact_id=contact_id,
            kind=kind,
            object_key=key,
            size=put.size,
            created_at=now,
            expires_at=now + timedelta(days=TEMP_FILE_DAYS),
        )
        try:
            async with session.begin_nested():
                session.add(document)
        except Exception:
            await self.store.delete(key)
            raise
        return document

    async def upload_id_copy(
        self,
        session: AsyncSession,
        request_id: int,
        source: bytes | Path | BinaryIO,
        *,
        size: int,
        actor: Actor,
    ) -> PrivacyDocument:
        content_type = await _id_copy_type(source)
        if content_type is None:
            raise InvalidInput(N_("ID copy: the file is not a JPEG, PNG or PDF"))
        if size <= 0 or size > ID_COPY_MAX_BYTES:
            raise InvalidInput(
                N_("ID copy: 1 byte to {max_mb} MB"), max_mb=ID_COPY_MAX_BYTES // (1024 * 1024)
            )
        request = await self._open(session, request_id)
        if request.verified_at is not None:
            raise Conflict(N_("identity already verified: no ID copy is kept"))
        document = await self.store_document(
            session,
            kind=DocumentKind.ID_COPY,
            source=source,
            content_type=content_type,
            request_id=request_id,
            contact_id=request.contact_id,
        )
        until = f"{document.expires_at:%Y-%m-%d %H:%M} UTC"
        self._log(
            session,
            request_id,
            actor,
            "id_copy_uploaded",
            f"bewaard tot verificatie, uiterlijk {until} / kept until verification, "
            f"at most until {until}",
        )
        self._audit(
            session,
            actor,
            "privacy.id_copy.store",
            request_id,
            document_id=document.id,
            retention="deleted at identity verification, at the latest after 7 days",
            expires_at=document.expires_at.isoformat(),
        )
        await session.flush()
        return document

    async def delete_documents(
        self,
        session: AsyncSession,
        ids_query: object,
        *,
        actor: Actor,
        reason: str,
        failed: dict[int, str] | None = None,
        details: dict[str, object] | None = None,
    ) -> int:
        """Delete the objects of live documents (every version), then mark the rows; returns
        how many went. The row stays (deleted_at) as proof of the deletion. With `failed`
        (the retention sweep), a document whose object cannot be deleted is listed there
        and kept for the next try; without it the error propagates."""
        documents = list(
            await session.scalars(
                select(PrivacyDocument)
                .where(
                    PrivacyDocument.id.in_(ids_query),  # type: ignore[arg-type]
                    PrivacyDocument.deleted_at.is_(None),
                )
                .order_by(PrivacyDocument.id)
            )
        )
        now = self.clock.now()
        deleted = 0
        for document in documents:
            try:
                await self.store.delete(document.object_key)
            except Exception as exc:
                if failed is None:
                    raise
                failed[document.id] = f"object not deleted: {type(exc).__name__}"
                continue
            document.deleted_at = now
            deleted += 1
            audit.record(
                session,
                actor=actor,
                action=f"privacy.{document.kind.value}.delete",
                subject_type="privacy_document",
                subject_id=document.id,
                at=now,
                details={"reason": reason, **(details or {})},
            )
        await session.flush()
        return deleted

    async def record_delivery(
        self, session: AsyncSession, document: PrivacyDocument, *, actor: Actor
    ) -> None:
        """The export reached the requester (the bot sent it)."""
        if document.request_id is not None:
            self._log(session, document.request_id, actor, "export_delivered", "telegram")
        audit.record(
            session,
            actor=actor,
            action="privacy.export.delivered",
            subject_type="privacy_document",
            subject_id=document.id,
            at=self.clock.now(),
            details={"channel": "telegram"},
        )
        await session.flush()

    async def document(self, session: AsyncSession, document_id: int) -> PrivacyDocument:
        document = await session.get(PrivacyDocument, document_id)
        if document is None or document.deleted_at is not None:
            raise NotFound(N_("file not found (exports and ID copies are kept 7 days at most)"))
        return document

    # --- effects on the contact ---------------------------------------------------------

    async def flags(self, session: AsyncSession, contact_id: int) -> Flags:
        row = await session.get(ContactPrivacy, contact_id)
        if row is None:
            return Flags()
        return Flags(
            restricted=row.restricted_at is not None,
            consent_withdrawn=row.consent_withdrawn_at is not None,
            objected=row.objected_at is not None,
        )

    async def set_flag(
        self,
        session: AsyncSession,
        request_id: int,
        flag: str,
        on: bool,
        *,
        actor: Actor,
        recordings: RecordingEraser | None = None,
    ) -> Flags:
        """restricted / consent_withdrawn / objected, recorded on the request. An objection
        or consent withdrawal also deletes the subject's recordings (`recordings`, the
        vault: required then): see `end_recordings`."""
        if flag not in ("restricted", "consent_withdrawn", "objected"):
            raise InvalidInput(N_("unknown flag {flag!r}"), flag=flag)
        request = await self.get(session, request_id)
        self.require_action(request, flag)
        if request.contact_id is None:
            raise Conflict(N_("the subject of this request no longer exists"))
        contact_id = request.contact_id
        row = await session.get(ContactPrivacy, contact_id)
        if row is None:
            row = ContactPrivacy(contact_id=contact_id)
            session.add(row)
        column = {"restricted": "restricted_at", "consent_withdrawn": "consent_withdrawn_at"}
        setattr(row, column.get(flag, "objected_at"), self.clock.now() if on else None)
        action = f"{flag}_{'on' if on else 'off'}"
        self._log(session, request_id, actor, action)
        self._audit(session, actor, f"privacy.{action}", request_id, contact_id=contact_id)
        if on and flag in ("objected", "consent_withdrawn"):
            if recordings is None:
                raise ValueError("objection and consent withdrawal need the recording vault")
            await self.end_recordings(session, recordings, request_id, contact_id, actor=actor)
        await session.flush()
        return await self.flags(session, contact_id)

    async def end_recordings(
        self,
        session: AsyncSession,
        recordings: RecordingEraser,
        request_id: int,
        contact_id: int,
        *,
        actor: Actor,
    ) -> RecordingOutcome:
        """Objection (art. 21) or consent withdrawal (art. 7(3)): the subject's recordings
        (the subject index: by number, and calls about their tickets from any line) go;
        a training hold yields with the request as its documented reason, an evidence hold
        keeps its recording (art. 17(3)(e)). Logged on the request."""
        found = await index_of_contact(session, contact_id)
        outcome = await delete_subject_recordings(
            session, recordings, found, actor=actor,
            reason=f"privacy request {request_id} (objection / consent withdrawn)",
            request_id=request_id, now=self.clock.now(),
            action="privacy.recordings.hold_released",
        )  # fmt: skip
        note = f"recordings erased: {len(outcome.erased)}, kept (evidence): {len(outcome.kept)}"
        if outcome.waiting:
            note += f", waiting (object store): {len(outcome.waiting)}"
        self._log(session, request_id, actor, "recordings_deleted", note)
        self._audit(
            session, actor, "privacy.recordings", request_id,
            erased=outcome.erased, kept=outcome.kept, waiting=sorted(outcome.waiting),
        )  # fmt: skip
        return outcome


async def _flagged_contacts(session: AsyncSession) -> list[int]:
    return list(
        await session.scalars(
            select(ContactPrivacy.contact_id).where(
                ContactPrivacy.restricted_at.is_not(None)
                | ContactPrivacy.consent_withdrawn_at.is_not(None)
                | ContactPrivacy.objected_at.is_not(None)
            )
        )
    )


async def excluded_callers(session: AsyncSession) -> set[str]:
    """E.164 numbers of contacts whose data must not be used for training: processing
    restricted, consent withdrawn or an objection recorded (their own numbers from the
    subject index: contact and form submissions). Training is the only consent-based
    use; replies to their own tickets (contract) stop on restriction alone
    (bot/delivery.py)."""
    numbers: set[str] = set()
    for contact_id in await _flagged_contacts(session):
        numbers |= (await index_of_contact(session, contact_id)).own_phones
    return numbers


async def excluded_recordings(session: AsyncSession) -> set[int]:
    """Ids of the recordings of those contacts, found through the subject index: their
    calls by any of their numbers and calls about their tickets from any line."""
    ids: set[int] = set()
    for contact_id in await _flagged_contacts(session):
        ids |= {r.id for r in (await index_of_contact(session, contact_id)).recordings}
    return ids


async def deliverable_export(session: AsyncSession, contact_id: int) -> PrivacyDocument | None:
    """The newest live export of a request by this contact whose identity was verified:
    the only export the bot hands to the requester."""
    return await session.scalar(
        select(PrivacyDocument)
        .join(PrivacyRequest, PrivacyRequest.id == PrivacyDocument.request_id)
        .where(
            PrivacyDocument.kind == DocumentKind.EXPORT,
            PrivacyDocument.deleted_at.is_(None),
            PrivacyDocument.contact_id == contact_id,
            PrivacyRequest.contact_id == contact_id,
            PrivacyRequest.verified_at.is_not(None),
        )
        .order_by(PrivacyDocument.id.desc())
        .limit(1)
    )


async def _id_copy_type(source: bytes | Path | BinaryIO) -> str | None:
    """The ID copy's type by its magic bytes, or None when it is none we accept."""
    longest = max(len(magic) for magic, _ in ID_COPY_SIGNATURES)
    if isinstance(source, bytes):
        head = source[:longest]
    else:
        head = await asyncio.to_thread(_read_head, source, longest)
    return next((kind for magic, kind in ID_COPY_SIGNATURES if head.startswith(magic)), None)


def _read_head(source: Path | BinaryIO, size: int) -> bytes:
    """The first bytes of a file or stream; a stream is left where it was."""
    if isinstance(source, Path):
        with source.open("rb") as file:
            return file.read(size)
    position = source.tell()
    head = source.read(size)
    source.seek(position)
    return head
