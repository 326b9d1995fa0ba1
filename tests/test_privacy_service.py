"""Privacy rights on the real services: deadlines, ID copies, export ZIP contents, erasure
that leaves nothing but held evidence (every table, every object), and the two retention
rules for the temporary files. Both databases, moto's S3 through the minio SDK."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from recordings.service import RecordingService
from storage.models import (
    AuditEvent,
    ContactFormSubmission,
    ContactPerson,
    DocumentKind,
    PrivacyDocument,
    PrivacyRequest,
    Recording,
    RequestStatus,
    Ticket,
    TicketMessage,
)
from storage.retention.rules import schedule
from storage.retention.sweeper import Sweeper
from storage.services.contact_form import ContactFormService
from storage.services.errors import Conflict, InvalidInput
from storage.services.privacy import add_month, deadline_state
from storage.services.privacy_erasure import ERASED_TEXT, erase_contact
from storage.services.privacy_export import export_contact
from storage.services.tickets import TicketService
from tests.privacy_fixtures import (
    OTHER,
    STAFF,
    SUBJECT,
    PrivacyWorld,
    find_in_objects,
    find_personal_data,
    pworld,
)

pytestmark = pytest.mark.storage
SECOND = timedelta(seconds=1)
__all__ = ["pworld"]


def test_deadline_is_one_calendar_month() -> None:
    assert add_month(datetime(2026, 1, 31, 12, tzinfo=UTC)) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert add_month(datetime(2026, 12, 15, tzinfo=UTC)) == datetime(2027, 1, 15, tzinfo=UTC)


async def test_request_deadline_warning_and_log(pworld: PrivacyWorld) -> None:
    async with pworld.sessions() as s:
        request = await pworld.privacy.get(s, pworld.request_id)
        assert request.deadline_at == datetime(2026, 12, 27, 9, 0, tzinfo=UTC)
        assert request.warn_at == request.deadline_at - timedelta(days=7)
        assert deadline_state(request, pworld.clock.now()) == "ok"
        assert deadline_state(request, request.warn_at) == "warning"
        assert deadline_state(request, request.deadline_at) == "overdue"
        assert [e.action for e in request.events] == ["received", "id_copy_uploaded"]
        with pytest.raises(InvalidInput):
            await pworld.privacy.create_request(
                s, type="gossip", contact_id=SUBJECT.contact_id, channel="letter", actor=STAFF
            )


async def test_id_copy_is_deleted_at_verification_and_audited(pworld: PrivacyWorld) -> None:
    async with pworld.sessions() as s:
        [doc] = await s.scalars(select(PrivacyDocument))
        key = doc.object_key
        assert await pworld.store.exists(key)
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        await s.commit()
        assert not await pworld.store.exists(key)
        doc = await s.get(PrivacyDocument, doc.id, populate_existing=True)
        assert doc is not None and doc.deleted_at == pworld.clock.now()
        actions = list(await s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        assert "privacy.id_copy.store" in actions and "privacy.id_copy.delete" in actions
        stored = await s.scalar(
            select(AuditEvent).where(AuditEvent.action == "privacy.id_copy.store")
        )
        assert stored is not None and "at the latest after 7 days" in stored.details["retention"]
        with pytest.raises(Conflict):  # no new ID copies once verified
            await pworld.privacy.upload_id_copy(
                s, pworld.request_id, b"\x89PNG\r\n\x1a\n", size=8, actor=STAFF
            )


async def test_retention_rules_remove_id_copies_and_exports_after_7_days(
    pworld: PrivacyWorld,
) -> None:
    """The sweeper over every rule, one second before and one second after 7 days."""
    keys = {r.key: r for r in schedule()}
    assert keys["privacy_id_copies"].days == 7 and keys["privacy_exports"].days == 7
    sweeper = Sweeper(
        pworld.sessions,
        pworld.store,
        pworld.clock,
        schedule(),
        batch=1,
        recordings=pworld.recordings,
    )
    async with pworld.sessions() as s:
        await export_contact(pworld.privacy, s, SUBJECT.contact_id, actor=STAFF)
        await s.commit()
    start = pworld.clock.now()
    pworld.clock.current = start + timedelta(days=7) - SECOND
    before = await sweeper.run()
    assert before.rules["privacy_id_copies"].deleted == 0
    assert before.rules["privacy_exports"].deleted == 0
    assert len(await pworld.store.list("privacy/")) == 2
    pworld.clock.current = start + timedelta(days=7) + SECOND
    dry = await sweeper.run(dry_run=True)
    assert dry.rules["privacy_exports"].deleted == 1
    after = await sweeper.run()
    assert after.rules["privacy_id_copies"].deleted == 1
    assert after.rules["privacy_exports"].deleted == 1
    assert await pworld.store.list("privacy/") == []
    async with pworld.sessions() as s:
        docs = list(await s.scalars(select(PrivacyDocument)))
        assert {d.kind for d in docs} == {DocumentKind.ID_COPY, DocumentKind.EXPORT}
        assert all(d.deleted_at == pworld.clock.now() for d in docs)  # row kept as proof
        # Everything else of the customers is well within its own period.
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 4


class RefusesDeletes:
    """The object-store edge with a fault: every delete fails (store unreachable)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        raise ConnectionError("object store unreachable")


