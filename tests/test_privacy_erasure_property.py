"""Property: whatever people, tickets, notes naming each other, contact-form messages and
recordings (linked by caller or by ticket only, held for training or evidence) the desk
holds, erasing one subject leaves none of their identifiers (name, e-mail, every notation
of their number, Telegram id) in any table, in the database's files on disk, or in any
object version in the bucket (keys, tags, metadata, text and ZIP contents), except what an
evidence hold keeps, each item listed with its ground. And the export of any other
subject names nobody else.

Runs on PostgreSQL too (SUPPORTDESK_TEST_DATABASE_URL): there every file of the schema's
tables, TOAST tables and indexes is scanned instead."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from recording_audio_helpers import make_audio
from sqlalchemy import JSON, BigInteger, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession

from recordings.archive import configure_lifecycle
from recordings.service import IngestMetadata, RecordingService
from storage.clock import FrozenClock
from storage.db import create_engine, create_sessionmaker
from storage.models import (
    Attachment,
    AuditEvent,
    Base,
    BotUpdate,
    HoldKind,
    MessageEdit,
    Organisation,
    Recording,
    RecordingHold,
    StaffRole,
    StaffUser,
    TicketChannel,
    TicketMessage,
)
from storage.objectstore import S3ObjectStore
from storage.services.audit import Actor
from storage.services.contact_form import ContactFormService
from storage.services.customers import CustomerService
from storage.services.disk_cleanup import DiskCleanupWorker
from storage.services.privacy import PrivacyService
from storage.services.privacy_erasure import ErasureResult, erase_request
from storage.services.privacy_export import export_contact
from storage.services.tickets import TicketService
from tests.database_bytes import database_bytes
from tests.db_template import PG_URL, copy_sqlite_template, pg_database
from tests.privacy_fixtures import NOW, POLICY, STAFF

pytestmark = pytest.mark.storage

FIRST = ("Wilhelmina", "Gerrit", "Truusje", "Barendina")
LAST = ("Zonderland", "Anderman", "Vreeswijker", "Hoogkamper")
SWITCHBOARD = "0201112222"  # a line of nobody in particular: recordings linked by ticket only


def notation(nsn: str, style: int) -> str:
    """A Dutch mobile number (6 and eight digits) written as people do: in groups of four,
    in pairs, international, with a trunk zero in brackets."""
    a, b = nsn[1:5], nsn[5:]
    pairs = " ".join(nsn[i : i + 2] for i in range(1, 9, 2))
    return (
        f"06-{a} {b}",
        f"+31 6 {a} {b}",
        f"0031{nsn}",
        f"(06) {a}{b}",
        f"06 {pairs}",
        f"06-{pairs}",
        f"+31 6 {pairs}",
        f"+31 (0)6 {a}-{b}",
        f"(06) {a}-{b}",
        f"06.{pairs.replace(' ', '.')}",
    )[style]


NOTATIONS = 10
Note = tuple[int, int, int, bool]


@dataclass
class Person:
    index: int
    nsn: str  # national significant number, 9 digits starting with 6
    style: int
    telegram_id: int
    contact_id: int = 0
    ticket_ids: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{FIRST[self.index]} {LAST[self.index]}"

    @property
    def email(self) -> str:
        return f"{FIRST[self.index].lower()}@{LAST[self.index].lower()}.example"

    @property
    def phone(self) -> str:
        return notation(self.nsn, self.style)

    @property
    def needles(self) -> list[str]:
        """Every form of their identifiers (compared in lower case)."""
        forms = {notation(self.nsn, s) for s in range(NOTATIONS)}
        return sorted(
            {
                self.name.lower(),
                LAST[self.index].lower(),
                self.email,
                f"+31{self.nsn}",
                self.nsn,
                f"{self.nsn[1:5]} {self.nsn[5:]}",
                str(self.telegram_id),
                *forms,
            }
        )


# --- the world -------------------------------------------------------------------------

recording_spec = st.tuples(
    st.sampled_from(["caller", "ticket"]), st.sampled_from([None, "training", "evidence"])
)
person_spec = st.tuples(
    st.integers(0, NOTATIONS - 1),  # notation
    st.integers(1_000_000, 9_999_999),  # the rest of the number
    st.booleans(),  # also sent the contact form
    st.lists(recording_spec, min_size=1, max_size=2),
)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[tuple], list[Note], int]:
    people = draw(st.lists(person_spec, min_size=2, max_size=3))
    n = len(people)
    notes = draw(  # (who writes, about whom, in which notation, naming them too)
        st.lists(
            st.tuples(
                st.integers(0, n - 1),
                st.integers(0, n - 1),
                st.integers(0, NOTATIONS - 1),
                st.booleans(),
            ).filter(lambda p: p[0] != p[1]),
            min_size=1,
            max_size=4,
        )
    )
    return people, notes, draw(st.integers(0, n - 1))


@dataclass
class World:
    sessions: object
    store: S3ObjectStore
    privacy: PrivacyService
    recordings: RecordingService
    people: list[Person]
    staff: StaffUser | None = None


async def _build(
    world: World, specs: list[tuple], notes: list[Note], audio: Iterator[Path]
) -> None:
    clock = world.privacy.clock
    tickets = TicketService(clock)
    async with world.sessions() as s:  # type: ignore[operator]
        staff = StaffUser(
            username="officer", password_hash="x", role=StaffRole.PRIVACY_OFFICER,
            created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        orgs = [
            Organisation(
                name=f"Bedrijf {i}", customer_number=f"C-{i}", created_at=NOW, updated_at=NOW
            )
            for i in range(2)
        ]
        s.add_all([staff, *orgs])
        await s.flush()
        for person, (_, _, form, recs) in zip(world.people, specs, strict=True):
            contact = await CustomerService(clock).create_contact(
                s,
                {
                    "name": person.name,
                    "email": person.email,
                    "phone": person.phone,
                    "organisation_id": str(orgs[person.index % 2].id),
                },
                actor=STAFF,
            )
            contact.telegram_user_id = contact.telegram_chat_id = person.telegram_id
            person.contact_id = contact.id
            ticket, message = await tickets.open_ticket(
                s,
                actor=Actor.customer(contact.id, person.name),
                channel=TicketChannel.TELEGRAM,
                text=f"Met {person.name}, bel {person.phone} of {person.email}",
                contact=contact,
                telegram_chat_id=person.telegram_id,
                telegram_message_id=1,
            )
            person.ticket_ids.append(ticket.id)
            await tickets.add_agent_reply(
                s, ticket.id, staff=staff, text=f"Beste {person.name}, we bellen {person.phone}."
            )
            s.add(
                MessageEdit(
                    message_id=message.id, previous_text=f"Met {person.name}",
                    new_text=message.text, editor_contact_id=contact.id, edited_at=NOW,
                )
            )  # fmt: skip
            key = f"attachments/{ticket.id}/{uuid.uuid4().hex}.txt"
            body = f"meterkast van {person.name}, {person.phone}".encode()
            put = await world.store.put(key, body, content_type="text/plain")
            s.add(
                Attachment(
                    ticket_id=ticket.id, message_id=message.id, object_key=key,
                    version_id=put.version_id, filename="meterkast.txt", media_type="text/plain",
                    size=put.size, sha256=put.sha256, created_at=NOW,
                )
            )  # fmt: skip
            s.add(
                BotUpdate(
                    update_id=person.telegram_id % 1_000_000,
                    payload=json.dumps({"message": {"from": {"id": person.telegram_id}}}),
                    received_at=NOW,
                    next_attempt_at=NOW,
                )
            )
            if form:
                receipt = await ContactFormService(clock, tickets).submit(
                    s,
                    {
                        "name": person.name, "email": person.email, "phone": person.phone,
                        "company": "", "message": f"Graag terugbellen: {person.phone}",
                    },
                    sender=uuid.uuid4().hex, language="nl",
                )  # fmt: skip
                person.ticket_ids.append(receipt.ticket_id)
            for link, hold in recs:
                meta = IngestMetadata(
                    started_at=NOW,
                    caller=person.phone if link == "caller" else SWITCHBOARD,
                    agent="bob",
                    ticket_id=ticket.id if link == "ticket" else None,
                )
                made = await world.recordings.ingest(s, next(audio), meta, STAFF)
                if hold is not None:
                    await world.recordings.place_hold(
                        s, made.recording.id, kind=HoldKind(hold), reason="bewaren", actor=STAFF
                    )
        for owner, named, style, with_name in notes:  # colleagues write about a customer
            other = world.people[named]
            number = notation(other.nsn, style)
            await tickets.add_internal_note(
                s,
                world.people[owner].ticket_ids[0],
                staff=staff,
                text=(
                    f"Let op: {other.name} ({number}) belde hierover ook."
                    if with_name
                    else f"Terugbellen op {number} graag."
                ),
            )
        await s.commit()


# --- scans -----------------------------------------------------------------------------


def _hits(text: str, needles: list[str]) -> list[str]:
    low = text.lower()
    return [n for n in needles if n in low]


async def _allowed_rows(s: AsyncSession, result: ErasureResult) -> set[tuple[str, str]]:
    """(table, id) of the rows an evidence hold keeps, with the erasure's own bookkeeping."""
    recs = {i.id for i in result.kept if i.type == "recording"}
    tickets = {i.id for i in result.kept if i.type == "ticket"}
    allowed = {("recordings", str(r)) for r in recs} | {("tickets", str(t)) for t in tickets}
    for model, column, ids in (
        (RecordingHold, RecordingHold.recording_id, recs),
        (TicketMessage, TicketMessage.ticket_id, tickets),
        (Attachment, Attachment.ticket_id, tickets),
    ):
        for row_id in await s.scalars(select(model.id).where(column.in_(ids))):
            allowed.add((model.__tablename__, str(row_id)))
    messages = [int(i) for t, i in allowed if t == "ticket_messages"]
    edits = select(MessageEdit.id).where(MessageEdit.message_id.in_(messages))
    for row_id in await s.scalars(edits):
        allowed.add(("message_edits", str(row_id)))
    about = [("recording", r) for r in recs] + [("ticket", t) for t in tickets]
    for kind, ident in about:
        for row_id in await s.scalars(
            select(AuditEvent.id).where(
                AuditEvent.subject_type == kind, AuditEvent.subject_id == str(ident)
            )
        ):
            allowed.add(("audit_events", str(row_id)))
    allowed.add(("erasure_runs", str(result.request_id)))
    return allowed


