"""The subject index: THE answer to "what do we hold about this person". Access,
portability, erasure, restriction, objection and consent withdrawal all walk it.

A person is found by identity, never by matching text: their contact id, their numbers in
E.164, their e-mail addresses and their Telegram id; rows are then followed by id
(a ticket's messages, a recording's holds). An erasure that has to wait keeps a snapshot
of the identity (SubjectIdentity.to_json) plus the ids of the items left, so the index
still finds them after the contact row is gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Attachment,
    AuditEvent,
    BotUpdate,
    ContactFormSubmission,
    ContactPerson,
    ContactPrivacy,
    LinkCode,
    MessageEdit,
    Organisation,
    OutboxMessage,
    PrivacyDocument,
    PrivacyRequest,
    PrivacyRequestEvent,
    Recording,
    RecordingHold,
    RecordingNote,
    Ticket,
    TicketMessage,
    UnfiledMessage,
)
from storage.services.errors import N_, NotFound


@dataclass(frozen=True)
class SubjectIdentity:
    """Who the subject is. `ticket_ids` / `recording_ids` / `request_ids` name items a
    waiting erasure still has to finish (they may no longer link to the contact)."""

    contact_id: int | None
    phones: frozenset[str] = frozenset()  # E.164
    emails: frozenset[str] = frozenset()  # lower case
    telegram_user_id: int | None = None
    ticket_ids: frozenset[int] = frozenset()
    recording_ids: frozenset[int] = frozenset()
    request_ids: frozenset[int] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "phones": sorted(self.phones),
            "emails": sorted(self.emails),
            "telegram_user_id": self.telegram_user_id,
            "ticket_ids": sorted(self.ticket_ids),
            "recording_ids": sorted(self.recording_ids),
            "request_ids": sorted(self.request_ids),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubjectIdentity:
        return cls(
            contact_id=data.get("contact_id"),
            phones=frozenset(data.get("phones", ())),
            emails=frozenset(data.get("emails", ())),
            telegram_user_id=data.get("telegram_user_id"),
            ticket_ids=frozenset(data.get("ticket_ids", ())),
            recording_ids=frozenset(data.get("recording_ids", ())),
            request_ids=frozenset(data.get("request_ids", ())),
        )

    def with_items(
        self, *, tickets: Iterable[int] = (), recordings: Iterable[int] = ()
    ) -> SubjectIdentity:
        return SubjectIdentity(
            self.contact_id,
            self.phones,
            self.emails,
            self.telegram_user_id,
            frozenset(tickets),
            frozenset(recordings),
            self.request_ids,
        )


async def identity_of_contact(session: AsyncSession, contact_id: int) -> SubjectIdentity:
    contact = await session.get(ContactPerson, contact_id, populate_existing=True)
    if contact is None:
        raise NotFound(N_("contact {contact_id} not found"), contact_id=contact_id)
    return SubjectIdentity(
        contact_id=contact.id,
        phones=frozenset([contact.phone_e164] if contact.phone_e164 else []),
        emails=frozenset([contact.email.strip().lower()] if contact.email else []),
        telegram_user_id=contact.telegram_user_id,
    )


@dataclass
class SubjectIndex:
    """Every row holding the subject's data, by kind (the export's file names)."""

    identity: SubjectIdentity
    contact: list[ContactPerson] = field(default_factory=list)
    organisation: list[Organisation] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)
    messages: list[TicketMessage] = field(default_factory=list)
    message_edits: list[MessageEdit] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)
    recording_holds: list[RecordingHold] = field(default_factory=list)
    # Trainers' notes on those recordings: staff notes about the call, with its hold history.
    recording_notes: list[RecordingNote] = field(default_factory=list)
    contact_form: list[ContactFormSubmission] = field(default_factory=list)
    held_messages: list[UnfiledMessage] = field(default_factory=list)
    link_codes: list[LinkCode] = field(default_factory=list)
    bot_updates: list[BotUpdate] = field(default_factory=list)
    outbox: list[OutboxMessage] = field(default_factory=list)
    privacy_requests: list[PrivacyRequest] = field(default_factory=list)
    privacy_request_events: list[PrivacyRequestEvent] = field(default_factory=list)
    privacy_documents: list[PrivacyDocument] = field(default_factory=list)
    privacy_flags: list[ContactPrivacy] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[Any]]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "identity"}

    @property
    def own_phones(self) -> frozenset[str]:
        """The subject's numbers in E.164, with those their own form submissions gave."""
        forms = {f.phone_e164 for f in self.contact_form if f.phone_e164}
        return self.identity.phones | forms

    @property
    def own_emails(self) -> frozenset[str]:
        forms = {f.email.strip().lower() for f in self.contact_form if f.email}
        return self.identity.emails | forms


