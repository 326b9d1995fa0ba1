"""Shared by the retention tests: an S3 store on moto's server, a sweeper, and data makers
that write rows (and objects) the way the services do."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.texts import FiledNoticeText, create_i18n
from recordings.service import RETENTION_STANDARD, RETENTION_TAG, RecordingService
from storage.clock import FrozenClock
from storage.models import (
    Attachment,
    HoldKind,
    Recording,
    StaffRole,
    StaffUser,
    Ticket,
    TicketChannel,
)
from storage.objectstore.base import ObjectStore
from storage.retention.rules import schedule
from storage.retention.sweeper import Sweeper
from storage.services.audit import Actor
from storage.services.tickets import TicketService

T0 = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
SECOND = timedelta(seconds=1)
ACTOR = Actor("staff", 1, "alice")


def sweeper(
    sessions: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    clock: FrozenClock,
    batch: int = 2,
    **periods: int,
) -> Sweeper:
    recordings = RecordingService(clock, store)
    return Sweeper(
        sessions,
        store,
        clock,
        schedule(periods),
        batch=batch,
        recordings=recordings,
        filed_notice=FiledNoticeText(create_i18n()),
    )


async def count(session: AsyncSession, model: type, *where: object) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def staff_user(session: AsyncSession, name: str = "alice") -> StaffUser:
    user = StaffUser(
        username=name,
        password_hash="x",
        role=StaffRole.AGENT,
        created_at=T0,
        updated_at=T0,
    )
    session.add(user)
    await session.flush()
    return user


async def closed_ticket(
    session: AsyncSession,
    store: ObjectStore,
    clock: FrozenClock,
    *,
    contact_id: int | None = None,
    attachment: bool = True,
    close: bool = True,
) -> int:
    """A ticket with a customer message (and an attachment object), closed at clock.now()."""
    tickets = TicketService(clock)
    ticket, message = await tickets.open_ticket(
        session, actor=ACTOR, channel=TicketChannel.ADMIN, text="Mijn VoIP-toestel belt niet"
    )
    if contact_id is not None:
        ticket.contact_id = contact_id
    if attachment:
        key = f"attachments/{ticket.id}/{message.id}/{uuid.uuid4().hex}"
        body = b"screenshot " + key.encode()
        put = await store.put(key, body, content_type="image/png")
        session.add(
            Attachment(
                ticket_id=ticket.id,
                message_id=message.id,
                object_key=key,
                version_id=put.version_id,
                filename="scherm.png",
                media_type="image/png",
                size=len(body),
                sha256=hashlib.sha256(body).hexdigest(),
                created_at=clock.now(),
            )
        )
    if close:
        await tickets.close(session, ticket.id, actor=ACTOR)
    await session.flush()
    return ticket.id


async def recording(
    session: AsyncSession,
    store: ObjectStore,
    started_at: datetime,
    *,
    ticket_id: int | None = None,
    caller: str = "+31612345678",
) -> Recording:
    """A recording row and its object as ingest leaves them (without decoding audio)."""
    key = f"recordings/{started_at:%Y/%m}/{uuid.uuid4().hex}.ogg"
    body = b"OggS fake opus " + key.encode()
    put = await store.put(key, body, tags={RETENTION_TAG: RETENTION_STANDARD})
    row = Recording(
        object_key=key,
        version_id=put.version_id,
        sha256_original=hashlib.sha256(key.encode()).hexdigest(),
        sha256_archive=hashlib.sha256(body).hexdigest(),
        duration_seconds=42.0,
        original_format="wav",
        sample_rate=8000,
        channels=1,
        original_size=len(body),
        archive_size=len(body),
        original_filename=f"{caller}.wav",
        call_started_at=started_at,
        caller=caller,
        callee="0702050000",
        agent="bob",
        ticket_id=ticket_id,
        created_at=started_at,
        expires_at=started_at + timedelta(days=90),
    )
    session.add(row)
    await session.flush()
    return row


async def hold(
    session: AsyncSession, store: ObjectStore, clock: FrozenClock, recording_id: int
) -> int:
    placed = await RecordingService(clock, store).place_hold(
        session, recording_id, kind=HoldKind.EVIDENCE, reason="geschil factuur", actor=ACTOR
    )
    return placed.id


async def ticket_exists(session: AsyncSession, ticket_id: int) -> bool:
    return await session.get(Ticket, ticket_id, populate_existing=True) is not None
