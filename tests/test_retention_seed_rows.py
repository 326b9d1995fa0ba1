"""The privacy statement's rows this desk enforces, travelled through time: each one's data
at one second before and one second after its period, the sweeper run, what is left
checked. Billing name and delivery address (end of service), the contact form's copy in its
ticket (one year; the question stays three), training holds (end on their review date
unless renewed; evidence holds never) and a ticket kept only by a training hold (its own
three years). SQLite or PostgreSQL (SUPPORTDESK_TEST_DATABASE_URL); S3 is moto's server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from retention_helpers import ACTOR, SECOND, T0, closed_ticket, recording, sweeper, ticket_exists
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.archive import configure_lifecycle
from recordings.service import REVIEW_PASSED, RecordingService
from storage.clock import FrozenClock
from storage.models import (
    AuditEvent,
    ContactFormSubmission,
    HoldKind,
    Organisation,
    Recording,
    RecordingHold,
    ServiceStatus,
    StaffRole,
    Ticket,
    TicketMessage,
)
from storage.objectstore import S3ObjectStore
from storage.retention.holds import due_for_review
from storage.retention.rules import RULES, STATEMENT
from storage.services.contact_form import ContactFormService, form_subject
from storage.services.customers import CustomerService
from storage.services.errors import Forbidden, InvalidInput
from storage.services.tickets import TicketService

pytestmark = pytest.mark.storage

Sessions = async_sessionmaker[AsyncSession]
# Calendar periods from T0 (2026-01-10 09:30 UTC).
YEAR_1 = datetime(2027, 1, 10, 9, 30, tzinfo=UTC)
YEARS_3 = datetime(2029, 1, 10, 9, 30, tzinfo=UTC)


@pytest.fixture
async def store(s3_endpoint: str, s3_bucket: str) -> AsyncIterator[S3ObjectStore]:
    instance = S3ObjectStore(s3_endpoint, "test", "testtest", s3_bucket)
    await configure_lifecycle(instance)
    try:
        yield instance
    finally:
        await instance.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


async def _sweep(sessions: Sessions, store: S3ObjectStore, clock: FrozenClock, moment: datetime):
    clock.set(moment)
    result = await sweeper(sessions, store, clock).run()
    assert result.failed == 0, result.rules
    return result


def test_every_statement_row_is_enforced_here_or_says_why_not() -> None:
    keys = {rule.key for rule in RULES}
    assert len(STATEMENT) == 14  # the statement's table, row by row
    for row in STATEMENT:
        assert set(row.rules) <= keys, row.key
        assert row.where.nl and row.where.en
        if row.rules:
            assert "storage/retention/jobs.py" in row.where.en, row.key
        else:
            assert "Niet opgeslagen" in row.where.nl or "Geen" in row.where.nl, row.key
    enforced = {row.key for row in STATEMENT if row.rules}
    assert enforced == {
        "contact_person",
        "delivery_address",
        "billing_name",
        "support_information",
        "call_recordings",
        "contact_form",
    }


async def test_billing_name_and_delivery_address_go_at_the_end_of_service(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    customers = CustomerService(clock)
    async with session_factory() as s:
        ended = await customers.create_organisation(
            s,
            {"name": "Bakkerij Noord BV", "customer_number": "C-1", "delivery_address": "Kade 1"},
            actor=ACTOR,
        )
        active = await customers.create_organisation(
            s,
            {"name": "Slagerij Zuid", "customer_number": "C-2", "delivery_address": "Markt 2"},
            actor=ACTOR,
        )
        await customers.update_organisation(
            s, ended.id, {"service_status": "ended", "service_end_date": "2026-03-01"}, actor=ACTOR
        )
        ended_id, active_id = ended.id, active.id
        await s.commit()
    end = datetime(2026, 3, 1, tzinfo=UTC)  # the end date's start (UTC), as for contacts

    await _sweep(session_factory, store, clock, end - SECOND)
    async with session_factory() as s:
        org = await s.get(Organisation, ended_id)
        assert org is not None and org.name == "Bakkerij Noord BV"
        assert org.delivery_address == "Kade 1" and org.service_data_removed_at is None

    result = await _sweep(session_factory, store, clock, end + SECOND)
    assert result.rules["organisation_service_data"].deleted == 1
    async with session_factory() as s:
        org = await s.get(Organisation, ended_id)
        assert org is not None and org.name == "" and org.delivery_address is None
        assert org.service_data_removed_at == end + SECOND
        assert org.customer_number == "C-1" and org.service_status == ServiceStatus.ENDED
        other = await s.get(Organisation, active_id)
        assert other is not None and other.name == "Slagerij Zuid"
        assert other.delivery_address == "Markt 2"
        event = await s.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "retention.purge", AuditEvent.subject_type == "organisation"
            )
        )
        assert event is not None and event.details["organisation_ids"] == [ended_id]
    again = await _sweep(session_factory, store, clock, end + timedelta(days=1))
    assert again.rules["organisation_service_data"].deleted == 0  # stamped: passed over


async def test_contact_form_copy_leaves_the_ticket_after_a_year_the_question_stays(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    forms = ContactFormService(clock, TicketService(clock))
    data = {
        "company": "Bakkerij Noord BV",
        "name": "Wil Zonderland",
        "email": "wil@zonderland.example",
        "phone": "06 1234 5678",
        "message": "Onze VoIP-lijn valt steeds weg",
    }
    async with session_factory() as s:
        receipt = await forms.submit(s, data, sender="ip-hash", language="nl")
        plain = await forms.submit(s, {**data, "company": ""}, sender="ip-hash", language="nl")
        await s.commit()
    ticket_id = receipt.ticket_id
    async with session_factory() as s:
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.subject == "Onze VoIP-lijn valt steeds weg"
        # Form tickets used to be titled by the company: one made before keeps that title
        # until the sweep takes the company out.
        ticket.subject = form_subject("Bakkerij Noord BV")
        await s.commit()

    await _sweep(session_factory, store, clock, YEAR_1 - SECOND)
    async with session_factory() as s:
        assert await s.get(ContactFormSubmission, receipt.submission_id) is not None
        ticket = await s.get(Ticket, ticket_id, populate_existing=True)
        assert ticket is not None and "Bakkerij Noord BV" in ticket.subject

    result = await _sweep(session_factory, store, clock, YEAR_1 + SECOND)
    assert result.rules["contact_form"].deleted == 2
    async with session_factory() as s:
        assert await s.get(ContactFormSubmission, receipt.submission_id) is None
        ticket = await s.get(Ticket, ticket_id, populate_existing=True)
        assert ticket is not None and ticket.subject == "Contactformulier"
        texts = list(
            await s.scalars(select(TicketMessage.text).where(TicketMessage.ticket_id == ticket_id))
        )
        assert texts == ["Onze VoIP-lijn valt steeds weg"]  # the question: support information
        for needle in ("Bakkerij", "Zonderland", "zonderland.example", "612345678"):
            found = await s.scalar(
                select(Ticket.id).where(Ticket.subject.contains(needle)).limit(1)
            )
            assert found is None, needle
        assert await ticket_exists(s, plain.ticket_id)
        untitled = await s.get(Ticket, plain.ticket_id)
        assert untitled is not None and untitled.subject == "Onze VoIP-lijn valt steeds weg"


async def test_an_agents_own_subject_is_left_alone(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    forms = ContactFormService(clock, TicketService(clock))
    data = {"company": "Noord", "name": "Wil", "email": "wil@x.example", "message": "Vraag"}
    async with session_factory() as s:
        receipt = await forms.submit(s, data, sender="ip-hash", language="nl")
        ticket = await s.get(Ticket, receipt.ticket_id)
        assert ticket is not None
        ticket.subject = "Storing VoIP-lijn"
        await s.commit()
    await _sweep(session_factory, store, clock, YEAR_1 + SECOND)
    async with session_factory() as s:
        ticket = await s.get(Ticket, receipt.ticket_id, populate_existing=True)
        assert ticket is not None and ticket.subject == "Storing VoIP-lijn"


async def _training_hold(
    sessions: Sessions, store: S3ObjectStore, clock: FrozenClock, review_at: datetime
) -> tuple[int, int]:
    async with sessions() as s:
        rec = await recording(s, store, T0)
        rec_id = rec.id
        await s.commit()
    async with sessions() as s:
        placed = await RecordingService(clock, store).place_hold(
            s, rec_id, kind=HoldKind.TRAINING, reason="goed voorbeeld", actor=ACTOR,
            review_at=review_at,
        )  # fmt: skip
        hold_id = placed.id
        await s.commit()
    return rec_id, hold_id


async def test_training_hold_ends_on_its_review_date_and_the_recording_goes(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    review = YEAR_1  # exactly 12 months ahead: the longest allowed
    rec_id, hold_id = await _training_hold(session_factory, store, clock, review)
    async with session_factory() as s:
        key = (await s.get(Recording, rec_id)).object_key  # type: ignore[union-attr]

    result = await _sweep(session_factory, store, clock, review - SECOND)
    assert result.rules["training_holds"].deleted == 0
    assert result.rules["recordings"].kept_held == 1
    async with session_factory() as s:
        hold = await s.get(RecordingHold, hold_id)
        assert hold is not None and hold.released_at is None
    assert await store.exists(key)

    result = await _sweep(session_factory, store, clock, review + SECOND)
    assert result.rules["training_holds"].deleted_by == {"review_passed": 1}
    assert result.rules["recordings"].deleted == 1  # its 90 days were long over
    async with session_factory() as s:
        assert await s.get(Recording, rec_id) is None
    assert not await store.exists(key)


async def test_training_hold_release_is_audited_review_date_passed(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    """On a recording still inside its 90 days the release is visible: the hold row and
    its audit event say "review date passed"; the recording stays until its own date."""
    clock.set(T0 + timedelta(days=10))
    rec_id, hold_id = await _training_hold(session_factory, store, clock, T0 + timedelta(days=30))
    await _sweep(session_factory, store, clock, T0 + timedelta(days=30) - SECOND)
    async with session_factory() as s:
        assert (await s.get(RecordingHold, hold_id)).released_at is None  # type: ignore[union-attr]
    await _sweep(session_factory, store, clock, T0 + timedelta(days=30) + SECOND)
    async with session_factory() as s:
        hold = await s.get(RecordingHold, hold_id)
        assert hold is not None and hold.release_reason == REVIEW_PASSED
        assert hold.released_at == T0 + timedelta(days=30) + SECOND
        event = await s.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "recording.release", AuditEvent.subject_id == str(rec_id)
            )
        )
        assert event is not None and event.details["reason"] == REVIEW_PASSED
        assert event.details["hold_id"] == hold_id
        assert await s.get(Recording, rec_id) is not None  # 90 days not over yet


async def test_renewing_moves_the_end_and_is_audited(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    first = T0 + timedelta(days=30)
    rec_id, hold_id = await _training_hold(session_factory, store, clock, first)
    service = RecordingService(clock, store)
    clock.set(first - timedelta(days=1))
    async with session_factory() as s:
        with pytest.raises(InvalidInput) as too_far:
            await service.renew_hold(
                s, rec_id, hold_id, review_at=clock.now() + timedelta(days=366),
                actor=ACTOR, role=StaffRole.AGENT,
            )  # fmt: skip
        assert "12 maanden" in too_far.value.text("nl")
        with pytest.raises(Forbidden):
            await service.renew_hold(
                s, rec_id, hold_id, review_at=first + timedelta(days=60),
                actor=ACTOR, role=StaffRole.TRAINER,
            )  # fmt: skip
        renewed = await service.renew_hold(
            s, rec_id, hold_id, review_at=first + timedelta(days=60),
            actor=ACTOR, role=StaffRole.AGENT,
        )  # fmt: skip
        assert renewed.review_at == first + timedelta(days=60)
        await s.commit()
    await _sweep(session_factory, store, clock, first + SECOND)
    async with session_factory() as s:
        hold = await s.get(RecordingHold, hold_id)
        assert hold is not None and hold.released_at is None
        event = await s.scalar(
            select(AuditEvent).where(AuditEvent.action == "recording.hold_renewed")
        )
        assert event is not None and event.details["previous_review_at"] == first.isoformat()
    await _sweep(session_factory, store, clock, first + timedelta(days=60) + SECOND)
    async with session_factory() as s:
        assert await s.get(Recording, rec_id) is None  # released, then past its 90 days


async def test_hold_review_dates_are_bounded(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    service = RecordingService(clock, store)
    async with session_factory() as s:
        rec_id = (await recording(s, store, T0)).id
        await s.commit()
        with pytest.raises(InvalidInput) as refused:
            await service.place_hold(
                s, rec_id, kind=HoldKind.TRAINING, reason="x", actor=ACTOR,
                review_at=YEAR_1 + SECOND,
            )  # fmt: skip
        assert "12 months" in refused.value.message and "12 maanden" in refused.value.text("nl")
        await s.rollback()
        with pytest.raises(InvalidInput):
            await service.place_hold(
                s, rec_id, kind=HoldKind.EVIDENCE, reason="x", actor=ACTOR, review_at=T0
            )
        await s.rollback()
        default = await service.place_hold(
            s, rec_id, kind=HoldKind.TRAINING, reason="x", actor=ACTOR
        )
        assert default.review_at <= YEAR_1
        evidence = await service.place_hold(
            s, rec_id, kind=HoldKind.EVIDENCE, reason="geschil", actor=ACTOR,
            review_at=T0 + timedelta(days=900),
        )  # fmt: skip
        assert evidence.review_at == T0 + timedelta(days=900)
        await s.commit()


async def test_evidence_hold_is_never_released_and_stays_on_review(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    async with session_factory() as s:
        rec = await recording(s, store, T0)
        rec_id = rec.id
        hold = await RecordingService(clock, store).place_hold(
            s, rec_id, kind=HoldKind.EVIDENCE, reason="geschil", actor=ACTOR,
            review_at=T0 + timedelta(days=30),
        )  # fmt: skip
        hold_id = hold.id
        await s.commit()
    async with session_factory() as s:
        assert await due_for_review(s, T0 + timedelta(days=30) - SECOND) == []
    result = await _sweep(session_factory, store, clock, T0 + timedelta(days=400))
    assert result.rules["training_holds"].deleted == 0
    async with session_factory() as s:
        hold = await s.get(RecordingHold, hold_id)
        assert hold is not None and hold.released_at is None
        assert await s.get(Recording, rec_id) is not None
        due = await due_for_review(s, T0 + timedelta(days=30) + SECOND)
        assert [h.hold_id for h in due] == [hold_id]


async def test_ticket_kept_only_by_a_training_hold_follows_its_three_years(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    async with session_factory() as s:
        ticket_id = await closed_ticket(s, store, clock, attachment=False)
        rec = await recording(s, store, T0, ticket_id=ticket_id)
        rec_id = rec.id
        await s.commit()
    service = RecordingService(clock, store)
    async with session_factory() as s:
        placed = await service.place_hold(
            s, rec_id, kind=HoldKind.TRAINING, reason="voorbeeld", actor=ACTOR
        )
        hold_id = placed.id
        await s.commit()
    # Renewed each year, so the training hold is active when the ticket's 3 years end.
    for year in (2027, 2028):
        clock.set(datetime(year, 1, 1, tzinfo=UTC))
        async with session_factory() as s:
            await service.renew_hold(
                s, rec_id, hold_id, review_at=datetime(year + 1, 1, 1, tzinfo=UTC),
                actor=ACTOR, role=StaffRole.AGENT,
            )  # fmt: skip
            await s.commit()
    clock.set(datetime(2029, 1, 1, tzinfo=UTC))
    async with session_factory() as s:
        await service.renew_hold(
            s, rec_id, hold_id, review_at=datetime(2029, 6, 1, tzinfo=UTC),
            actor=ACTOR, role=StaffRole.AGENT,
        )  # fmt: skip
        await s.commit()

    await _sweep(session_factory, store, clock, YEARS_3 - SECOND)
    async with session_factory() as s:
        assert await ticket_exists(s, ticket_id)
    result = await _sweep(session_factory, store, clock, YEARS_3 + SECOND)
    assert result.rules["support_information"].kept_held == 0
    async with session_factory() as s:
        assert not await ticket_exists(s, ticket_id)
        kept = await s.get(Recording, rec_id, populate_existing=True)
        assert kept is not None and kept.ticket_id is None  # the held recording stays


async def test_service_end_date_in_the_organisation_rule_is_a_day(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    """An ended service without a date counts as ended now (as for contact persons)."""
    async with session_factory() as s:
        org = Organisation(
            name="Zonder Datum",
            customer_number="C-9",
            service_status=ServiceStatus.ENDED,
            service_end_date=None,
            delivery_address="Dorp 9",
            created_at=T0,
            updated_at=T0,
        )
        s.add(org)
        await s.commit()
        org_id = org.id
    await _sweep(session_factory, store, clock, T0 + SECOND)
    async with session_factory() as s:
        row = await s.get(Organisation, org_id)
        assert row is not None and row.name == "" and row.delivery_address is None
