"""One test per retention rule: data created, the clock moved to one second before and one
second after the period, the sweeper run, what is left checked. S3 is moto's server
through the minio SDK; the database is SQLite or PostgreSQL (SUPPORTDESK_TEST_DATABASE_URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from retention_helpers import (
    ACTOR,
    SECOND,
    T0,
    closed_ticket,
    count,
    hold,
    recording,
    staff_user,
    sweeper,
    ticket_exists,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from unfiled_helpers import assert_filed_on_recent, two_tickets_and_a_waiting_message

from recordings.archive import configure_lifecycle
from recordings.service import RecordingService
from storage.clock import FrozenClock, SystemClock
from storage.models import (
    ApiToken,
    Attachment,
    AuditEvent,
    ContactFormSubmission,
    ContactPerson,
    LoginFailure,
    Organisation,
    PrivacyRequest,
    Recording,
    RecordingTombstone,
    RetentionRun,
    ServiceStatus,
    StaffSession,
    Ticket,
    TicketMessage,
    TicketPresence,
    TicketStatus,
    UnfiledMessage,
)
from storage.objectstore import S3ObjectStore
from storage.retention.jobs import (
    CLOSED,
    EXPIRED_TOKEN_GRACE,
    FILED,
    INACTIVE,
    OPEN_PRIVACY_REQUEST,
)
from storage.retention.rules import RULES, Months, UnknownRule, schedule
from storage.retention.sweeper import Sweeper
from storage.services import access, audit, purge
from storage.services.audit import Actor
from storage.services.desk import PresenceService
from storage.services.privacy import PrivacyService
from storage.services.tickets import TicketService

pytestmark = pytest.mark.storage

# Calendar years: 2026-01-10 + 3 years = 2029-01-10, 1096 days (2028 is a leap year).
YEARS_3 = datetime(2029, 1, 10, 9, 30, tzinfo=UTC) - T0


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


Sessions = async_sessionmaker[AsyncSession]


async def _sweep(sessions: Sessions, store: S3ObjectStore, clock: FrozenClock, moment: datetime):
    clock.set(moment)
    result = await sweeper(sessions, store, clock).run()
    assert result.failed == 0, result.rules
    return result


async def test_support_information_goes_three_years_after_closing(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    async with session_factory() as s:
        gone = [await closed_ticket(s, store, clock) for _ in range(3)]  # 3 > batch of 2
        clock.set(T0 + timedelta(days=1))  # an open ticket's period runs from its activity
        still_open = await closed_ticket(s, store, clock, close=False)
        clock.set(T0)
        evidence = await closed_ticket(s, store, clock, attachment=False)
        held = await recording(s, store, T0, ticket_id=evidence)
        held_id = held.id
        await s.commit()
    async with session_factory() as s:
        await hold(s, store, clock, held_id)
        keys = list(await s.scalars(select(Attachment.object_key)))
        await s.commit()
    assert len(keys) == 4

    await _sweep(session_factory, store, clock, T0 + YEARS_3 - SECOND)
    async with session_factory() as s:
        assert all([await ticket_exists(s, t) for t in gone])
        assert await count(s, Attachment) == 4
    assert all([await store.exists(k) for k in keys])

    result = await _sweep(session_factory, store, clock, T0 + YEARS_3 + SECOND)
    assert result.rules["support_information"].deleted == 3
    assert result.rules["support_information"].kept_held == 1
    async with session_factory() as s:
        assert not any([await ticket_exists(s, t) for t in gone])
        assert await ticket_exists(s, still_open) and await ticket_exists(s, evidence)
        assert await count(s, TicketMessage, TicketMessage.ticket_id.in_(gone)) == 0
        assert await count(s, Attachment) == 1
        deletes = await count(s, AuditEvent, AuditEvent.action == "ticket.delete")
        assert deletes == 3
        assert await s.get(Recording, held_id) is not None
    remaining = [k for k in keys if await store.exists(k)]
    assert remaining == [k for k in keys if k.startswith(f"attachments/{still_open}/")]


async def test_tickets_never_closed_go_three_years_after_their_last_activity(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    """A ticket left waiting for the customer holds support information too: not closed, its
    period runs from the last activity; a closed one's from the later of closing and its
    last activity (a note after closing, a reopen) - and the report says which was which."""
    later = T0 + timedelta(days=20)
    due_later = datetime(2029, 1, 30, 9, 30, tzinfo=UTC)  # later + 3 calendar years
    tickets = TicketService(clock)
    async with session_factory() as s:
        agent = await staff_user(s)
        closed = await closed_ticket(s, store, clock, attachment=False)
        abandoned = await closed_ticket(s, store, clock, close=False)
        await tickets.add_agent_reply(s, abandoned, staff=agent, text="Werkt het nu?")
        fresh = await closed_ticket(s, store, clock, close=False)
        reopened = await closed_ticket(s, store, clock, attachment=False)
        noted = await closed_ticket(s, store, clock, attachment=False)
        await s.commit()
    clock.set(later)
    async with session_factory() as s:
        await tickets.add_agent_reply(s, fresh, staff=agent, text="Nog een vraag")
        await tickets.reopen(s, reopened, actor=ACTOR)
        await tickets.add_internal_note(s, noted, staff=agent, text="Klant belde nog")
        status = await s.scalar(select(Ticket.status).where(Ticket.id == abandoned))
        await s.commit()
    assert status == TicketStatus.WAITING

    await _sweep(session_factory, store, clock, T0 + YEARS_3 - SECOND)
    clock.set(T0 + YEARS_3 + SECOND)
    dry = await sweeper(session_factory, store, clock).run(dry_run=True)
    assert dry.rules["support_information"].deleted == 2
    assert dry.rules["support_information"].deleted_by == {CLOSED: 1, INACTIVE: 1}
    async with session_factory() as s:
        assert await ticket_exists(s, abandoned) and await ticket_exists(s, closed)
    result = await _sweep(session_factory, store, clock, T0 + YEARS_3 + SECOND)
    assert result.rules["support_information"].deleted_by == {CLOSED: 1, INACTIVE: 1}
    async with session_factory() as s:
        assert not await ticket_exists(s, abandoned) and not await ticket_exists(s, closed)
        assert all([await ticket_exists(s, t) for t in (fresh, reopened, noted)])
        run = await s.get(RetentionRun, result.run_id)
    assert run is not None
    assert run.summary["support_information"]["deleted_by"] == {CLOSED: 1, INACTIVE: 1}

    await _sweep(session_factory, store, clock, due_later - SECOND)
    async with session_factory() as s:
        assert all([await ticket_exists(s, t) for t in (fresh, reopened, noted)])
    result = await _sweep(session_factory, store, clock, due_later + SECOND)
    # fresh and reopened were never closed (again); noted was closed, its note came later.
    assert result.rules["support_information"].deleted_by == {CLOSED: 1, INACTIVE: 2}
    async with session_factory() as s:
        assert await count(s, Ticket) == 0


async def test_recordings_go_90_days_after_the_call_unless_held(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    async with session_factory() as s:
        free = [await recording(s, store, T0) for _ in range(3)]
        kept = await recording(s, store, T0)
        free_ids, keys, kept_id = [r.id for r in free], [r.object_key for r in free], kept.id
        await s.commit()
    async with session_factory() as s:
        await hold(s, store, clock, kept_id)
        await s.commit()

    await _sweep(session_factory, store, clock, T0 + timedelta(days=90) - SECOND)
    async with session_factory() as s:
        assert await count(s, Recording) == 4

    result = await _sweep(session_factory, store, clock, T0 + timedelta(days=90) + SECOND)
    assert result.rules["recordings"].deleted == 3
    assert result.rules["recordings"].kept_held == 1
    async with session_factory() as s:
        assert list(await s.scalars(select(Recording.id))) == [kept_id]
        assert await count(s, AuditEvent, AuditEvent.action == "recording.delete") == 3
        tombstones = list(await s.scalars(select(RecordingTombstone)))
    assert sorted(t.recording_id for t in tombstones) == sorted(free_ids)
    assert {t.call_month for t in tombstones} == {"2026-01"}
    assert not any([await store.exists(k) for k in keys])
    async with session_factory() as s:
        kept_key = (await s.get(Recording, kept_id)).object_key  # type: ignore[union-attr]
    assert await store.exists(kept_key) and await store.is_legal_hold(kept_key)


async def test_three_years_end_on_the_calendar_anniversary_not_after_1095_days(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    """A ticket closed 2026-11-28 is due at 2029-11-28 (1096 days: 2028 is a leap year),
    not a day early at 2029-11-27."""
    closed = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    anniversary = datetime(2029, 11, 28, 14, 0, tzinfo=UTC)
    clock.set(closed)
    async with session_factory() as s:
        ticket_id = await closed_ticket(s, store, clock)
        await s.commit()
    await _sweep(session_factory, store, clock, closed + timedelta(days=1095) + SECOND)
    await _sweep(session_factory, store, clock, anniversary - SECOND)
    async with session_factory() as s:
        assert await ticket_exists(s, ticket_id)
    result = await _sweep(session_factory, store, clock, anniversary + SECOND)
    assert result.rules["support_information"].deleted == 1
    async with session_factory() as s:
        assert not await ticket_exists(s, ticket_id)


@pytest.mark.parametrize(
    ("start", "months", "due"),
    [
        (datetime(2026, 11, 28, 12, tzinfo=UTC), 36, datetime(2029, 11, 28, 12, tzinfo=UTC)),
        (datetime(2027, 2, 28, 12, tzinfo=UTC), 12, datetime(2028, 2, 28, 12, tzinfo=UTC)),
        (datetime(2028, 2, 28, 23, tzinfo=UTC), 12, datetime(2029, 2, 28, 23, tzinfo=UTC)),
        # 29 February: a year without one is over at 1 March 00:00, not a day early.
        (datetime(2028, 2, 29, 12, tzinfo=UTC), 12, datetime(2029, 3, 1, tzinfo=UTC)),
        (datetime(2028, 2, 29, 12, tzinfo=UTC), 48, datetime(2032, 2, 29, 12, tzinfo=UTC)),
        # Six months (the statement's usage data): 31 August has no 31 February.
        (datetime(2028, 8, 31, 12, tzinfo=UTC), 6, datetime(2029, 3, 1, tzinfo=UTC)),
        (datetime(2028, 8, 28, 12, tzinfo=UTC), 6, datetime(2029, 2, 28, 12, tzinfo=UTC)),
        (datetime(2028, 3, 31, 12, tzinfo=UTC), 6, datetime(2028, 10, 1, tzinfo=UTC)),
    ],
)
def test_calendar_periods_are_due_on_the_anniversary(
    start: datetime, months: int, due: datetime
) -> None:
    rule = replace(RULES[0], period=Months(months))
    assert start > rule.cutoff(due - SECOND)  # one second before: not due
    assert start <= rule.cutoff(due)
    assert start <= rule.cutoff(due + SECOND)


def test_the_statement_periods_are_calendar_years() -> None:
    keys = {rule.key: rule for rule in RULES}
    for key, n in (("support_information", 3), ("audit_events", 3), ("contact_form", 1)):
        assert keys[key].period == Months(12 * n)
        assert keys[key].period_text("nl") == f"{n} jaar"


async def test_sweep_as_of_another_moment_stamps_recording_deletes_with_that_moment(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    """`sweep --now`: the recordings service runs on the real clock (as the CLI builds it),
    yet each delete's audit event and tombstone carry the sweep's moment."""
    call = datetime(2019, 3, 1, 8, 0, tzinfo=UTC)
    as_of = call + timedelta(days=90) + SECOND
    async with session_factory() as s:
        rec_id = (await recording(s, store, call)).id
        await s.commit()
    sweep = Sweeper(
        session_factory,
        store,
        clock,
        schedule({}),
        recordings=RecordingService(SystemClock(), store),
    )
    result = await sweep.run(now=as_of)
    assert result.rules["recordings"].deleted == 1
    async with session_factory() as s:
        deleted = await s.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "recording.delete", AuditEvent.subject_id == str(rec_id)
            )
        )
        tombstone = await s.scalar(
            select(RecordingTombstone).where(RecordingTombstone.recording_id == rec_id)
        )
    assert deleted is not None and deleted.occurred_at == as_of
    assert tombstone is not None and tombstone.deleted_at == as_of


async def test_recording_tombstones_are_non_personal_and_go_after_three_years(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    async with session_factory() as s:
        rec = await recording(s, store, T0 - timedelta(days=10), caller="+31698765432")
        rec_id = rec.id
        audit.record(  # as ingest writes it: the PBX file name carries the number
            s,
            actor=Actor.system("cli-ingest"),
            action="recording.ingest",
            subject_type="recording",
            subject_id=rec_id,
            at=T0 - timedelta(days=10),
            details={"filename": rec.original_filename},
        )
        await s.commit()
    async with session_factory() as s:
        await RecordingService(clock, store).delete_recording(s, rec_id, actor=Actor.system())
        await s.commit()
    async with session_factory() as s:
        tombstone = await s.scalar(select(RecordingTombstone))
        assert tombstone is not None and tombstone.deleted_at == T0
        assert "31698765432" not in repr(vars(tombstone))
        # The earlier events about the recording (file name = number) are stripped.
        events = list(await s.scalars(select(AuditEvent)))
        assert not any("31698765432" in str(e.details) for e in events)
        deleted = [e for e in events if e.action == "recording.delete"]
        assert len(deleted) == 1 and deleted[0].details["sha256"]  # the event keeps its facts

    await _sweep(session_factory, store, clock, T0 + YEARS_3 - SECOND)
    async with session_factory() as s:
        assert await count(s, RecordingTombstone) == 1
    await _sweep(session_factory, store, clock, T0 + YEARS_3 + SECOND)
    async with session_factory() as s:
        assert await count(s, RecordingTombstone) == 0


async def test_contact_persons_go_when_the_service_ends(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    end = date(2026, 3, 1)
    end_moment = datetime(2026, 3, 1, tzinfo=T0.tzinfo)
    async with session_factory() as s:
        ended = Organisation(
            name="Oud BV",
            customer_number="C-1",
            service_status=ServiceStatus.ENDED,
            service_end_date=end,
            created_at=T0,
            updated_at=T0,
        )
        active = Organisation(name="Nieuw BV", customer_number="C-2", created_at=T0, updated_at=T0)
        s.add_all([ended, active])
        await s.flush()
        leaving = ContactPerson(
            organisation_id=ended.id,
            name="Jan Jansen",
            email="jan@oud.nl",
            phone="+31611111111",
            created_at=T0,
            updated_at=T0,
        )
        staying = ContactPerson(
            organisation_id=active.id, name="Piet", created_at=T0, updated_at=T0
        )
        s.add_all([leaving, staying])
        await s.flush()
        audit.record(
            s,
            actor=Actor.customer(leaving.id, "Jan Jansen"),
            action="contact.updated",
            subject_type="contact",
            subject_id=leaving.id,
            at=T0,
            details={"email": "jan@oud.nl"},
        )
        ticket_id = await closed_ticket(s, store, clock, contact_id=leaving.id)
        leaving_id, staying_id = leaving.id, staying.id
        await s.commit()

    await _sweep(session_factory, store, clock, end_moment - SECOND)
    async with session_factory() as s:
        assert await count(s, ContactPerson) == 2

    result = await _sweep(session_factory, store, clock, end_moment + SECOND)
    assert result.rules["contact_persons"].deleted == 1
    async with session_factory() as s:
        assert list(await s.scalars(select(ContactPerson.id))) == [staying_id]
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.contact_id is None  # support info: own period
        events = list(await s.scalars(select(AuditEvent)))
    dumped = " ".join(f"{e.actor_label} {e.details}" for e in events)
    assert "Jan Jansen" not in dumped and "jan@oud.nl" not in dumped
    assert any(e.action == "contact.delete" and e.subject_id == str(leaving_id) for e in events)


async def test_a_contact_with_an_open_privacy_request_stays_until_it_is_closed(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    """End of service must not delete the subject of a request the officer still has to
    handle; it goes at the first sweep after the request is closed."""
    end_moment = datetime(2026, 3, 1, tzinfo=UTC)
    privacy = PrivacyService(clock, store)
    async with session_factory() as s:
        ended = Organisation(
            name="Oud BV",
            customer_number="C-1",
            service_status=ServiceStatus.ENDED,
            service_end_date=end_moment.date(),
            created_at=T0,
            updated_at=T0,
        )
        s.add(ended)
        await s.flush()
        people = [
            ContactPerson(organisation_id=ended.id, name=name, created_at=T0, updated_at=T0)
            for name in ("Jan", "Marie", "Kees")
        ]
        s.add_all(people)
        await s.flush()
        jan, marie = people[0].id, people[1].id
        pending = await privacy.create_request(
            s, type="access", contact_id=jan, channel="email", actor=ACTOR
        )
        done = await privacy.create_request(
            s, type="access", contact_id=marie, channel="email", actor=ACTOR
        )
        await privacy.close(s, done.id, outcome="Export verstuurd", actor=ACTOR)
        pending_id = pending.id
        await s.commit()

    clock.set(end_moment + SECOND)
    dry = await sweeper(session_factory, store, clock).run(dry_run=True)
    assert dry.rules["contact_persons"].deleted == 2
    assert dry.rules["contact_persons"].kept == {OPEN_PRIVACY_REQUEST: 1}
    result = await _sweep(session_factory, store, clock, end_moment + SECOND)
    assert result.rules["contact_persons"].deleted == 2
    assert result.rules["contact_persons"].kept == {OPEN_PRIVACY_REQUEST: 1}
    async with session_factory() as s:
        assert list(await s.scalars(select(ContactPerson.id))) == [jan]
        run = await s.get(RetentionRun, result.run_id)
        request = await s.get(PrivacyRequest, pending_id)
        assert request is not None and request.contact_id == jan
    assert run is not None
    assert run.summary["contact_persons"]["kept"] == {OPEN_PRIVACY_REQUEST: 1}

    clock.set(end_moment + timedelta(days=10))
    async with session_factory() as s:
        await privacy.close(s, pending_id, outcome="Inzage gegeven", actor=ACTOR)
        await s.commit()
    result = await _sweep(session_factory, store, clock, end_moment + timedelta(days=10))
    assert result.rules["contact_persons"].deleted == 1
    assert result.rules["contact_persons"].kept == {}
    async with session_factory() as s:
        assert await count(s, ContactPerson) == 0


async def test_login_failures_go_after_30_days_and_presence_once_stale(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    """Failed logins (a "username" may be a password typed in the wrong field) are only read
    for the 15-minute throttle: kept 30 days for security review, never past the statement's
    6 months; "also open by" heartbeats go a day after the last one."""
    async with session_factory() as s:
        agent = await staff_user(s)
        ticket_id = await closed_ticket(s, store, clock, attachment=False, close=False)
        await s.commit()
    for moment in (T0, T0 + timedelta(days=1)):
        clock.set(moment)
        async with session_factory() as s:
            attempt = await access.record_attempt(
                s, clock, username="Geheim123!", ip="192.0.2.7"
            )
            wrong = await access.authenticate(s, clock, attempt, "alice")
            await PresenceService(clock).beat(s, ticket_id, agent.id)
            other = await staff_user(s, f"bob{moment.day}")
            await PresenceService(clock).beat(s, ticket_id, other.id)
            await s.commit()
        assert wrong is None
    clock.set(T0)
    async with session_factory() as s:
        assert await count(s, LoginFailure) == 2
        assert await count(s, TicketPresence) == 3  # alice's row beat again on day 2

    await _sweep(session_factory, store, clock, T0 + timedelta(days=1) - SECOND)
    async with session_factory() as s:
        assert await count(s, TicketPresence) == 3
    result = await _sweep(session_factory, store, clock, T0 + timedelta(days=1) + SECOND)
    assert result.rules["ticket_presence"].deleted == 1
    async with session_factory() as s:
        left = set(await s.scalars(select(TicketPresence.last_seen_at)))
        assert left == {T0 + timedelta(days=1)} and await count(s, TicketPresence) == 2

    await _sweep(session_factory, store, clock, T0 + timedelta(days=30) - SECOND)
    async with session_factory() as s:
        assert await count(s, LoginFailure) == 2
    result = await _sweep(session_factory, store, clock, T0 + timedelta(days=30) + SECOND)
    assert result.rules["login_failures"].deleted == 1
    async with session_factory() as s:
        assert list(await s.scalars(select(LoginFailure.occurred_at))) == [T0 + timedelta(days=1)]
        assert await count(s, TicketPresence) == 0  # the day-2 heartbeats went long ago

    keys = {rule.key: rule for rule in RULES}
    assert keys["login_failures"].days == 30 and keys["ticket_presence"].days == 1
    assert schedule({"login_failures": 181})  # 6 months at most (the shortest 6 months)
    with pytest.raises(UnknownRule, match="login_failures must be at most 181 days"):
        schedule({"login_failures": 182})


async def test_contact_form_submissions_go_after_one_year(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    async with session_factory() as s:
        ticket_id = await closed_ticket(s, store, clock, attachment=False)
        for moment in (T0, T0 + timedelta(days=1)):
            form = ContactFormSubmission(
                created_at=moment,
                ticket_id=ticket_id,
                name="Klaas Vaak",
                email="klaas@example.nl",
                message="Graag terugbellen",
                ip_hash="0" * 64,
            )
            s.add(form)
            await s.flush()
            audit.record(
                s,
                actor=Actor.customer(None, "contact form"),
                action="contact_form.submitted",
                subject_type="contact_form_submission",
                subject_id=form.id,
                at=moment,
                details={"email": "klaas@example.nl"},
            )
        await s.commit()
    year = timedelta(days=365)  # 2026-01-10 -> 2027-01-10: no 29 February between
    await _sweep(session_factory, store, clock, T0 + year - SECOND)
    async with session_factory() as s:
        assert await count(s, ContactFormSubmission) == 2
    result = await _sweep(session_factory, store, clock, T0 + year + SECOND)
    assert result.rules["contact_form"].deleted == 1
    async with session_factory() as s:
        left = list(await s.scalars(select(ContactFormSubmission.created_at)))
        assert left == [T0 + timedelta(days=1)]
        assert await ticket_exists(s, ticket_id)  # the ticket follows the support rule
        emails = [
            e.details.get("email")
            for e in await s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "contact_form.submitted")
                .order_by(AuditEvent.id)
            )
        ]
    assert emails == [None, "klaas@example.nl"]


async def test_unanswered_held_messages_are_filed_not_deleted_after_30_days(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    """Bot messages waiting for a ticket choice (the bot files them after 15 minutes; here
    it was not running): at 30 days the rule files them on the customer's most recent open
    ticket instead of deleting them, so none is lost."""
    async with session_factory() as s:
        waiting = await two_tickets_and_a_waiting_message(s, clock, T0)
    keys = {rule.key: rule for rule in RULES}
    assert keys["held_messages"].days == 30
    sent = T0 + timedelta(minutes=2)
    await _sweep(session_factory, store, clock, sent + timedelta(days=30) - SECOND)
    async with session_factory() as s:
        assert await count(s, UnfiledMessage) == 1
    result = await _sweep(session_factory, store, clock, sent + timedelta(days=30) + SECOND)
    report = result.rules["held_messages"]
    assert (report.deleted, report.kept) == (0, {FILED: 1})
    async with session_factory() as s:
        await assert_filed_on_recent(s, waiting)
        assert await count(s, ContactPerson) == 1  # the contact follows its own rule


async def test_staff_sessions_go_when_they_expire(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    expires = T0 + timedelta(hours=12)
    async with session_factory() as s:
        user = await staff_user(s)
        for n, moment in enumerate([expires, expires + timedelta(days=1)]):
            s.add(
                StaffSession(
                    id=f"{n:064d}",
                    user_id=user.id,
                    created_at=T0,
                    last_seen_at=T0,
                    expires_at=moment,
                    csrf_token="x",
                )
            )
        await s.commit()
    await _sweep(session_factory, store, clock, expires - SECOND)
    async with session_factory() as s:
        assert await count(s, StaffSession) == 2
    result = await _sweep(session_factory, store, clock, expires + SECOND)
    assert result.rules["staff_sessions"].deleted == 1
    async with session_factory() as s:
        assert list(await s.scalars(select(StaffSession.expires_at))) == [
            expires + timedelta(days=1)
        ]
        purge = await s.scalar(select(AuditEvent).where(AuditEvent.action == "retention.purge"))
        assert purge is not None and purge.details["rule"] == "staff_sessions"


async def test_api_tokens_go_when_revoked(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    revoked = T0 + timedelta(days=5)
    async with session_factory() as s:
        user = await staff_user(s)
        s.add(
            ApiToken(
                user_id=user.id, name="old", token_hash="a" * 64, created_at=T0, revoked_at=revoked
            )
        )
        s.add(ApiToken(user_id=user.id, name="live", token_hash="b" * 64, created_at=T0))
        await s.commit()
    await _sweep(session_factory, store, clock, revoked - SECOND)
    async with session_factory() as s:
        assert await count(s, ApiToken) == 2
    await _sweep(session_factory, store, clock, revoked + SECOND)
    async with session_factory() as s:
        assert list(await s.scalars(select(ApiToken.name))) == ["live"]


async def test_audit_events_go_after_three_years(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    async with session_factory() as s:
        for moment in (T0, T0 + timedelta(days=1)):
            audit.record(
                s,
                actor=Actor.system(),
                action="test.event",
                subject_type="test",
                subject_id=1,
                at=moment,
            )
        await s.commit()
    await _sweep(session_factory, store, clock, T0 + YEARS_3 - SECOND)
    async with session_factory() as s:
        assert await count(s, AuditEvent, AuditEvent.action == "test.event") == 2
    await _sweep(session_factory, store, clock, T0 + YEARS_3 + SECOND)
    async with session_factory() as s:
        left = list(
            await s.scalars(select(AuditEvent.occurred_at).where(AuditEvent.action == "test.event"))
        )
    assert left == [T0 + timedelta(days=1)]


async def test_dry_run_counts_per_rule_changes_nothing_and_is_kept(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    async with session_factory() as s:
        for _ in range(3):
            await recording(s, store, T0)
        await s.commit()
    clock.set(T0 + timedelta(days=91))
    result = await sweeper(session_factory, store, clock).run(dry_run=True)
    assert result.rules["recordings"].deleted == 3
    assert set(result.rules) == {rule.key for rule in RULES}
    async with session_factory() as s:
        assert await count(s, Recording) == 3
        run = await s.get(RetentionRun, result.run_id)
    assert run is not None and run.dry_run and run.status == "done"
    assert run.summary["recordings"]["deleted"] == 3


async def test_periods_are_configurable_per_deployment(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    async with session_factory() as s:
        await recording(s, store, T0)
        await s.commit()
    clock.set(T0 + timedelta(days=30) + SECOND)
    assert (await sweeper(session_factory, store, clock).run()).rules["recordings"].deleted == 0
    result = await sweeper(session_factory, store, clock, recordings=30).run()
    assert result.rules["recordings"].deleted == 1
    with pytest.raises(UnknownRule, match="tickets"):
        schedule({"tickets": 10})
    with pytest.raises(UnknownRule, match="0 or more"):
        schedule({"recordings": -1})
    assert schedule({"recordings": 30})[1].period_text("nl") == "30 dagen"


async def test_a_ticket_delete_strips_personal_data_from_its_audit_events(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    """The path manual deletes and erasure share with the sweeper."""
    async with session_factory() as s:
        ticket_id = await closed_ticket(s, store, clock)
        other_id = await closed_ticket(s, store, clock, attachment=False)
        for subject in (ticket_id, other_id):
            audit.record(
                s,
                actor=Actor.customer(7, "Jan Jansen"),
                action="ticket.customer_message",
                subject_type="ticket",
                subject_id=subject,
                at=T0,
                details={"phone": "+31611111111"},
            )
        key = await s.scalar(select(Attachment.object_key).where(Attachment.ticket_id == ticket_id))
        await s.commit()
    async with session_factory() as s:
        result = await purge.delete_tickets(
            s, store, [ticket_id, 999_999], actor=Actor.system("test"), at=T0, reason="manual"
        )
        await s.commit()
    assert result.deleted == [ticket_id] and not result.failed
    assert key is not None and not await store.exists(key)
    async with session_factory() as s:
        about = {
            e.subject_id: e.details
            for e in await s.scalars(
                select(AuditEvent).where(AuditEvent.action == "ticket.customer_message")
            )
        }
        deleted = await s.scalar(select(AuditEvent).where(AuditEvent.action == "ticket.delete"))
    assert about[str(ticket_id)] == purge.STRIPPED
    assert about[str(other_id)] == {"phone": "+31611111111"}
    assert deleted is not None and deleted.details["reason"] == "manual"


async def test_expired_api_tokens_never_revoked_go_after_the_grace(
    session_factory: Sessions, store: S3ObjectStore, clock: FrozenClock
) -> None:
    expires = T0 + timedelta(days=90)
    gone_at = expires + EXPIRED_TOKEN_GRACE
    async with session_factory() as s:
        user = await staff_user(s)
        s.add(
            ApiToken(
                user_id=user.id, name="expired", token_hash="a" * 64, created_at=T0,
                expires_at=expires,
            )
        )  # fmt: skip
        s.add(
            ApiToken(
                user_id=user.id, name="later", token_hash="b" * 64, created_at=T0,
                expires_at=gone_at + timedelta(days=1),
            )
        )  # fmt: skip
        s.add(ApiToken(user_id=user.id, name="forever", token_hash="c" * 64, created_at=T0))
        await s.commit()
    before = await _sweep(session_factory, store, clock, gone_at - SECOND)
    assert before.rules["api_tokens"].deleted == 0
    async with session_factory() as s:
        assert await count(s, ApiToken) == 3
    after = await _sweep(session_factory, store, clock, gone_at + SECOND)
    assert after.rules["api_tokens"].deleted == 1
    async with session_factory() as s:
        assert sorted(await s.scalars(select(ApiToken.name))) == ["forever", "later"]
        purge = await s.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "retention.purge", AuditEvent.subject_type == "api_token"
            )
        )
        assert purge is not None and purge.details["count"] == 1
