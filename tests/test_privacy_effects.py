"""Effects of restriction, consent withdrawal and objection (GDPR art. 18, 7(3), 21): the
delivery worker sends nothing to a restricted contact, and the calls of any of them leave
the training library, until lifted."""

from __future__ import annotations

import pytest
from recording_audio_helpers import make_audio
from sqlalchemy import select

from bot.outbox import deliver_pending
from recordings.queries import training_library
from recordings.service import IngestMetadata
from storage.models import AuditEvent, DeliveryState, HoldKind, Recording, ReplyChunk, TicketMessage
from storage.services.privacy import excluded_callers, excluded_recordings
from storage.services.privacy_erasure import erase_contact
from tests.privacy_fixtures import (
    NOW,
    OTHER,
    STAFF,
    SUBJECT,
    PrivacyWorld,
    open_request,
    pworld,
)
from tests.telegram_fake import make_bot

pytestmark = pytest.mark.storage
FLAG_KINDS = {"objected": "objection", "consent_withdrawn": "consent_withdrawal"}
__all__ = ["pworld"]


async def _reply_state(world: PrivacyWorld, ticket_id: int) -> DeliveryState:
    async with world.sessions() as s:
        state = await s.scalar(
            select(TicketMessage.delivery_state).where(
                TicketMessage.ticket_id == ticket_id, TicketMessage.direction == "out"
            )
        )
        assert state is not None
        return state


async def test_restricted_contact_gets_no_messages(pworld: PrivacyWorld) -> None:
    restriction = await open_request(pworld, "restriction")
    async with pworld.sessions() as s:
        flags = await pworld.privacy.set_flag(s, restriction, "restricted", True, actor=STAFF)
        await s.commit()
    assert flags.restricted
    bot, api = make_bot()
    await deliver_pending(bot, pworld.sessions, pworld.clock, limit=10)
    assert [c.chat_id for c in api.calls("sendMessage")] == [OTHER.telegram_id]  # type: ignore[attr-defined]
    assert await _reply_state(pworld, SUBJECT.ticket_ids[0]) == DeliveryState.UNDELIVERABLE
    assert await _reply_state(pworld, OTHER.ticket_ids[0]) == DeliveryState.SENT
    async with pworld.sessions() as s:
        request = await pworld.privacy.get(s, restriction)
        assert [e.action for e in request.events][-1] == "restricted_on"


async def test_restricted_callers_leave_the_training_library(pworld: PrivacyWorld) -> None:
    restriction = await open_request(pworld, "restriction")
    async with pworld.sessions() as s:
        for recording_id in (SUBJECT.recording_ids[0], OTHER.recording_ids[0]):
            await pworld.recordings.place_hold(
                s, recording_id, kind=HoldKind.TRAINING, reason="goed voorbeeld", actor=STAFF
            )
        await s.commit()
        both = {r.id for r in await training_library(s)}
        assert both == {SUBJECT.recording_ids[0], OTHER.recording_ids[0]}
        await pworld.privacy.set_flag(s, restriction, "restricted", True, actor=STAFF)
        await s.commit()
        assert {r.id for r in await training_library(s)} == {OTHER.recording_ids[0]}
        assert "+31612345678" in await excluded_callers(s)  # SUBJECT.phone in E.164
        await pworld.privacy.set_flag(s, restriction, "restricted", False, actor=STAFF)
        await s.commit()
        assert {r.id for r in await training_library(s)} == both


async def _call_from_another_line(world: PrivacyWorld, s, tmp_path) -> int:  # type: ignore[no-untyped-def]
    """A call about the subject's ticket from a colleague's line: the subject index finds
    it by the ticket, not by any number of the subject."""
    made = await world.recordings.ingest(
        s,
        make_audio(tmp_path, "wav_mulaw", frequency=990),
        IngestMetadata(
            started_at=NOW, caller="0201112222", agent="bob", ticket_id=SUBJECT.ticket_ids[0]
        ),
        STAFF,
    )
    await world.recordings.place_hold(
        s, made.recording.id, kind=HoldKind.TRAINING, reason="goed voorbeeld", actor=STAFF
    )
    return made.recording.id


async def test_restriction_finds_their_calls_through_the_subject_index(
    pworld: PrivacyWorld, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    restriction = await open_request(pworld, "restriction")
    async with pworld.sessions() as s:
        other_line = await _call_from_another_line(pworld, s, tmp_path)
        await s.commit()
        assert other_line in {r.id for r in await training_library(s)}
        await pworld.privacy.set_flag(s, restriction, "restricted", True, actor=STAFF)
        await s.commit()
        assert other_line not in {r.id for r in await training_library(s)}
        assert other_line in await excluded_recordings(s)


@pytest.mark.parametrize("flag", ["objected", "consent_withdrawn"])
async def test_objection_or_withdrawal_deletes_their_recordings_training_yields(
    pworld: PrivacyWorld, tmp_path, flag: str
) -> None:  # type: ignore[no-untyped-def]
    trained, evidence = SUBJECT.recording_ids[0], pworld.held_recording_id
    request_id = await open_request(pworld, FLAG_KINDS[flag])
    async with pworld.sessions() as s:
        await pworld.recordings.place_hold(
            s, trained, kind=HoldKind.TRAINING, reason="goed voorbeeld", actor=STAFF
        )
        other_line = await _call_from_another_line(pworld, s, tmp_path)
        await s.commit()
        with pytest.raises(ValueError):  # the vault must be passed: it does the deleting
            await pworld.privacy.set_flag(s, request_id, flag, True, actor=STAFF)
        await s.rollback()
        await pworld.privacy.set_flag(
            s, request_id, flag, True, actor=STAFF, recordings=pworld.recordings
        )
        await s.commit()
        assert await s.get(Recording, trained) is None
        assert await s.get(Recording, other_line) is None  # found by its ticket
        assert await s.get(Recording, evidence) is not None  # evidence keeps it
        assert await s.get(Recording, OTHER.recording_ids[0]) is not None
        released = list(
            await s.scalars(
                select(AuditEvent).where(AuditEvent.action == "privacy.recordings.hold_released")
            )
        )
        assert {e.details["recording_id"] for e in released} == {trained, other_line}
        assert {e.subject_id for e in released} == {str(request_id)}
        deletes = select(AuditEvent).where(AuditEvent.action == "recording.delete")
        reasons = [e.details["reason"] for e in await s.scalars(deletes)]
        assert len(reasons) == 2
        assert all(f"privacy request {request_id}" in r for r in reasons)
        request = await pworld.privacy.get(s, request_id)
        assert "recordings_deleted" in [e.action for e in request.events]


async def test_erasure_forgets_the_chat_messages_of_sent_replies(pworld: PrivacyWorld) -> None:
    """The Telegram message ids of each reply chunk (kept for reply edits) go with erasure."""

    async def tickets_with_chunks() -> set[int]:
        async with pworld.sessions() as s:
            return set(
                await s.scalars(
                    select(TicketMessage.ticket_id).join(
                        ReplyChunk, ReplyChunk.message_id == TicketMessage.id
                    )
                )
            )

    bot, _ = make_bot()
    await deliver_pending(bot, pworld.sessions, pworld.clock, limit=10)
    before = await tickets_with_chunks()
    assert before & set(SUBJECT.ticket_ids) and before & set(OTHER.ticket_ids)
    async with pworld.sessions() as s:
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        await erase_contact(
            pworld.privacy, pworld.recordings, s, SUBJECT.contact_id, actor=STAFF,
            request_id=pworld.request_id,
        )  # fmt: skip
        await s.commit()
    assert await tickets_with_chunks() == before - set(SUBJECT.ticket_ids)
