"""Effects of restriction, consent withdrawal and objection (GDPR art. 18, 7(3), 21): the
delivery worker sends nothing to a restricted contact, and the calls of any of them leave
the training library, until lifted."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.outbox import deliver_pending
from recordings.queries import training_library
from storage.models import DeliveryState, HoldKind, ReplyChunk, TicketMessage
from storage.services.privacy import excluded_callers
from storage.services.privacy_erasure import erase_contact
from tests.privacy_fixtures import OTHER, STAFF, SUBJECT, PrivacyWorld, pworld
from tests.telegram_fake import make_bot

pytestmark = pytest.mark.storage
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
    async with pworld.sessions() as s:
        flags = await pworld.privacy.set_flag(s, pworld.request_id, "restricted", True, actor=STAFF)
        await s.commit()
    assert flags.restricted
    bot, api = make_bot()
    await deliver_pending(bot, pworld.sessions, pworld.clock, limit=10)
    assert [c.chat_id for c in api.calls("sendMessage")] == [OTHER.telegram_id]  # type: ignore[attr-defined]
    assert await _reply_state(pworld, SUBJECT.ticket_ids[0]) == DeliveryState.UNDELIVERABLE
    assert await _reply_state(pworld, OTHER.ticket_ids[0]) == DeliveryState.SENT
    async with pworld.sessions() as s:
        request = await pworld.privacy.get(s, pworld.request_id)
        assert [e.action for e in request.events][-1] == "restricted_on"


async def test_restricted_withdrawn_or_objecting_callers_leave_the_training_library(
    pworld: PrivacyWorld,
) -> None:
    async with pworld.sessions() as s:
        for recording_id in (SUBJECT.recording_ids[0], OTHER.recording_ids[0]):
            await pworld.recordings.place_hold(
                s, recording_id, kind=HoldKind.TRAINING, reason="goed voorbeeld", actor=STAFF
            )
        await s.commit()
        both = {r.id for r in await training_library(s)}
        assert both == {SUBJECT.recording_ids[0], OTHER.recording_ids[0]}
        for flag in ("objected", "restricted", "consent_withdrawn"):
            await pworld.privacy.set_flag(s, pworld.request_id, flag, True, actor=STAFF)
            await s.commit()
            assert {r.id for r in await training_library(s)} == {OTHER.recording_ids[0]}
            assert "+31612345678" in await excluded_callers(s)  # SUBJECT.phone in E.164
            await pworld.privacy.set_flag(s, pworld.request_id, flag, False, actor=STAFF)
            await s.commit()
            assert {r.id for r in await training_library(s)} == both


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