async def test_a_file_the_store_cannot_delete_is_reported_and_retried(
    pworld: PrivacyWorld,
) -> None:
    """The sweep shares the privacy desk's delete but keeps going past a failing object:
    the row stays live (no false proof of deletion) and the next sweep finishes it."""
    rules = tuple(r for r in schedule() if r.key == "privacy_id_copies")
    pworld.clock.current += timedelta(days=7) + SECOND
    refuses = RefusesDeletes(pworld.store)
    vault = RecordingService(pworld.clock, refuses)  # type: ignore[arg-type]
    broken = Sweeper(pworld.sessions, refuses, pworld.clock, rules, recordings=vault)  # type: ignore[arg-type]
    failed = (await broken.run()).rules["privacy_id_copies"]
    assert failed.deleted == 0 and len(failed.failed) == 1
    async with pworld.sessions() as s:
        copy = await s.scalar(select(PrivacyDocument))
        assert copy is not None and copy.deleted_at is None
    assert await pworld.store.exists(copy.object_key)
    fixed = Sweeper(
        pworld.sessions, pworld.store, pworld.clock, rules, recordings=pworld.recordings
    )
    done = (await fixed.run()).rules
    assert done["privacy_id_copies"].deleted == 1 and done["privacy_id_copies"].failed == []
    assert not await pworld.store.exists(copy.object_key)


async def _zip(pworld: PrivacyWorld) -> zipfile.ZipFile:
    async with pworld.sessions() as s:
        document = await export_contact(pworld.privacy, s, SUBJECT.contact_id, actor=STAFF)
        await s.commit()
        assert document.kind == DocumentKind.EXPORT
        assert document.expires_at == pworld.clock.now() + timedelta(days=7)
        body = await (await pworld.store.get(document.object_key)).read_all()
    return zipfile.ZipFile(io.BytesIO(body))


