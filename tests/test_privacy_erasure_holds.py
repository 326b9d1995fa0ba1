"""Erasure that always finishes: a training hold yields (released with the request as its
reason, the recording deleted through the vault); an evidence hold keeps the recording
and its ticket with the ground, the request waits, and once the hold is released a re-run
completes it although the contact row is long gone. A recording made from another line
but linked to the subject's ticket is part of the export and of the erasure."""

from __future__ import annotations

import json
import zipfile

import pytest
from recording_audio_helpers import make_audio
from sqlalchemy import select

from recordings.service import IngestMetadata
from storage.models import (
    AuditEvent,
    ErasureItem,
    ErasureRun,
    HoldKind,
    OutboxMessage,
    PrivacyRequest,
    Recording,
    RecordingHold,
    RequestStatus,
    StaffRole,
)
from storage.services.outbox import enqueue
from storage.services.privacy_erasure import erase_request
from storage.services.privacy_export import export_contact
from tests.privacy_fixtures import STAFF, SUBJECT, PrivacyWorld, find_personal_data, pworld

pytestmark = pytest.mark.storage
__all__ = ["pworld"]


async def test_training_yields_evidence_waits_and_the_rerun_completes(
    pworld: PrivacyWorld, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    trained, evidence = SUBJECT.recording_ids[0], pworld.held_recording_id
    async with pworld.sessions() as s:
        await pworld.recordings.place_hold(
            s, trained, kind=HoldKind.TRAINING, reason="goed voorbeeld", actor=STAFF
        )
        # A call about the subject's ticket from another line (a colleague's phone).
        other_line = await pworld.recordings.ingest(
            s,
            make_audio(tmp_path, "wav_mulaw", frequency=880),
            IngestMetadata(started_at=pworld.clock.now(), caller="0201112222", agent="bob"),
            STAFF,
        )
        other_line.recording.ticket_id = SUBJECT.ticket_ids[0]
        other_line_id = other_line.recording.id
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        await s.commit()
        document = await export_contact(pworld.privacy, s, SUBJECT.contact_id, actor=STAFF)
        await s.commit()
        body = await (await pworld.store.get(document.object_key)).read_all()
    (tmp_path / "export.zip").write_bytes(body)
    zf = zipfile.ZipFile(tmp_path / "export.zip")
    exported = {r["id"] for r in json.loads(zf.read("recordings.json"))}
    assert other_line_id in exported and trained in exported
    assert f"recordings/{other_line_id}.ogg" in zf.namelist()
    holds = json.loads(zf.read("recording_holds.json"))
    assert {h["kind"] for h in holds} == {"training", "evidence"}
    assert "0201112222" not in zf.read("recordings.json").decode()  # another line: redacted

    async with pworld.sessions() as s:
        first = await erase_request(
            pworld.privacy, pworld.recordings, s, pworld.request_id, actor=STAFF
        )
        await s.commit()
        assert first.status == "waiting"
        outcomes = {(i.type, i.id): (i.outcome, i.ground) for i in first.items}
        assert outcomes[("recording", trained)] == ("erased", "")
        assert outcomes[("recording", other_line_id)] == ("erased", "")
        assert outcomes[("recording", evidence)][0] == "kept"
        assert "GDPR art. 17(3)(e)" in outcomes[("recording", evidence)][1]
        assert await s.get(Recording, trained) is None
        released = await s.scalar(
            select(AuditEvent).where(AuditEvent.action == "privacy.erasure.hold_released")
        )
        assert released is not None and released.details["recording_id"] == trained
        request = await s.get(PrivacyRequest, pworld.request_id, populate_existing=True)
        assert request is not None and request.status == RequestStatus.VERIFIED  # open
        assert request.contact_id is None  # the contact row is gone
        left = (await s.execute(select(ErasureItem.item_type, ErasureItem.item_id))).all()
        assert [tuple(row) for row in left] == [("recording", evidence)]

        hold = await s.scalar(select(RecordingHold).where(RecordingHold.recording_id == evidence))
        assert hold is not None
        await pworld.recordings.release_hold(
            s, evidence, hold.id, reason="geschil geschikt", actor=STAFF,
            role=StaffRole.PRIVACY_OFFICER,
        )  # fmt: skip
        await s.commit()

        second = await erase_request(
            pworld.privacy, pworld.recordings, s, pworld.request_id, actor=STAFF
        )
        await s.commit()
        assert second.status == "completed" and not second.kept
        finished = [(i.type, i.id, i.outcome) for i in second.items]
        assert ("recording", evidence, "erased") in finished
        request = await s.get(PrivacyRequest, pworld.request_id, populate_existing=True)
        assert request is not None and request.status == RequestStatus.DONE
        assert await s.get(ErasureRun, pworld.request_id) is None  # the snapshot is gone
        assert await find_personal_data(s, SUBJECT) == []


async def test_erasure_removes_what_the_bot_was_still_to_say(pworld: PrivacyWorld) -> None:
    """An answer waiting in the bot outbox for the subject's chat (their name in it) goes
    with the erasure: nothing more is said to an erased subject, nothing of them is kept."""
    async with pworld.sessions() as s:
        enqueue(
            s,
            SUBJECT.telegram_id,
            "sendMessage",
            json.dumps({"text": f"Dag {SUBJECT.name}, uw ticket is bijgewerkt."}),
            pworld.clock.now(),
        )
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        await s.commit()
    async with pworld.sessions() as s:
        result = await erase_request(
            pworld.privacy, pworld.recordings, s, pworld.request_id, actor=STAFF
        )
        await s.commit()
    assert any(i.type == "outbox" and i.outcome == "erased" for i in result.items)
    async with pworld.sessions() as s:
        left = await s.scalars(
            select(OutboxMessage).where(OutboxMessage.chat_id == SUBJECT.telegram_id)
        )
        assert list(left) == []