async def _scan_tables(
    s: AsyncSession, person: Person, allowed: set[tuple[str, str]]
) -> tuple[list[str], set[str]]:
    """Hits outside the allowed rows, and the needles inside them."""
    needles = person.needles
    found, kept = [], set()
    for table in Base.metadata.sorted_tables:
        for row in (await s.execute(select(table))).mappings().all():
            key = next((k for k in ("id", "request_id", "contact_id", "update_id") if k in row), "")
            ident = str(row[key]) if key else "?"
            for column in table.columns:
                value = row[column.name]
                if value is None:
                    continue
                if isinstance(column.type, String | Text | JSON):
                    text = value if isinstance(value, str) else json.dumps(value)
                    hits = _hits(text, needles)
                elif isinstance(column.type, BigInteger) and value == person.telegram_id:
                    hits = [str(person.telegram_id)]
                else:
                    continue
                if (table.name, ident) in allowed:
                    kept.update(hits)
                elif hits:
                    found.append(f"{table.name}.{column.name}#{ident}: {hits}")
    return found, kept


def _object_texts(client, bucket: str) -> Iterator[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(key, version, text) for every object version: key, tags, metadata and body (ZIPs
    unpacked, every member)."""
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket)
    for page in pages:
        for version in page.get("Versions", []):
            key, vid = version["Key"], version["VersionId"]
            got = client.get_object(Bucket=bucket, Key=key, VersionId=vid)
            body = got["Body"].read()
            tags = client.get_object_tagging(Bucket=bucket, Key=key, VersionId=vid)["TagSet"]
            yield key, vid, key + json.dumps(tags) + json.dumps(got.get("Metadata", {}))
            if body.startswith(b"PK"):
                with zipfile.ZipFile(io.BytesIO(body)) as zf:
                    for member in zf.namelist():
                        yield key, vid, member + zf.read(member).decode("latin-1")
            else:
                yield key, vid, body.decode("latin-1")
        for marker in page.get("DeleteMarkers", []):
            yield marker["Key"], marker["VersionId"], marker["Key"]


def _scan_objects(client, bucket: str, person: Person, allowed_keys: set[str]) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for key, vid, text in _object_texts(client, bucket):
        hits = _hits(text, person.needles)
        if hits and key not in allowed_keys:
            found.append(f"{key}@{vid}: {hits}")
    return found


def _zip_texts(body: bytes) -> Iterator[tuple[str, str]]:
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        for member in zf.namelist():
            yield member, zf.read(member).decode("latin-1")


# --- the property ----------------------------------------------------------------------


Drawn = tuple[list[tuple], list[Note], int]


async def _scenario(url: str, endpoint: str, audio: list[Path], drawn: Drawn) -> None:
    specs, notes, erased_at = drawn
    people = [
        Person(i, f"6{rest:07d}{i}", style, 700_000_000 + rest * 4 + i)
        for i, (style, rest, _, _) in enumerate(specs)
    ]
    bucket = f"prop-{uuid.uuid4().hex[:12]}"
    store = S3ObjectStore(endpoint, "test", "testtest", bucket)
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test",
        aws_secret_access_key="testtest", region_name="us-east-1",
    )  # fmt: skip
    engine = create_engine(url)
    clock = FrozenClock(NOW)
    disk_cleanup = DiskCleanupWorker(engine)
    disk_cleanup.start()
    world = World(
        create_sessionmaker(engine),
        store,
        PrivacyService(clock, store, disk_cleanup),
        RecordingService(clock, store, POLICY),
        people,
    )
    try:
        await configure_lifecycle(store)
        await _build(world, specs, notes, iter(audio))
        subject = people[erased_at]
        others = [p for p in people if p is not subject]

        # Exports of the others name nobody else (every file of the ZIP).
        async with world.sessions() as s:  # type: ignore[operator]
            for person in others:
                document = await export_contact(world.privacy, s, person.contact_id, actor=STAFF)
                await s.commit()
                body = await (await store.get(document.object_key)).read_all()
                for member, text in _zip_texts(body):
                    for somebody in people:
                        if somebody is not person:
                            hits = _hits(text, somebody.needles)
                            assert not hits, (person.name, member, somebody.name, hits)

            request = await world.privacy.create_request(
                s, type="erasure", contact_id=subject.contact_id, channel="telegram",
                details=f"{subject.name} wil gewist worden",
                actor=Actor.customer(subject.contact_id),
            )  # fmt: skip
            await world.privacy.verify_identity(s, request.id, actor=STAFF)
            await s.commit()
            result = await erase_request(
                world.privacy, world.recordings, s, request.id, actor=STAFF
            )
            await s.commit()
        assert await disk_cleanup.wait_done()

        kept = result.kept
        assert all("GDPR art. 17(3)(e)" in i.ground for i in kept if i.type == "recording")
        assert (result.status == "waiting") == bool(kept)
        async with world.sessions() as s:  # type: ignore[operator]
            held = set(
                await s.scalars(
                    select(RecordingHold.recording_id).where(
                        RecordingHold.kind == HoldKind.EVIDENCE, RecordingHold.released_at.is_(None)
                    )
                )
            )
            kept_recordings = {i.id for i in kept if i.type == "recording"}
            remaining = set(await s.scalars(select(Recording.id)))
            assert kept_recordings <= held  # kept only under evidence
            assert kept_recordings <= remaining
            allowed = await _allowed_rows(s, result)
            found, kept_needles = await _scan_tables(s, subject, allowed)
            assert found == [], found
            keys = set(
                await s.scalars(
                    select(Recording.object_key).where(Recording.id.in_(kept_recordings))
                )
            )
            keys |= set(
                await s.scalars(
                    select(Attachment.object_key).where(
                        Attachment.ticket_id.in_([i.id for i in kept if i.type == "ticket"])
                    )
                )
            )
        found_objects = await asyncio.to_thread(_scan_objects, client, bucket, subject, keys)
        assert found_objects == [], found_objects

        # The bytes on disk, after the checkpoint (SQLite) or the rewrite (PostgreSQL).
        raw = (await database_bytes(engine)).lower()
        on_disk = {n for n in subject.needles if n.encode() in raw}
        assert on_disk <= kept_needles, on_disk - kept_needles
    finally:
        await disk_cleanup.stop()
        await store.close()
        await engine.dispose()


@pytest.fixture(scope="module")
def audio_pool(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Distinct calls (the vault refuses a second copy of the same audio)."""
    directory = tmp_path_factory.mktemp("calls")
    return [
        make_audio(directory, "wav_mulaw", seconds=0.3, frequency=300 + 70 * i) for i in range(6)
    ]


@contextmanager
def _example_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at head for one example."""
    if PG_URL:
        with pg_database(request.getfixturevalue("pg_template")) as url:
            yield url
        return
    template = request.getfixturevalue("sqlite_template")
    yield copy_sqlite_template(template, tmp_path / f"{uuid.uuid4().hex}.sqlite3")


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # an example takes seconds: no shrinking
)
@given(drawn=worlds())
@example(  # the erased subject's calls: by number and by ticket, training and evidence holds
    drawn=(
        [
            (1, 5555666, True, [("caller", "evidence"), ("ticket", "training")]),
            (2, 5555666, True, [("ticket", None), ("caller", "training")]),
            (3, 1234567, False, [("caller", "evidence")]),
        ],
        [(0, 1, 4, True), (1, 0, 5, False), (2, 0, 6, True), (0, 2, 7, False)],
        0,
    )
)
@example(  # notes in pairs and brackets about a subject who typed groups of four
    drawn=(
        [(0, 2345678, False, [("caller", None)]), (4, 8765432, True, [("ticket", None)])],
        [(1, 0, 4, False), (1, 0, 8, False), (1, 0, 9, True)],
        0,
    )
)
def test_erasure_leaves_no_identifier_and_exports_name_nobody_else(
    drawn: Drawn,
    s3_endpoint: str,
    audio_pool: list[Path],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    with _example_database(request, tmp_path) as url:
        asyncio.run(_scenario(url, s3_endpoint, audio_pool, drawn))