async def test_export_holds_every_kind_of_data_and_nothing_of_another_customer(
    pworld: PrivacyWorld,
) -> None:
    zf = await _zip(pworld)
    names = set(zf.namelist())
    kinds = ["contact", "organisation", "tickets", "messages", "message_edits", "attachments",
             "recordings", "contact_form", "held_messages", "privacy_requests", "privacy_flags",
             "audit"]  # fmt: skip
    for kind in kinds:
        assert f"{kind}.json" in names and f"{kind}.csv" in names
    data = {k: json.loads(zf.read(f"{k}.json")) for k in kinds}
    [contact] = data["contact"]
    assert contact["email"] == SUBJECT.email and contact["telegram_user_id"] == SUBJECT.telegram_id
    assert data["organisation"][0]["name"] == "Bakkerij Noord"
    assert [t["id"] for t in data["tickets"]] == SUBJECT.ticket_ids
    texts = [m["text"] for m in data["messages"]]
    assert any(SUBJECT.phone in t for t in texts) and any(t.startswith("Beste") for t in texts)
    assert len(data["message_edits"]) == 1
    [attachment] = data["attachments"]
    assert "object_key" not in attachment
    [member] = [n for n in names if n.startswith("attachments/")]
    assert zf.read(member) == f"scan van {SUBJECT.name}".encode()
    assert sorted(r["id"] for r in data["recordings"]) == sorted(SUBJECT.recording_ids)
    assert data["contact_form"][0]["message"] == f"Formulier van {SUBJECT.name}"
    assert len(data["held_messages"]) == 1
    [request] = data["privacy_requests"]
    assert request["type"] == "erasure" and request["events"]
    assert {"contact.created", "contact.updated", "ticket.opened"} <= {
        a["action"] for a in data["audit"]
    }
    readme = zf.read("README.txt").decode()
    assert "Uw gegevens" in readme and "Your data" in readme
    assert all(kind in readme for kind in kinds)
    everything = b"".join(zf.read(n) for n in names).lower()
    for needle in OTHER.needles:
        assert needle.lower().encode() not in everything, needle


