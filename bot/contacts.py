"""A Telegram user is a ContactPerson keyed by telegram_user_id (created on first contact)."""

from __future__ import annotations

from aiogram.types import Chat, User
from sqlalchemy import and_, bindparam, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.texts import language_of
from storage.clock import Clock
from storage.models import ContactPerson, Ticket, TicketStatus
from storage.services.tickets import prefetch_open_tickets

# Built once: the contacts of these Telegram users with their open tickets (most recent
# activity first), in one round trip: filing needs the tickets for nearly every customer
# message, and a shared transaction (bot/processor.py) reads them for all its users at once.
_CONTACTS_WITH_OPEN_TICKETS = (
    select(Ticket, ContactPerson)
    .select_from(ContactPerson)
    .outerjoin(
        Ticket,
        and_(Ticket.contact_id == ContactPerson.id, Ticket.status != TicketStatus.CLOSED),
    )
    .where(ContactPerson.telegram_user_id.in_(bindparam("telegram_user_ids", expanding=True)))
    .order_by(Ticket.last_activity_at.desc(), Ticket.id.desc())
)

Known = tuple[ContactPerson | None, list[Ticket]]  # a user's contact (None: none yet), tickets


async def known_contacts(session: AsyncSession, user_ids: set[int]) -> dict[int, Known]:
    """What `resolve_contact` reads, for many users at once."""
    known: dict[int, Known] = {user_id: (None, []) for user_id in user_ids}
    rows = await session.execute(
        _CONTACTS_WITH_OPEN_TICKETS, {"telegram_user_ids": sorted(user_ids)}
    )
    for ticket, contact in rows:
        tickets = known[contact.telegram_user_id][1]
        known[contact.telegram_user_id] = (contact, tickets)
        if ticket is not None:
            tickets.append(ticket)
    return known


def _still_theirs(contact: ContactPerson | None, user_id: int) -> bool:
    """Read earlier in this transaction, is it still this user's contact? Another user's
    update in between may have linked it to their account (or removed it)."""
    if contact is None:
        return True  # none then; creating one meets the unique key if that changed
    state = inspect(contact)  # its loaded values only: an expired one is read again
    return state.persistent and state.dict.get("telegram_user_id") == user_id


async def resolve_contact(
    session: AsyncSession, clock: Clock, user: User, chat: Chat | None, known: Known | None = None
) -> ContactPerson:
    """The contact for this Telegram user; new contacts are unverified (no organisation).
    Its open tickets come along, for the filing's `open_tickets_of`; `known`: read already,
    with other users' (`known_contacts`)."""
    if known is None or not _still_theirs(known[0], user.id):
        known = (await known_contacts(session, {user.id}))[user.id]
    contact, tickets = known
    if contact is not None:
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
