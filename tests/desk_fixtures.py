"""Seed helpers for the customer, contact-form and ticket-desk tests (real rows, real store)."""

from __future__ import annotations

import hashlib
import tempfile
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import Clock
from storage.models import (
    Attachment,
    ContactPerson,
    Organisation,
    Recording,
    StaffRole,
    StaffUser,
    Ticket,
    TicketMessage,
)
from storage.objectstore import ObjectStore
from storage.services.tickets import TicketService

# A 1x1 transparent PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5f0000000049454e44ae426082"
)


async def seed_customer(
    session: AsyncSession, clock: Clock, *, ticket_id: int | None = None
) -> tuple[int, int]:
    """An organisation with one contact person; the ticket (if given) becomes theirs."""
    now = clock.now()
    org = Organisation(name="Acme BV", customer_number="C-1001", created_at=now, updated_at=now)
    session.add(org)
    await session.flush()
    contact = ContactPerson(
        organisation_id=org.id,
        name="Jan de Vries",
        email="jan@acme.example",
        phone="+31 20 123 4567",
        phone_e164="+31201234567",
        created_at=now,
        updated_at=now,
    )
    session.add(contact)
    await session.flush()
    if ticket_id is not None:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.contact_id, ticket.organisation_id = contact.id, org.id
    await session.flush()
    return org.id, contact.id


async def add_recording(session: AsyncSession, clock: Clock) -> int:
    now = clock.now()
    row = Recording(
        object_key=f"recordings/test-{now.timestamp()}.ogg",
        sha256_original=hashlib.sha256(str(now).encode()).hexdigest(),
        sha256_archive="0" * 64,
        duration_seconds=61.0,
        original_format="wav",
        sample_rate=8000,
        channels=1,
        original_size=1,
        archive_size=1,
        call_started_at=now,
        created_at=now,
        expires_at=now + timedelta(days=90),
    )
    session.add(row)
    await session.flush()
    return row.id


async def add_attachment(
    session: AsyncSession,
    store: ObjectStore,
    clock: Clock,
    ticket_id: int,
    *,
    body: bytes,
    media_type: str,
    filename: str,
) -> int:
    """An attachment on the ticket's first message, its bytes in the object store."""
    message_id = await session.scalar(
        select(TicketMessage.id).where(TicketMessage.ticket_id == ticket_id).limit(1)
    )
    key = f"attachments/{ticket_id}/{hashlib.sha256(body).hexdigest()}-{filename}"
    put = await store.put(key, body, content_type=media_type)
    row = Attachment(
        ticket_id=ticket_id,
        message_id=message_id,
        object_key=key,
        version_id=put.version_id,
        filename=filename,
        media_type=media_type,
        size=len(body),
        sha256=put.sha256,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    return row.id


async def _add_held_recording(session: AsyncSession, store: ObjectStore, clock: Clock) -> None:
    """Recording 1 with real archived audio (so audio and waveform routes have an object)
    and a training hold 1 (so the release routes have a hold)."""
    from recordings.service import IngestMetadata, RecordingService
    from storage.models import HoldKind
    from storage.services.audit import Actor
    from tests.recording_audio_helpers import make_audio

    service = RecordingService(clock, store)
    with tempfile.TemporaryDirectory() as directory:
        source = make_audio(Path(directory), "wav_mulaw")
        result = await service.ingest(session, source, IngestMetadata(), Actor.system())
    await service.place_hold(
        session,
        result.recording.id,
        kind=HoldKind.TRAINING,
        reason="route walk",
        actor=Actor.system(),
    )


async def seed_route_targets(
    session: AsyncSession, store: ObjectStore, clock: Clock, ticket_id: int
) -> int:
    """Rows behind the customer, attachment and recording-link routes, so that a route
    walk with id = ticket_id (1 on a fresh database) finds an object for each of them.
    Returns the id of a reply by the (first) agent on that ticket, for the reply-edit routes
    (its author and admins may edit it)."""
    await seed_customer(session, clock, ticket_id=ticket_id)
    await add_attachment(
        session, store, clock, ticket_id, body=PNG, media_type="image/png", filename="a.png"
    )
    await _add_held_recording(session, store, clock)
    from tests.privacy_seed import seed_privacy  # /privacy/{id}, its files

    await seed_privacy(session, store, clock)
    agent = await session.scalar(
        select(StaffUser).where(StaffUser.role == StaffRole.AGENT).order_by(StaffUser.id)
    )
    assert agent is not None
    reply = await TicketService(clock).add_agent_reply(
        session, ticket_id, staff=agent, text="seeded reply"
    )
    return reply.id
