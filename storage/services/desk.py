"""Ticket-page helpers for agents: presence heartbeats and linking a recording to a ticket."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import Clock
from storage.models import Recording, StaffUser, Ticket, TicketPresence
from storage.services import audit
from storage.services.audit import Actor
from storage.services.errors import N_, InvalidInput, NotFound

# The page beats every 20 s; a viewer missing two beats has left.
PRESENCE_TTL = timedelta(seconds=45)


class PresenceService:
    """Who has a ticket open, in the database so every app instance sees every viewer."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def beat(self, session: AsyncSession, ticket_id: int, staff_user_id: int) -> None:
        now = self.clock.now()
        where = (
            TicketPresence.ticket_id == ticket_id,
            TicketPresence.staff_user_id == staff_user_id,
        )
        result = await session.execute(
            update(TicketPresence).where(*where).values(last_seen_at=now)
        )
        if result.rowcount:
            return
        try:
            async with session.begin_nested():  # a concurrent first beat may win the insert
                session.add(
                    TicketPresence(
                        ticket_id=ticket_id, staff_user_id=staff_user_id, last_seen_at=now
                    )
                )
        except IntegrityError:
            await session.execute(update(TicketPresence).where(*where).values(last_seen_at=now))

    async def others(self, session: AsyncSession, ticket_id: int, staff_user_id: int) -> list[str]:
        """Names of the other staff who beat on this ticket within the TTL."""
        rows = await session.execute(
            select(StaffUser.display_name, StaffUser.username)
            .join(TicketPresence, TicketPresence.staff_user_id == StaffUser.id)
            .where(
                TicketPresence.ticket_id == ticket_id,
                TicketPresence.staff_user_id != staff_user_id,
                TicketPresence.last_seen_at > self.clock.now() - PRESENCE_TTL,
            )
            .order_by(StaffUser.username)
        )
        return [display or username for display, username in rows]


async def link_recording(
    session: AsyncSession, clock: Clock, ticket_id: int, recording_id: int, *, actor: Actor
) -> Recording:
    """Tie a recording to a ticket (and to its organisation when the recording has none)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(N_("ticket {ticket_id} not found"), ticket_id=ticket_id)
    recording = await session.get(Recording, recording_id, populate_existing=True)
    if recording is None:
        raise InvalidInput(N_("recording {recording_id} does not exist"), recording_id=recording_id)
    previous = recording.ticket_id
    recording.ticket_id = ticket_id
    if recording.organisation_id is None:
        recording.organisation_id = ticket.organisation_id
    now = clock.now()
    audit.record(
        session,
        actor=actor,
        action="recording.linked_to_ticket",
        subject_type="recording",
        subject_id=recording_id,
        at=now,
        details={"ticket_id": ticket_id, "previous_ticket_id": previous},
    )
    await session.flush()
    return recording


async def recordings_of(session: AsyncSession, ticket_id: int) -> list[Recording]:
    rows = await session.scalars(
        select(Recording).where(Recording.ticket_id == ticket_id).order_by(Recording.id)
    )
    return list(rows)
