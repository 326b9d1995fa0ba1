"""One-time link codes: staff hand a customer a code (or t.me deep link) that ties their
Telegram account to a known contact, and thereby to an organisation."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import Clock
from storage.models import (
    ContactPerson,
    ContactPrivacy,
    LinkCode,
    MessageEdit,
    PrivacyDocument,
    PrivacyRequest,
    Ticket,
    TicketMessage,
    UnfiledMessage,
)
from storage.services import audit
from storage.services.audit import Actor
from storage.services.errors import N_, Conflict, InvalidInput, NotFound
from storage.services.tickets import forget_open_tickets

VALIDITY = timedelta(hours=24)
# One answer for every failure, so a guesser learns nothing about contacts or organisations.
INVALID_CODE = N_("This code is invalid or has expired.")
# Telegram deep-link parameters allow up to 64 characters of [A-Za-z0-9_-].
_CODE_BYTES = 16


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


class LinkCodeService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def create(
        self, session: AsyncSession, contact_id: int, *, actor: Actor, relink: bool = False
    ) -> str:
        """A new plain code for the contact; only its hash is stored. Whoever redeems it
        gets the contact's tickets, so a contact already linked to a Telegram account needs
        `relink` (they changed account): a code by mistake would hand their tickets over."""
        contact = await session.get(ContactPerson, contact_id)
        if contact is None:
            raise NotFound(N_("contact {contact_id} not found"), contact_id=contact_id)
        if contact.organisation_id is None:
            raise InvalidInput(
                N_(
                    "contact {contact_id} belongs to no organisation: a link code ties a Telegram "
                    "account to a business customer's contact person, so set the organisation "
                    "first"
                ),
                contact_id=contact_id,
            )
        if contact.telegram_user_id is not None and not relink:
            raise Conflict(
                N_(
                    "contact {contact_id} is already linked to a Telegram account; a new code "
                    "moves the contact (and its tickets) to whoever redeems it: only do that when "
                    "they changed account (relink)"
                ),
                contact_id=contact_id,
            )
        now = self.clock.now()
        code = secrets.token_urlsafe(_CODE_BYTES)
        row = LinkCode(
            code_hash=hash_code(code),
            contact_id=contact_id,
            created_by=actor.id if actor.kind == "staff" else None,
            created_at=now,
            expires_at=now + VALIDITY,
        )
        session.add(row)
        await session.flush()
        audit.record(
            session,
            actor=actor,
            action="contact.link_code_created",
            subject_type="contact",
            subject_id=contact_id,
            at=now,
            details={"link_code_id": row.id, "expires_at": row.expires_at.isoformat()},
        )
        return code

    async def redeem(
        self,
        session: AsyncSession,
        code: str,
        *,
        telegram_user_id: int,
        telegram_chat_id: int,
        actor: Actor,
    ) -> ContactPerson:
        """Link the Telegram user to the code's contact. The user's previous unverified
        contact hands over its tickets, messages and held messages, and is deleted when
        nothing refers to it any more."""
        now = self.clock.now()
        if not code or len(code) > 64:
            raise InvalidInput(INVALID_CODE)
        # Claim in one UPDATE: two concurrent redeems of one code cannot both win.
        claimed = await session.execute(
            update(LinkCode)
            .where(
                LinkCode.code_hash == hash_code(code),
                LinkCode.used_at.is_(None),
                LinkCode.expires_at > now,
            )
            .values(used_at=now)
            .returning(LinkCode.id, LinkCode.contact_id)
        )
        row = claimed.one_or_none()
        if row is None:
            raise InvalidInput(INVALID_CODE)
        code_id, contact_id = row
        target = await session.get(ContactPerson, contact_id, populate_existing=True)
        if target is None:  # pragma: no cover - the FK cascades codes away with the contact
            raise InvalidInput(INVALID_CODE)
        previous = await session.scalar(
            select(ContactPerson).where(ContactPerson.telegram_user_id == telegram_user_id)
        )
        moved = 0
        removed = False
        if previous is not None and previous.id != target.id:
            forget_open_tickets(session)  # the user's contact changes, tickets may move
            previous.telegram_user_id = None
            previous.updated_at = now
            target.language = previous.language
            await session.flush()  # free the unique telegram_user_id before taking it
            if not previous.verified:
                result = await session.execute(
                    update(Ticket)
                    .where(Ticket.contact_id == previous.id)
                    .values(
                        contact_id=target.id,
                        organisation_id=target.organisation_id,
                        updated_at=now,
                    )
                )
                moved = result.rowcount or 0
                await session.execute(
                    update(TicketMessage)
                    .where(TicketMessage.author_contact_id == previous.id)
                    .values(author_contact_id=target.id)
                )
                await session.execute(
                    update(UnfiledMessage)
                    .where(UnfiledMessage.contact_id == previous.id)
                    .values(contact_id=target.id)
                )
                await session.execute(
                    update(MessageEdit)
                    .where(MessageEdit.editor_contact_id == previous.id)
                    .values(editor_contact_id=target.id)
                )
                # The bot's placeholder contact is now an empty shell: gone, unless something
                # (a privacy request, say) still names it.
                if not await _referenced(session, previous.id):
                    await session.delete(previous)
                    removed = True
        relinked = target.telegram_user_id not in (None, telegram_user_id)
        target.telegram_user_id = telegram_user_id
        target.telegram_chat_id = telegram_chat_id
        target.updated_at = now
        # The contact's other open codes were made before this link: void them, so a code
        # handed out twice cannot take the contact away from the account just linked.
        await session.execute(
            update(LinkCode)
            .where(LinkCode.contact_id == target.id, LinkCode.used_at.is_(None))
            .values(used_at=now)
        )
        await session.flush()
        audit.record(
            session,
            actor=actor,
            action="contact.telegram_linked",
            subject_type="contact",
            subject_id=target.id,
            at=now,
            details={
                "link_code_id": code_id,
                "previous_contact_id": previous.id if previous is not None else None,
                "tickets_moved": moved,
                "relinked": relinked,
                "previous_contact_deleted": removed,
            },
        )
        return target


async def _referenced(session: AsyncSession, contact_id: int) -> bool:
    """Does any row still point at the contact (every foreign key to contact_persons but
    link codes, which go with it)?"""
    checks = [
        select(Ticket.id).where(Ticket.contact_id == contact_id),
        select(TicketMessage.id).where(TicketMessage.author_contact_id == contact_id),
        select(UnfiledMessage.id).where(UnfiledMessage.contact_id == contact_id),
        select(MessageEdit.id).where(MessageEdit.editor_contact_id == contact_id),
        select(PrivacyRequest.id).where(PrivacyRequest.contact_id == contact_id),
        select(PrivacyDocument.id).where(PrivacyDocument.contact_id == contact_id),
        select(ContactPrivacy.contact_id).where(ContactPrivacy.contact_id == contact_id),
    ]
    for check in checks:
        if await session.scalar(check.limit(1)) is not None:
            return True
    return False
