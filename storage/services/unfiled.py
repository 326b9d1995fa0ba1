"""Unfiled messages (held_messages): a customer text waiting for their ticket choice is
asked about once more part-way through the wait, and filed on their most recent open ticket
once the wait is over, so none is ever lost (the bot runtime's loop, and the retention rule
before its 30 days end)."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ContactPerson, Ticket, TicketChannel, TicketMessage, UnfiledMessage
from storage.services import outbox
from storage.services.audit import Actor
from storage.services.tickets import TicketService

log = logging.getLogger(__name__)

FILED_NOTE = (
    "Filed automatically: the customer did not choose a ticket for this message "
    "(sent {sent})."
)
# A held file is only Telegram's reference: fetching it needs the bot (HeldFiles). Without
# it (the retention rule), or when Telegram would not hand it over, the note says so.
FILE_NOT_FETCHED = " The file sent with it was not fetched: ask the customer to send it again."
# Telegram unreachable while fetching a held file: the message waits for a later round,
# this long past its cutoff at most; then it is filed without its file.
FETCH_RETRY_FOR = timedelta(hours=1)


class FiledNotice(Protocol):
    """The customer's text saying where their message went, from the bot's catalog
    (held_filed_recent; `opened`: a new ticket, none was open any more); the composition
    root passes bot.texts.FiledNoticeText."""

    def __call__(self, language: str, reference: str, *, opened: bool) -> str: ...


class HeldFiles(Protocol):
    """Fetches a held message's file from Telegram onto the ticket message it was filed as
    (as if the customer had picked the ticket); returns the customer's explanation when the
    file could not be stored (too large, refused), else None. Raises, having written
    nothing, when Telegram could not be asked: file_waiting then raises too (the round is
    rolled back and tried again later), or files the message without it once it is
    FETCH_RETRY_FOR past its cutoff. The bot passes bot.unfiled.HeldFileFetcher."""

    async def __call__(
        self,
        session: AsyncSession,
        media: dict[str, Any],
        *,
        ticket: Ticket,
        stored: TicketMessage,
        language: str,
    ) -> str | None: ...


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
    files: HeldFiles | None = None,
) -> int:
    """File up to `limit` unfiled messages created at or before `cutoff` on the contact's
    most recent open ticket (a new ticket when none is open), with an internal note, and
    tell the customer through the bot outbox. A held file comes along when `files` can
    fetch it (see HeldFiles). Returns how many were filed."""
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
    give_up_before = cutoff - FETCH_RETRY_FOR
    for held in waiting:
        fetch = files if held.media and "not_stored" not in held.media else None
        await _file(session, ticket_service, notice, held, fetch, give_up_before)
    return len(waiting)


async def _file(
    session: AsyncSession,
    ticket_service: TicketService,
    notice: FiledNotice,
    held: UnfiledMessage,
    files: HeldFiles | None,
    give_up_before: datetime,
) -> None:
    contact = await session.get(ContactPerson, held.contact_id)
    assert contact is not None  # the FK cascades: a held message has its contact
    open_tickets = await ticket_service.open_tickets_of(session, contact.id)
    opened = not open_tickets
    if not opened:
        ticket = open_tickets[0]  # most recent activity first
        stored = await ticket_service.add_customer_message(
            session,
            ticket.id,
            text=held.text,
            contact_id=contact.id,
            telegram_chat_id=held.telegram_chat_id,
            telegram_message_id=held.telegram_message_id,
        )
    else:  # every ticket was closed meanwhile: the message still needs one
        ticket, stored = await ticket_service.open_ticket(
            session,
            actor=Actor.customer(contact.id, contact.name),
            channel=TicketChannel.TELEGRAM,
            text=held.text,
            contact=contact,
            telegram_chat_id=held.telegram_chat_id,
            telegram_message_id=held.telegram_message_id,
        )
    note = FILED_NOTE.format(sent=held.created_at.isoformat(" ", "minutes"))
    refusal = None
    if files is not None and held.media is not None:
        try:
            refusal = await files(
                session, held.media, ticket=ticket, stored=stored, language=contact.language
            )
        except Exception as exc:  # raised before it wrote anything (HeldFiles)
            if held.created_at > give_up_before:
                raise  # Telegram away: the caller rolls back, a later round tries again
            log.warning("held file not fetched (%s); filed without it", type(exc).__name__)
            note += FILE_NOT_FETCHED
    elif held.media and "not_stored" not in held.media:
        note += FILE_NOT_FETCHED
    await ticket_service.add_system_note(session, ticket.id, text=note)
    chat = contact.telegram_chat_id or held.telegram_chat_id
    if chat is not None:
        now = ticket_service.clock.now()
        for text in (notice(contact.language, ticket.reference, opened=opened), refusal):
            if text is not None:
                payload = json.dumps({"chat_id": chat, "text": text})
                outbox.enqueue(session, chat, "sendMessage", payload, now)
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
