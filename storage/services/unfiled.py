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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    Attachment,
    ContactPerson,
    Ticket,
    TicketChannel,
    TicketMessage,
    UnfiledMessage,
)
from storage.objectstore.base import PutResult
from storage.retention.pending import clear_pending
from storage.services import outbox
from storage.services.audit import Actor
from storage.services.errors import N_, Message
from storage.services.tickets import MAX_TEXT, TicketService

log = logging.getLogger(__name__)

# Stored in Dutch (the desk's language): notes are kept as written, not translated on
# display. English templates for the "errors" catalog (storage/locales).
NOTE_LANGUAGE = "nl"
FILED_NOTE = N_(
    "Filed automatically: the customer did not choose a ticket for this message (sent {sent})."
)
# A held file is only Telegram's reference: fetching it needs the bot (HeldFiles). Without
# it (the retention rule), or when Telegram would not hand it over, the note says so.
FILE_NOT_FETCHED = N_("The file sent with it was not fetched: ask the customer to send it again.")
# Telegram unreachable while fetching a held file: the message waits for a later round,
# this long past its cutoff at most; then it is filed without its file.
FETCH_RETRY_FOR = timedelta(hours=1)


class FiledNotice(Protocol):
    """The customer's text saying where their message went, from the bot's catalog
    (held_filed_recent; `opened`: a new ticket, none was open any more); the composition
    root passes bot.texts.FiledNoticeText."""

    def __call__(self, language: str, reference: str, *, opened: bool) -> str: ...


@dataclass(frozen=True)
class HeldFile:
    """A held message's file as HeldFiles.fetch left it, before the message is filed:
    `stored` in the object store (its key recorded in pending_objects, cleared by the
    filing), else `not_stored` says why for the agents ("[not stored: ...]")."""

    filename: str
    media_type: str
    stored: PutResult | None = None
    not_stored: str | None = None
    detail: Any = None  # the fetcher's own record of a refusal (for `refusal`)


class HeldFiles(Protocol):
    """A held message's file, fetched from Telegram into the object store before the short
    transaction that files the message (as if the customer had picked the ticket). The bot
    passes bot.unfiled.HeldFileFetcher."""

    async def fetch(
        self, sessions: async_sessionmaker[AsyncSession], held_id: int, media: dict[str, Any]
    ) -> HeldFile:
        """Store the file (its key committed as pending first). Raises, leaving nothing
        behind, when Telegram could not be asked: the message waits for a later round, or
        is filed without it once FETCH_RETRY_FOR past its cutoff."""
        ...

    async def discard(self, sessions: async_sessionmaker[AsyncSession], held: HeldFile) -> None:
        """Remove a stored file whose filing did not commit."""
        ...

    def refusal(self, language: str, held: HeldFile, reference: str) -> str | None:
        """The customer's explanation of a file that was not stored."""
        ...


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
    tell the customer through the bot outbox, all in the caller's transaction (the
    retention rule: no outside call; a held file is noted as not fetched). Returns how many
    were filed."""
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


async def file_waiting_each(
    sessions: async_sessionmaker[AsyncSession],
    ticket_service: TicketService,
    notice: FiledNotice,
    files: HeldFiles | None,
    *,
    cutoff: datetime,
    limit: int = 100,
) -> int:
    """file_waiting for the bot: each message's file is fetched with no transaction open,
    then the message is filed in its own short transaction, so a file Telegram cannot hand
    over now holds back only its own message (for up to FETCH_RETRY_FOR). Returns how many
    were filed."""
    async with sessions() as session:
        due = list(
            (
                await session.execute(
                    select(UnfiledMessage.id, UnfiledMessage.media, UnfiledMessage.created_at)
                    .where(UnfiledMessage.created_at <= cutoff)
                    .order_by(UnfiledMessage.created_at, UnfiledMessage.id)
                    .limit(limit)
                )
            ).all()
        )
        await session.rollback()  # no transaction stays open across the fetches
    give_up_before = cutoff - FETCH_RETRY_FOR
    filed = 0
    for held_id, media, created_at in due:
        try:
            filed += await _fetch_and_file(
                sessions, ticket_service, notice, files, held_id, media, created_at > give_up_before
            )
        except Exception:  # this message only: the others are filed, it is tried again
            log.warning("unfiled message %s not filed; tried again later", held_id, exc_info=True)
    return filed


async def _fetch_and_file(
    sessions: async_sessionmaker[AsyncSession],
    ticket_service: TicketService,
    notice: FiledNotice,
    files: HeldFiles | None,
    held_id: int,
    media: dict[str, Any] | None,
    may_wait: bool,
) -> int:
    held_file = None
    if files is not None and media and "not_stored" not in media:
        try:
            held_file = await files.fetch(sessions, held_id, media)
        except Exception as exc:  # nothing was stored (HeldFiles.fetch)
            if may_wait:
                log.warning("held file not fetched (%s); tried again later", type(exc).__name__)
                return 0
            log.warning("held file not fetched (%s); filed without it", type(exc).__name__)
    filed = False
    try:
        async with sessions() as session:
            held = await session.scalar(
                select(UnfiledMessage)
                .where(UnfiledMessage.id == held_id)
                # Picked or filed meanwhile (another instance): it is gone or locked.
                .with_for_update(skip_locked=True, of=UnfiledMessage)
            )
            if held is not None:
                await _file(session, ticket_service, notice, held, held_file, files)
                await session.commit()
                filed = True
    finally:
        if files is not None and held_file is not None and held_file.stored and not filed:
            await files.discard(sessions, held_file)
    return int(filed)


async def _file(
    session: AsyncSession,
    ticket_service: TicketService,
    notice: FiledNotice,
    held: UnfiledMessage,
    held_file: HeldFile | None = None,
    files: HeldFiles | None = None,
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
    note = Message(FILED_NOTE, sent=held.created_at.isoformat(" ", "minutes")).text(NOTE_LANGUAGE)
    refusal = None
    if held_file is not None and held_file.stored is not None:
        await _attach(session, ticket_service, ticket, stored, held_file, held_file.stored)
    elif held_file is not None and held_file.not_stored is not None:
        # The note must survive the text limit: cut the text before it, never the note.
        cut = MAX_TEXT - len(held_file.not_stored) - 1
        stored.text = f"{stored.text[:cut]} {held_file.not_stored}"
        if files is not None:
            refusal = files.refusal(contact.language, held_file, ticket.reference)
    elif held.media and "not_stored" not in held.media:
        note += " " + Message(FILE_NOT_FETCHED).text(NOTE_LANGUAGE)
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


async def _attach(
    session: AsyncSession,
    ticket_service: TicketService,
    ticket: Ticket,
    stored: TicketMessage,
    held_file: HeldFile,
    put: PutResult,
) -> None:
    """The fetched object becomes the message's attachment; its pending record goes in the
    same transaction."""
    session.add(
        Attachment(
            ticket_id=ticket.id,
            message_id=stored.id,
            object_key=put.key,
            version_id=put.version_id,
            filename=held_file.filename[:255],
            media_type=held_file.media_type[:127],
            size=put.size,
            sha256=put.sha256,
            created_at=ticket_service.clock.now(),
        )
    )
    await clear_pending(session, put.key)


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
