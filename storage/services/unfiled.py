"""Unfiled messages (held_messages): a customer text waiting for their ticket choice is
asked about once more part-way through the wait, and filed on their most recent open ticket
once the wait is over, so none is ever lost (the bot runtime's loop, and the retention rule
before its 30 days end)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ContactPerson, Ticket, TicketChannel, UnfiledMessage
from storage.services import outbox
from storage.services.audit import Actor
from storage.services.tickets import TicketService

FILED_NOTE = (
    "Filed automatically: the customer did not choose a ticket for this message "
    "(sent {sent})."
)
# A held file is only Telegram's reference: fetching it needs the bot, and a reference
# this old may no longer work; the customer's text says what it was.
FILE_NOT_FETCHED = " The file sent with it was not fetched: ask the customer to send it again."


class FiledNotice(Protocol):
    """The customer's text saying where their message went, from the bot's catalog
    (held_filed_recent; `opened`: a new ticket, none was open any more); the composition
    root passes bot.texts.FiledNoticeText."""

    def __call__(self, language: str, reference: str, *, opened: bool) -> str: ...


class TicketQuestion(Protocol):
    """The bot's "which ticket?" asked again, with the ticket buttons (which_ticket_again),
    as a Bot API call: (method, payload JSON). The composition root passes
    bot.unfiled.TicketQuestionAgain."""

    def __call__(
        self,
        language: str,
        chat_id: int,
        held_id: int,
        open_tickets: list[Ticket],
        minutes: int,
    ) -> tuple[str, str]: ...


async def waiting_of(session: AsyncSession, contact_id: int) -> list[UnfiledMessage]:
    """The contact's messages still waiting for a ticket choice, oldest first."""
    rows = await session.scalars(
        select(UnfiledMessage)
        .where(UnfiledMessage.contact_id == contact_id)
        .order_by(UnfiledMessage.created_at, UnfiledMessage.id)
    )
    return list(rows)


@dataclass(frozen=True)
class WaitingContact:
    """A customer with messages waiting for their ticket choice (the agents' inbox)."""

    contact_id: int
    name: str
    count: int
    oldest: datetime


async def contacts_waiting(session: AsyncSession, limit: int = 20) -> list[WaitingContact]:
    """Customers with unfiled messages, longest waiting first."""
    oldest = func.min(UnfiledMessage.created_at)
    rows = await session.execute(
        select(ContactPerson.id, ContactPerson.name, func.count(UnfiledMessage.id), oldest)
        .join(UnfiledMessage, UnfiledMessage.contact_id == ContactPerson.id)
        .group_by(ContactPerson.id, ContactPerson.name)
        .order_by(oldest, ContactPerson.id)
        .limit(limit)
    )
    return [WaitingContact(*row) for row in rows]


async def file_waiting(
    session: AsyncSession,
    ticket_service: TicketService,
    notice: FiledNotice,
    *,
    cutoff: datetime,
    limit: int = 100,
) -> int:
    """File up to `limit` unfiled messages created at or before `cutoff` on the contact's
    most recent open ticket (a new ticket when none is open), with an internal note, and
    tell the customer through the bot outbox. Returns how many were filed."""
    waiting = list(
        await session.scalars(
            select(UnfiledMessage)
            .where(UnfiledMessage.created_at <= cutoff)
            .order_by(UnfiledMessage.created_at, UnfiledMessage.id)
            .limit(limit)
            # Two instances (or two sweepers) never file one message twice.
            .with_for_update(skip_locked=True, of=UnfiledMessage)
        )
    )
    for held in waiting:
        await _file(session, ticket_service, notice, held)
    return len(waiting)


async def _file(
    session: AsyncSession, ticket_service: TicketService, notice: FiledNotice, held: UnfiledMessage
) -> None:
    contact = await session.get(ContactPerson, held.contact_id)
    assert contact is not None  # the FK cascades: a held message has its contact
    open_tickets = await ticket_service.open_tickets_of(session, contact.id)
    opened = not open_tickets
    if not opened:
        ticket = open_tickets[0]  # most recent activity first
        await ticket_service.add_customer_message(
            session,
            ticket.id,
            text=held.text,
            contact_id=contact.id,
            telegram_chat_id=held.telegram_chat_id,
            telegram_message_id=held.telegram_message_id,
        )
    else:  # every ticket was closed meanwhile: the message still needs one
        ticket, _ = await ticket_service.open_ticket(
            session,
            actor=Actor.customer(contact.id, contact.name),
            channel=TicketChannel.TELEGRAM,
            text=held.text,
            contact=contact,
            telegram_chat_id=held.telegram_chat_id,
            telegram_message_id=held.telegram_message_id,
        )
    note = FILED_NOTE.format(sent=held.created_at.isoformat(" ", "minutes"))
    if held.media and "not_stored" not in held.media:
        note += FILE_NOT_FETCHED
    await ticket_service.add_system_note(session, ticket.id, text=note)
    chat = contact.telegram_chat_id or held.telegram_chat_id
    if chat is not None:
        text = notice(contact.language, ticket.reference, opened=opened)
        payload = json.dumps({"chat_id": chat, "text": text})
        outbox.enqueue(session, chat, "sendMessage", payload, ticket_service.clock.now())
    await session.delete(held)
    await session.flush()


async def remind_waiting(
    session: AsyncSession,
    ticket_service: TicketService,
    question: TicketQuestion,
    *,
    wait: timedelta,
    remind_after: timedelta,
    limit: int = 100,
) -> int:
    """Ask once more, through the bot outbox, about messages waiting longer than
    `remind_after` (and not yet `wait`, when they are filed anyway) whose question was not
    asked again yet. Returns how many were asked about."""
    now = ticket_service.clock.now()
    due = list(
        await session.scalars(
            select(UnfiledMessage)
            .where(
                UnfiledMessage.reminded_at.is_(None),
                UnfiledMessage.created_at <= now - remind_after,
                UnfiledMessage.created_at > now - wait,
            )
            .order_by(UnfiledMessage.created_at, UnfiledMessage.id)
            .limit(limit)
        )
    )
    asked = 0
    for held in due:
        # Compare-and-set: two instances (or loops) never ask twice.
        claimed = await session.execute(
            update(UnfiledMessage)
            .where(UnfiledMessage.id == held.id, UnfiledMessage.reminded_at.is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        contact = await session.get(ContactPerson, held.contact_id)
        assert contact is not None  # the FK cascades: a held message has its contact
        chat = contact.telegram_chat_id or held.telegram_chat_id
        open_tickets = await ticket_service.open_tickets_of(session, contact.id)
        if chat is None or not open_tickets:  # nothing to choose from: filed at the wait
            continue
        left = held.created_at + wait - now
        minutes = max(1, math.ceil(left.total_seconds() / 60))
        method, payload = question(contact.language, chat, held.id, open_tickets, minutes)
        outbox.enqueue(session, chat, method, payload, now)
        asked += 1
    await session.flush()
    return asked