def _chat_ids(contacts: Iterable[ContactPerson]) -> list[int | None]:
    return [c.telegram_chat_id for c in contacts]


def _in(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    values = list(values)
    return column.in_(values) if values else false()


async def _all(session: AsyncSession, stmt: Any) -> list[Any]:
    return list(await session.scalars(stmt))


def _telegram_payload(telegram_id: int) -> ColumnElement[bool]:
    """An inbox payload naming the user; anchored on what may follow the number, so
    "id":123 does not match "id":1234."""
    return or_(
        *(
            BotUpdate.payload.contains(f'"id"{sep}{telegram_id}{end}')
            for sep in (":", ": ")
            for end in (",", "}")
        )
    )


async def index(session: AsyncSession, identity: SubjectIdentity) -> SubjectIndex:
    found = SubjectIndex(identity)
    cid = identity.contact_id
    if cid is not None:
        contact = await session.get(ContactPerson, cid, populate_existing=True)
        found.contact = [contact] if contact else []
        if contact is not None and contact.organisation_id:
            organisation = await session.get(Organisation, contact.organisation_id)
            found.organisation = [organisation] if organisation else []
    by_contact = (lambda column: column == cid) if cid is not None else (lambda _c: false())

    found.contact_form = await _all(
        session,
        select(ContactFormSubmission)
        .where(
            or_(
                _in(func.lower(ContactFormSubmission.email), identity.emails),
                _in(ContactFormSubmission.phone_e164, identity.phones),
            )
        )
        .order_by(ContactFormSubmission.id),
    )
    # Their tickets, tickets their form messages opened without a contact link, and
    # tickets a waiting erasure still holds.
    form_tickets = [f.ticket_id for f in found.contact_form if f.ticket_id is not None]
    found.tickets = await _all(
        session,
        select(Ticket)
        .where(
            or_(
                by_contact(Ticket.contact_id),
                _in(Ticket.id, form_tickets),
                _in(Ticket.id, identity.ticket_ids),
            )
        )
        .order_by(Ticket.id),
    )
    ticket_ids = [t.id for t in found.tickets]
    # Messages in their tickets, and those they wrote in someone else's.
    found.messages = await _all(
        session,
        select(TicketMessage)
        .where(
            or_(
                _in(TicketMessage.ticket_id, ticket_ids),
                by_contact(TicketMessage.author_contact_id),
            )
        )
        .order_by(TicketMessage.id),
    )
    message_ids = [m.id for m in found.messages]
    found.message_edits = await _all(
        session,
        select(MessageEdit)
        .where(
            or_(_in(MessageEdit.message_id, message_ids), by_contact(MessageEdit.editor_contact_id))
        )
        .order_by(MessageEdit.id),
    )
    found.attachments = await _all(
        session,
        select(Attachment).where(_in(Attachment.ticket_id, ticket_ids)).order_by(Attachment.id),
    )
    # Calls from or to their numbers, and calls about their tickets from any line.
    found.recordings = await _all(
        session,
        select(Recording)
        .where(
            or_(
                _in(Recording.caller_e164, identity.phones),
                _in(Recording.callee_e164, identity.phones),
                _in(Recording.ticket_id, ticket_ids),
                _in(Recording.id, identity.recording_ids),
            )
        )
        .order_by(Recording.id),
    )
    recording_ids = [r.id for r in found.recordings]
    found.recording_holds = await _all(
        session,
        select(RecordingHold)
        .where(_in(RecordingHold.recording_id, recording_ids))
        .order_by(RecordingHold.id),
    )
    found.recording_notes = await _all(
        session,
        select(RecordingNote)
        .where(_in(RecordingNote.recording_id, recording_ids))
        .order_by(RecordingNote.recording_id, RecordingNote.position_ms, RecordingNote.id),
    )
    found.held_messages = await _all(
        session,
        select(UnfiledMessage).where(by_contact(UnfiledMessage.contact_id)).order_by(UnfiledMessage.id),
    )
    found.link_codes = await _all(
        session, select(LinkCode).where(by_contact(LinkCode.contact_id)).order_by(LinkCode.id)
    )
    if identity.telegram_user_id is not None:
        found.bot_updates = await _all(
            session,
            select(BotUpdate)
            .where(
                or_(
                    BotUpdate.user_id == identity.telegram_user_id,
                    _telegram_payload(identity.telegram_user_id),
                )
            )
            .order_by(BotUpdate.update_id),
        )
    # What the bot is still to say (or said) in the subject's private chats: the chat id of a
    # private chat is the user's id.
    chats = {c for c in (identity.telegram_user_id, *_chat_ids(found.contact)) if c is not None}
    found.outbox = await _all(
        session,
        select(OutboxMessage).where(_in(OutboxMessage.chat_id, chats)).order_by(OutboxMessage.id),
    )
    found.privacy_requests = await _all(
        session,
        select(PrivacyRequest)
        .where(
            or_(
                by_contact(PrivacyRequest.contact_id),
                _in(PrivacyRequest.id, identity.request_ids),
            )
        )
        .order_by(PrivacyRequest.id),
    )
    request_ids = [r.id for r in found.privacy_requests]
    found.privacy_request_events = await _all(
        session,
        select(PrivacyRequestEvent)
        .where(_in(PrivacyRequestEvent.request_id, request_ids))
        .order_by(PrivacyRequestEvent.id),
    )
    found.privacy_documents = await _all(
        session,
        select(PrivacyDocument)
        .where(
            or_(
                by_contact(PrivacyDocument.contact_id),
                _in(PrivacyDocument.request_id, request_ids),
            )
        )
        .order_by(PrivacyDocument.id),
    )
    if cid is not None:
        flags = await session.get(ContactPrivacy, cid)
        found.privacy_flags = [flags] if flags else []

    def about(kind: str, ids: Iterable[int]) -> ColumnElement[bool]:
        return (AuditEvent.subject_type == kind) & _in(AuditEvent.subject_id, map(str, ids))

    found.audit = await _all(
        session,
        select(AuditEvent)
        .where(
            or_(
                about("contact", [cid] if cid is not None else []),
                (AuditEvent.actor_type == "customer")
                & _in(AuditEvent.actor_id, [str(cid)] if cid is not None else []),
                about("ticket", ticket_ids),
                about("privacy_request", request_ids),
                about("contact_form_submission", [f.id for f in found.contact_form]),
                about("recording", recording_ids),
            )
        )
        .order_by(AuditEvent.id),
    )
    return found


async def index_of_contact(session: AsyncSession, contact_id: int) -> SubjectIndex:
    return await index(session, await identity_of_contact(session, contact_id))


async def subject_phones(session: AsyncSession, contact_id: int) -> frozenset[str]:
    """The subject's numbers in E.164 (contact and own form submissions): what a
    recording's caller/callee is compared with for the processing flags."""
    return (await index_of_contact(session, contact_id)).own_phones
