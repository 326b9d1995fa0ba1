"""A customer with two open Telegram tickets and a message waiting for their choice."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.texts import create_i18n, translate
from storage.clock import FrozenClock
from storage.models import (
    ContactPerson,
    MessageDirection,
    OutboxMessage,
    TicketChannel,
    TicketMessage,
    UnfiledMessage,
)
from storage.services.audit import Actor
from storage.services.tickets import TicketService

CHAT = 4242
WAITING_TEXT = "Is de monteur al onderweg?"


@dataclass
class Waiting:
    contact_id: int
    older_ticket: int
    recent_ticket: int
    recent_reference: str
    held_id: int


async def two_tickets_and_a_waiting_message(
    session: AsyncSession, clock: FrozenClock, start: datetime
) -> Waiting:
    service = TicketService(clock)
    clock.set(start)
    contact = ContactPerson(
        name="Klaas Vaak", telegram_chat_id=CHAT, language="nl", created_at=start, updated_at=start
    )
    session.add(contact)
    await session.flush()
    tickets = []
    for minute, text in ((0, "Storing op de lijn"), (1, "Factuur klopt niet")):
        clock.set(start + timedelta(minutes=minute))
        ticket, _ = await service.open_ticket(
            session,
            actor=Actor.customer(contact.id),
            channel=TicketChannel.TELEGRAM,
            text=text,
            contact=contact,
            telegram_chat_id=CHAT,
        )
        tickets.append(ticket)
    held = UnfiledMessage(
        contact_id=contact.id,
        text=WAITING_TEXT,
        telegram_chat_id=CHAT,
        telegram_message_id=77,
        created_at=start + timedelta(minutes=2),
    )
    session.add(held)
    await session.commit()
    return Waiting(contact.id, tickets[0].id, tickets[1].id, tickets[1].reference, held.id)


async def assert_filed_on_recent(session: AsyncSession, waiting: Waiting) -> None:
    """On the most recent open ticket with the note; the customer was told (outbox)."""
    assert await session.get(UnfiledMessage, waiting.held_id) is None
    rows = list(
        await session.scalars(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == waiting.recent_ticket)
            .order_by(TicketMessage.id)
        )
    )
    filed = [m for m in rows if m.direction == MessageDirection.IN and m.text == WAITING_TEXT]
    assert len(filed) == 1 and filed[0].telegram_message_id == 77
    notes = [m for m in rows if m.direction == MessageDirection.NOTE]
    assert len(notes) == 1 and notes[0].text.startswith("Automatisch toegevoegd")
    older = await session.scalars(
        select(TicketMessage.text).where(TicketMessage.ticket_id == waiting.older_ticket)
    )
    assert WAITING_TEXT not in list(older)
    said = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == CHAT)))
    expected = translate(
        create_i18n(), "nl", "held_filed_recent", reference=waiting.recent_reference
    )
    assert [(row.method, json.loads(row.payload)["text"]) for row in said] == [
        ("sendMessage", expected)
    ]
