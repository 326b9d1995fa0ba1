"""Two customers with data of every kind (tickets, messages, an edit, attachments, a held
message, a contact-form message, recordings, a privacy request, an ID copy, audit events,
a bot inbox row), on the real services, the test database and moto's S3 through minio."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from recording_audio_helpers import make_audio
from sqlalchemy import JSON, BigInteger, String, Text, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from recordings.archive import configure_lifecycle
from recordings.audio import AudioLimits
from recordings.service import IngestMetadata, RecordingPolicy, RecordingService
from storage.clock import FrozenClock
from storage.models import (
    Attachment,
    Base,
    BotUpdate,
    ContactFormSubmission,
    ContactPerson,
    HoldKind,
    MessageEdit,
    Organisation,
    StaffRole,
    StaffUser,
    TicketChannel,
    UnfiledMessage,
)
from storage.objectstore import S3ObjectStore
from storage.phones import normalise_phone
from storage.services.audit import Actor
from storage.services.customers import CustomerService
from storage.services.disk_cleanup import DiskCleanupWorker
from storage.services.privacy import PrivacyService
from storage.services.tickets import TicketService

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
POLICY = RecordingPolicy(audio=AudioLimits(max_bytes=5 * 1024 * 1024, max_seconds=60))
STAFF = Actor("staff", 1, "privacy-officer")


@dataclass
class Person:
    name: str
    email: str
    phone: str
    caller: str  # the same number as the PBX writes it
    telegram_id: int
    username: str
    contact_id: int = 0
    ticket_ids: list[int] = field(default_factory=list)
    recording_ids: list[int] = field(default_factory=list)
    attachment_keys: list[str] = field(default_factory=list)

    @property
    def needles(self) -> list[str]:
        first, last = self.name.split()
        digits = self.phone.replace(" ", "").lstrip("+")[2:]  # national number, no prefix
        return [first, last, self.email, digits, str(self.telegram_id), self.username]


SUBJECT = Person(
    "Wilhelmina Zonderland",
    "wilhelmina@zonderland.example",
    "+31 6 1234 5678",
    "0612345678",
    987654321,
    "wzonderland",
)
OTHER = Person(
    "Gerrit Anderman",
    "gerrit@anderman.example",
    "+31 20 765 4321",
    "+31207654321",
    876543219,
    "ganderman",
)


@dataclass
class PrivacyWorld:
    sessions: async_sessionmaker[AsyncSession]
    store: S3ObjectStore
    clock: FrozenClock
    privacy: PrivacyService
    recordings: RecordingService
    disk_cleanup: DiskCleanupWorker  # tests await its wait_done() after an erasure
    held_recording_id: int = 0
    request_id: int = 0
    staff_id: int = 0


async def _person(
    session: AsyncSession,
    world: PrivacyWorld,
    person: Person,
    org_id: int,
    tmp: Path,
    freq: int,
    recordings: int,
) -> None:
    clock = world.clock
    contact = await CustomerService(clock).create_contact(
        session,
        {
            "name": person.name,
            "email": person.email,
            "phone": person.phone,
            "organisation_id": str(org_id),
        },
        actor=STAFF,
    )
    contact.telegram_user_id = person.telegram_id
    contact.telegram_chat_id = person.telegram_id
    contact.telegram_username = person.username
    await session.flush()
    person.contact_id = contact.id
    tickets = TicketService(clock)
    ticket, message = await tickets.open_ticket(
        session,
        actor=Actor.customer(contact.id, person.name),
        channel=TicketChannel.TELEGRAM,
        text=f"Met {person.name}, bel mij op {person.phone} of mail {person.email}",
        subject=f"Storing bij {person.name}",
        contact=contact,
        telegram_chat_id=person.telegram_id,
        telegram_message_id=11,
    )
    person.ticket_ids.append(ticket.id)
    staff = await session.get(StaffUser, world.staff_id)
    assert staff is not None
    await tickets.add_agent_reply(
        session, ticket.id, staff=staff, text=f"Beste {person.name.split()[0]}, we kijken ernaar."
    )
    session.add(
        MessageEdit(
            message_id=message.id,
            previous_text=f"Met {person.name.split()[1]}",
            new_text=message.text,
            editor_contact_id=contact.id,
            edited_at=clock.now(),
        )
    )
    key = f"attachments/{ticket.id}/{person.username}.txt"
    put = await world.store.put(key, f"scan van {person.name}".encode())
    session.add(
        Attachment(
            ticket_id=ticket.id,
            message_id=message.id,
            object_key=key,
            version_id=put.version_id,
            filename=f"{person.username}.txt",
            media_type="text/plain",
            size=put.size,
            sha256=put.sha256,
            created_at=clock.now(),
        )
    )
    person.attachment_keys.append(key)
    session.add(
        UnfiledMessage(
            contact_id=contact.id,
            text=f"nog een vraag van {person.name}",
            telegram_chat_id=person.telegram_id,
            telegram_message_id=12,
            created_at=clock.now(),
        )
    )
    form_ticket, _ = await tickets.open_ticket(  # the web form opens a ticket without a contact
        session,
        actor=Actor.system("contact form"),
        channel=TicketChannel.WEB_FORM,
        text=f"Formulier van {person.name}, {person.phone}",
    )
    person.ticket_ids.append(form_ticket.id)
    session.add(
        ContactFormSubmission(
            ticket_id=form_ticket.id,
            created_at=clock.now(),
            company="Bakkerij",
            name=person.name,
            email=person.email,
            phone=person.phone,
            phone_e164=normalise_phone(person.phone),
            message=f"Formulier van {person.name}",
            ip_hash="0" * 64,
        )
    )
    update = {
        "update_id": person.telegram_id % 100000,
        "message": {"from": {"id": person.telegram_id}},
    }
    session.add(
        BotUpdate(
            update_id=person.telegram_id % 100000,
            payload=json.dumps(update, separators=(",", ":")),
            received_at=clock.now(),
            next_attempt_at=clock.now(),
        )
    )
    for offset in range(recordings):
        audio = make_audio(tmp, "wav_mulaw", frequency=freq + offset * 100)
        result = await world.recordings.ingest(
            session,
            audio,
            IngestMetadata(started_at=NOW, caller=person.caller, agent="bob"),
            STAFF,
        )
        person.recording_ids.append(result.recording.id)
    await session.flush()


@pytest.fixture
async def pworld(
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    s3_endpoint: str,
    s3_bucket: str,
    tmp_path: Path,
) -> AsyncIterator[PrivacyWorld]:
    clock = FrozenClock(NOW)
    store = S3ObjectStore(s3_endpoint, "test", "testtest", s3_bucket)
    await configure_lifecycle(store)
    disk_cleanup = DiskCleanupWorker(engine)
    world = PrivacyWorld(
        session_factory,
        store,
        clock,
        PrivacyService(clock, store, disk_cleanup),
        RecordingService(clock, store, POLICY),
        disk_cleanup,
    )
    for person in (SUBJECT, OTHER):  # module-level records: reset per test
        person.ticket_ids, person.recording_ids, person.attachment_keys = [], [], []
    async with session_factory() as session:
        staff = StaffUser(
            username="privacy-officer",
            password_hash="x",
            role=StaffRole.PRIVACY_OFFICER,
            created_at=NOW,
            updated_at=NOW,
        )
        org = Organisation(
            name="Bakkerij Noord", customer_number="C-1", created_at=NOW, updated_at=NOW
        )
        session.add_all([staff, org])
        await session.flush()
        world.staff_id = staff.id
        # The subject's second recording is held as evidence; one call of the other
        # customer is enough to show it is left alone.
        await _person(session, world, SUBJECT, org.id, tmp_path, 440, recordings=2)
        await _person(session, world, OTHER, org.id, tmp_path, 660, recordings=1)
        await world.recordings.place_hold(
            session,
            SUBJECT.recording_ids[1],
            kind=HoldKind.EVIDENCE,
            reason="geschil over opzegging",
            actor=STAFF,
        )
        world.held_recording_id = SUBJECT.recording_ids[1]
        request = await world.privacy.create_request(
            session,
            type="erasure",
            contact_id=SUBJECT.contact_id,
            channel="telegram",
            details=f"{SUBJECT.name} wil alles gewist",
            actor=Actor.customer(SUBJECT.contact_id),
        )
        world.request_id = request.id
        await world.privacy.upload_id_copy(
            session,
            request.id,
            b"%PDF-1.7\n" + f"paspoort {SUBJECT.name}".encode(),
            size=100,
            actor=STAFF,
        )
        await CustomerService(clock).update_contact(
            session, SUBJECT.contact_id, {"language": "en"}, actor=STAFF
        )
        await session.commit()
    disk_cleanup.start()
    try:
        yield world
    finally:
        await disk_cleanup.stop()
        await store.close()


async def open_request(world: PrivacyWorld, type: str, person: Person | None = None) -> int:
    """Another request about the subject (default): each kind offers only its own actions
    (a restriction needs a restriction request, an export an access request)."""
    person = person or SUBJECT
    async with world.sessions() as session:
        request = await world.privacy.create_request(
            session, type=type, contact_id=person.contact_id, channel="telegram", actor=STAFF
        )
        await session.commit()
        return request.id


async def find_personal_data(
    session: AsyncSession, person: Person, *, skip: set[tuple[str, str]] = frozenset()
) -> list[str]:
    """Every (table, column, row) in the whole schema whose text/JSON holds one of the
    person's identifiers, or whose big-integer column equals their Telegram id."""
    needles = [n.lower() for n in person.needles]
    found = []
    for table in Base.metadata.sorted_tables:
        rows = (await session.execute(select(table))).mappings().all()
        for row in rows:
            ident = str(row.get("id", row.get("contact_id", "")))
            for column in table.columns:
                value = row[column.name]
                if value is None or (table.name, ident) in skip:
                    continue
                if isinstance(column.type, String | Text | JSON):
                    text = json.dumps(value) if isinstance(column.type, JSON) else str(value)
                    hits = [n for n in needles if n in text.lower()]
                    if hits:
                        found.append(f"{table.name}.{column.name}#{ident}: {hits}")
                elif isinstance(column.type, BigInteger) and value == person.telegram_id:
                    found.append(f"{table.name}.{column.name}#{ident}: telegram id")
    return found


async def find_in_objects(store: S3ObjectStore, person: Person, skip: set[str]) -> list[str]:
    needles = [n.lower().encode() for n in person.needles]
    found = []
    for info in await store.list(""):
        if info.key in skip:
            continue
        body = (await (await store.get(info.key)).read_all()).lower()
        found += [f"{info.key}: {n!r}" for n in needles if n in body]
    return found


async def contact_row(session: AsyncSession, person: Person) -> ContactPerson | None:
    return await session.get(ContactPerson, person.contact_id)
