"""A Telegram user is a ContactPerson keyed by telegram_user_id (created on first contact)."""

from __future__ import annotations

from aiogram.types import Chat, User
from sqlalchemy import and_, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.texts import language_of
from storage.clock import Clock
from storage.models import ContactPerson, Ticket, TicketStatus
from storage.services.tickets import prefetch_open_tickets

# Built once: the contact and its open tickets (most recent activity first) in one round
# trip; filing needs the tickets for nearly every customer message.
_CONTACT_WITH_OPEN_TICKETS = (
    select(Ticket, ContactPerson)
    .select_from(ContactPerson)
    .outerjoin(
        Ticket,
        and_(Ticket.contact_id == ContactPerson.id, Ticket.status != TicketStatus.CLOSED),
    )
    .where(ContactPerson.telegram_user_id == bindparam("telegram_user_id"))
    .order_by(Ticket.last_activity_at.desc(), Ticket.id.desc())
)


async def resolve_contact(
    session: AsyncSession, clock: Clock, user: User, chat: Chat | None
) -> ContactPerson:
    """The contact for this Telegram user; new contacts are unverified (no organisation).
    Its open tickets come along, for the filing's `open_tickets_of`."""
    rows = (await session.execute(_CONTACT_WITH_OPEN_TICKETS, {"telegram_user_id": user.id})).all()
    contact: ContactPerson | None = rows[0][1] if rows else None
    if contact is not None:
        tickets = [ticket for ticket, _ in rows if ticket is not None]
        prefetch_open_tickets(session, contact.id, tickets)
    now = clock.now()
    chat_id = chat.id if chat is not None and chat.type == "private" else None
    if contact is None:
        contact = ContactPerson(
            name=user.full_name[:200],
            telegram_user_id=user.id,
            telegram_chat_id=chat_id if chat_id is not None else user.id,
            telegram_username=user.username,
            language=language_of(user.language_code),
            created_at=now,
            updated_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(contact)
            prefetch_open_tickets(session, contact.id, [])  # just created: none yet
        except IntegrityError:
            # Another update of the same user created it first.
            contact = await session.scalar(
                select(ContactPerson).where(ContactPerson.telegram_user_id == user.id)
            )
            if contact is None:  # pragma: no cover - the conflict must be this user
                raise
        else:
            return contact
    if chat_id is not None and contact.telegram_chat_id != chat_id:
        contact.telegram_chat_id = chat_id
        contact.updated_at = now
    if user.username != contact.telegram_username:
        contact.telegram_username = user.username
        contact.updated_at = now
    return contact