async def test_export_to_file_for_the_cli(pworld: PrivacyWorld, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "export.zip"
    async with pworld.sessions() as s:
        await export_contact(pworld.privacy, s, SUBJECT.contact_id, actor=STAFF, out=out)
        await s.commit()
    assert "contact.json" in zipfile.ZipFile(out).namelist()


@pytest.mark.parametrize("mode", ["anonymise", "delete"])
async def test_erasure_leaves_nothing_but_held_evidence(pworld: PrivacyWorld, mode: str) -> None:
    async with pworld.sessions() as s:
        await export_contact(pworld.privacy, s, SUBJECT.contact_id, actor=STAFF)
        await s.commit()
        tickets_before = await s.scalar(select(func.count()).select_from(Ticket))
        erase = erase_contact(
            pworld.privacy, pworld.recordings, s, SUBJECT.contact_id, actor=STAFF,
            request_id=pworld.request_id,
        )  # fmt: skip
        with pytest.raises(Conflict):  # identity first
            await erase
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        result = await erase_contact(
            pworld.privacy,
            pworld.recordings,
            s,
            SUBJECT.contact_id,
            actor=STAFF,
            request_id=pworld.request_id,
            ticket_mode=mode,
        )
        await s.commit()
        held = await s.get(Recording, pworld.held_recording_id)
        assert held is not None and held.caller == SUBJECT.caller
        assert [(k.kind, k.id) for k in result.kept] == [("recording", held.id)]
        assert "17(3)(e)" in result.kept[0].ground
        held_events = set(
            await s.scalars(
                select(AuditEvent.id).where(
                    AuditEvent.subject_type == "recording",
                    AuditEvent.subject_id == str(held.id),
                )
            )
        )
        skip = {("recordings", str(held.id))} | {("audit_events", str(i)) for i in held_events}
        # The erasure waits on the held recording: its run keeps the identity snapshot.
        skip |= {("erasure_runs", "")}
        assert await find_personal_data(s, SUBJECT, skip=skip) == []
        assert await find_in_objects(pworld.store, SUBJECT, {held.object_key}) == []
        # The other customer is untouched, everywhere.
        assert await find_personal_data(s, OTHER) != []
        for key in OTHER.attachment_keys:
            assert await pworld.store.exists(key)
        remaining = set(await s.scalars(select(Recording.id)))
        assert remaining == {held.id, *OTHER.recording_ids}  # the subject's other one is gone
        tickets_after = await s.scalar(select(func.count()).select_from(Ticket))
        if mode == "anonymise":  # statistics survive
            assert tickets_after == tickets_before
            texts = set(
                await s.scalars(
                    select(TicketMessage.text).where(
                        TicketMessage.ticket_id.in_(SUBJECT.ticket_ids)
                    )
                )
            )
            assert texts == {ERASED_TEXT}
        else:
            assert tickets_after == tickets_before - len(SUBJECT.ticket_ids) == 2
        request = await s.get(PrivacyRequest, pworld.request_id, populate_existing=True)
        assert request is not None and request.contact_id is None
        assert request.status == RequestStatus.VERIFIED  # closing stays the officer's call
        erasure = await s.scalar(select(AuditEvent).where(AuditEvent.action == "privacy.erasure"))
        assert erasure is not None and erasure.details["status"] == "waiting"
        kept = [i for i in erasure.details["items"] if i["outcome"] == "kept"]
        assert [(i["type"], i["id"]) for i in kept] == [("recording", held.id)]


async def test_ticket_of_held_evidence_is_kept_with_its_ground(pworld: PrivacyWorld) -> None:
    async with pworld.sessions() as s:
        held = await s.get(Recording, pworld.held_recording_id)
        assert held is not None
        held.ticket_id = SUBJECT.ticket_ids[0]  # the call was about this ticket
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        await s.commit()
        result = await erase_contact(
            pworld.privacy,
            pworld.recordings,
            s,
            SUBJECT.contact_id,
            actor=STAFF,
            request_id=pworld.request_id,
        )
        await s.commit()
        assert ("ticket", SUBJECT.ticket_ids[0]) in [(k.kind, k.id) for k in result.kept]
        assert "Bewaard / kept" in result.summary()
        kept_texts = list(
            await s.scalars(
                select(TicketMessage.text).where(TicketMessage.ticket_id == SUBJECT.ticket_ids[0])
            )
        )
        assert ERASED_TEXT not in kept_texts
        form_texts = list(
            await s.scalars(
                select(TicketMessage.text).where(TicketMessage.ticket_id == SUBJECT.ticket_ids[1])
            )
        )
        assert form_texts == [ERASED_TEXT]


async def test_erasure_removes_only_the_subjects_pending_bot_updates(
    pworld: PrivacyWorld,
) -> None:
    """Pending inbox updates naming the subject go; another user whose Telegram id merely
    starts with the same digits keeps theirs."""
    from storage.models import BotUpdate

    now = pworld.clock.now()
    lookalike = int(f"{SUBJECT.telegram_id}7")

    def update(update_id: int, user_id: int) -> BotUpdate:
        payload = {"update_id": update_id, "message": {"from": {"id": user_id}, "text": "x"}}
        return BotUpdate(
            update_id=update_id,
            payload=json.dumps(payload, separators=(",", ":")),
            received_at=now,
            next_attempt_at=now,
            attempts=1,
        )

    async with pworld.sessions() as s:
        s.add_all([update(901, SUBJECT.telegram_id), update(902, lookalike)])
        await s.commit()
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        await erase_contact(
            pworld.privacy, pworld.recordings, s, SUBJECT.contact_id, actor=STAFF,
            request_id=pworld.request_id,
        )  # fmt: skip
        await s.commit()
        left = set(await s.scalars(select(BotUpdate.update_id)))
    assert 901 not in left and 902 in left


async def _form(s, pworld: PrivacyWorld, email: str, phone: str, message: str):  # type: ignore[no-untyped-def]
    """A submission through the real contact-form service (it opens a web-form ticket)."""
    service = ContactFormService(pworld.clock, TicketService(pworld.clock))
    data = {"name": "W. Zonderland", "email": email, "phone": phone, "message": message}
    return await service.submit(s, data, sender="1" * 64, language="nl")


@pytest.mark.parametrize(
    "typed", ["06-1234 5678", "0031 6 1234 5678", "+31 (0)6 12345678", "(06) 12 34 56 78"]
)
async def test_contact_form_with_the_phone_typed_otherwise_is_exported_and_erased(
    pworld: PrivacyWorld, typed: str
) -> None:
    """The subject's phone is "+31 6 1234 5678"; a form from another e-mail address with the
    same number typed otherwise is theirs, a form with another number is not."""
    async with pworld.sessions() as s:
        mine = await _form(s, pworld, "wz@elders.example", typed, "Bel mij terug, W.")
        other = await _form(s, pworld, "iemand@anders.example", "06-1234 5679", "Niet van haar")
        await s.commit()
    zf = await _zip(pworld)
    forms = {f["id"]: f for f in json.loads(zf.read("contact_form.json"))}
    assert mine.submission_id in forms and other.submission_id not in forms
    assert forms[mine.submission_id]["phone"] == typed
    assert mine.ticket_id in [t["id"] for t in json.loads(zf.read("tickets.json"))]
    assert "Bel mij terug, W." in [m["text"] for m in json.loads(zf.read("messages.json"))]
    assert b"wz@elders.example" in zf.read("contact_form.csv")
    assert b"iemand@anders.example" not in b"".join(zf.read(n) for n in zf.namelist())

    async with pworld.sessions() as s:
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        result = await erase_contact(
            pworld.privacy, pworld.recordings, s, SUBJECT.contact_id, actor=STAFF,
            request_id=pworld.request_id,
        )  # fmt: skip
        await s.commit()
        forms = [i for i in result.items if i.type == "contact_form"]
        assert len(forms) == 2 and {i.outcome for i in forms} == {"erased"}
        assert await s.get(ContactFormSubmission, mine.submission_id) is None
        assert await s.get(ContactFormSubmission, other.submission_id) is not None
        texts = await s.scalars(
            select(TicketMessage.text).where(TicketMessage.ticket_id == mine.ticket_id)
        )
        assert set(texts) == {ERASED_TEXT}
        kept = await s.scalars(
            select(TicketMessage.text).where(TicketMessage.ticket_id == other.ticket_id)
        )
        assert list(kept) == ["Niet van haar"]
        if s.get_bind().dialect.name == "sqlite":  # PostgreSQL searches the table itself

            async def hits(term: str) -> list[int]:
                query = "SELECT rowid FROM contact_form_search WHERE contact_form_search MATCH :q"
                return list(await s.scalars(text(query), {"q": f'"{term}"'}))

            assert await hits("elders.example") == []
            assert await hits("anders.example") == [other.submission_id]


async def test_export_csv_cells_cannot_run_as_spreadsheet_formulas(pworld: PrivacyWorld) -> None:
    name = '=HYPERLINK("http://evil.example","klik")'
    async with pworld.sessions() as s:
        contact = await s.get(ContactPerson, SUBJECT.contact_id)
        assert contact is not None
        contact.name = name
        await _form(s, pworld, "wz@elders.example", SUBJECT.phone, "-1 of @ of \t=1+1")
        await s.commit()
    zf = await _zip(pworld)
    [row] = csv.DictReader(io.StringIO(zf.read("contact.csv").decode()))
    assert row["name"] == "'" + name
    assert row["phone"] == "'" + SUBJECT.phone  # "+31 ...": a formula to a spreadsheet
    assert row["telegram_user_id"] == str(SUBJECT.telegram_id)  # numbers stay numbers
    assert json.loads(zf.read("contact.json"))[0]["name"] == name  # JSON stays exact
    forms = list(csv.DictReader(io.StringIO(zf.read("contact_form.csv").decode())))
    assert "'-1 of @ of \t=1+1" in [f["message"] for f in forms]
    for member in (n for n in zf.namelist() if n.endswith(".csv")):
        for cells in csv.reader(io.StringIO(zf.read(member).decode())):
            assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], member
