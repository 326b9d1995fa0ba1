"""What the live inbox announces: ticket messages newer than a message id.

Message ids only grow, so "after id N" is a cheap primary-key range that every app instance
can ask the shared database; no extra table or infrastructure."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import MessageDirection, Ticket, TicketMessage


@dataclass(frozen=True, slots=True)
class NewMessage:
    message_id: int
    ticket_id: int
    from_customer: bool
    opens_ticket: bool  # the ticket's first message: a new ticket
    reference: str
    subject: str
    assignee_id: int | None
    unanswered: int  # customer messages since the desk's last reply on the ticket


async def latest_message_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(TicketMessage.id))) or 0)


async def messages_after(
    session: AsyncSession,
    after: int,
    *,
    also: Collection[int] = (),
    limit: int = 200,
    customer_only: bool = False,
) -> list[NewMessage]:
    """Messages with an id above `after` (or listed in `also`: ids skipped earlier that a
    slower transaction may still commit), oldest first, at most `limit`; with
    `customer_only`, only the customers' messages (what a page is told about)."""
    message = aliased(TicketMessage)
    earlier = aliased(TicketMessage)
    later = aliased(TicketMessage)
    reply = aliased(TicketMessage)
    last_reply = (
        select(func.coalesce(func.max(reply.id), 0))
        .where(reply.ticket_id == message.ticket_id, reply.direction == MessageDirection.OUT)
        .scalar_subquery()
    )
    unanswered = (
        select(func.count(later.id))
        .where(
            later.ticket_id == message.ticket_id,
            later.direction == MessageDirection.IN,
            later.id > last_reply,
        )
        .scalar_subquery()
    )
    first = ~exists().where(earlier.ticket_id == message.ticket_id, earlier.id < message.id)
    wanted = message.id > after
    if also:
        wanted = or_(wanted, message.id.in_(sorted(also)))
    if customer_only:
        wanted = and_(wanted, message.direction == MessageDirection.IN)
    rows = await session.execute(
        select(
            message.id,
            message.ticket_id,
            message.direction,
            first,
            Ticket.reference,
            Ticket.subject,
            Ticket.assignee_id,
            unanswered,
        )
        .join(Ticket, Ticket.id == message.ticket_id)
        .where(wanted)
        .order_by(message.id)
        .limit(limit)
    )
    return [
        NewMessage(
            message_id=row[0],
            ticket_id=row[1],
            from_customer=row[2] == MessageDirection.IN,
            opens_ticket=bool(row[3]),
            reference=row[4] or "",
            subject=row[5] or "",
            assignee_id=row[6],
            unanswered=int(row[7] or 0),
        )
        for row in rows
    ]
