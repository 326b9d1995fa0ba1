"""Ticket service on the real database (SQLite by default, PostgreSQL in CI)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from storage.clock import FrozenClock
from storage.models import (
    AuditEvent,
    ContactPerson,
    DeliveryState,
    MessageDirection,
    Organisation,
    StaffRole,
    StaffUser,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketMessage,
    TicketStatus,
)
from storage.services.audit import Actor
from storage.services.errors import InvalidInput, NotFound, StaleThread, TicketClosed
from storage.services.tickets import TicketFilter, TicketService

pytestmark = pytest.mark.storage

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def service(clock: FrozenClock) -> TicketService:
    return TicketService(clock)


@pytest.fixture
async def agent(session, clock) -> StaffUser:
    user = StaffUser(
        username="agent",
        display_name="Agent",
        password_hash="x",
        role=StaffRole.AGENT,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(user)
    await session.commit()
    return user


@pytest.fixture
async def contact(session, clock) -> ContactPerson:
    org = Organisation(
        name="Bakkerij De Vries",
        customer_number="C-1001",
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(org)
    await session.flush()
    person = ContactPerson(
        organisation_id=org.id,
        name="Jan de Vries",
        email="jan@example.nl",
        telegram_user_id=5_000_000_001,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(person)
    await session.commit()
    return person


async def _customer_ticket(session, service, contact, text: str):  # type: ignore[no-untyped-def]
    """A ticket the contact opened on Telegram: (ticket, first message)."""
    return await service.open_ticket(
        session,
        actor=Actor.customer(contact.id),
        channel=TicketChannel.TELEGRAM,
        text=text,
        contact=contact,
    )


async def _audit_actions(session, ticket_id: int) -> list[str]:
    rows = await session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.subject_type == "ticket", AuditEvent.subject_id == str(ticket_id))
        .order_by(AuditEvent.id)
    )
    return list(rows)


async def test_open_ticket_gets_reference_first_message_and_audit(session, service, contact):
    ticket, message = await service.open_ticket(
        session,
        actor=Actor.customer(contact.id),
        channel=TicketChannel.TELEGRAM,
        text="  Internet ligt eruit\nsinds vanochtend ",
        contact=contact,
        category=TicketCategory.INTERNET,
    )
    await session.commit()
    assert ticket.reference == f"T-2026-{ticket.id:06d}"
    assert ticket.subject == "Internet ligt eruit"
    assert ticket.status == TicketStatus.NEW
    assert ticket.organisation_id == contact.organisation_id
    assert message.direction == MessageDirection.IN
    assert message.text == "Internet ligt eruit\nsinds vanochtend"
    assert await _audit_actions(session, ticket.id) == ["ticket.opened"]
    assert (await service.get_by_reference(session, ticket.reference.lower())).id == ticket.id


async def test_customer_message_audit_commits_with_its_transaction(session, service, contact):
    ticket, _ = await _customer_ticket(session, service, contact, "Internet ligt eruit")
    await session.commit()
    ticket_id = ticket.id
    await service.add_customer_message(session, ticket_id, text="rolled back")
    await session.rollback()  # its event is gone with it
    assert await _audit_actions(session, ticket_id) == ["ticket.opened"]
    for text in ("tweede", "derde"):
        await service.add_customer_message(session, ticket_id, text=text)
    await session.commit()
    assert await _audit_actions(session, ticket_id) == [
        "ticket.opened",
        "ticket.customer_message",
        "ticket.customer_message",
    ]


async def test_empty_text_is_refused_and_leaves_nothing(session, service, contact):
    with pytest.raises(InvalidInput, match="empty"):
        await service.open_ticket(
            session,
            actor=Actor.customer(contact.id),
            channel=TicketChannel.TELEGRAM,
            text="   ",
            contact=contact,
        )
    await session.rollback()
    assert await session.scalar(select(func.count()).select_from(Ticket)) == 0
    assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 0


async def test_lifecycle_reply_note_assign_close_reopen(
    session, session_factory, service, contact, agent, clock
):
    ticket, _ = await _customer_ticket(session, service, contact, "VoIP toestel registreert niet")
    await session.commit()
    ticket_id = ticket.id
    clock.advance(timedelta(minutes=5))
    await service.assign(session, ticket_id, actor=Actor.staff(agent), assignee_id=agent.id)
    reply = await service.add_agent_reply(
        session, ticket.id, staff=agent, text="Herstart het toestel"
    )
    note = await service.add_internal_note(
        session, ticket.id, staff=agent, text="SIP-trunk checken"
    )
    await session.commit()
    assert reply.delivery_state == DeliveryState.PENDING  # outbox for the delivery worker
    assert note.delivery_state == DeliveryState.NOT_APPLICABLE
    ticket = await service.get(session, ticket.id)
    assert ticket.status == TicketStatus.WAITING
    assert ticket.assignee_id == agent.id
    assert ticket.last_activity_at == clock.now()

    await service.add_customer_message(
        session, ticket.id, text="Werkt nog niet", contact_id=contact.id
    )
    await session.commit()
    assert (await service.get(session, ticket.id)).status == TicketStatus.OPEN

    clock.advance(timedelta(hours=1))
    closed, changed = await service.close(session, ticket.id, actor=Actor.staff(agent))
    assert changed
    await session.commit()
    assert closed.status == TicketStatus.CLOSED and closed.closed_at == clock.now()
    async with session_factory() as other:
        with pytest.raises(TicketClosed):
            await service.add_customer_message(other, ticket_id, text="nog een vraag")
        await other.rollback()
        with pytest.raises(TicketClosed):
            await service.add_agent_reply(other, ticket_id, staff=agent, text="x")

    reopened, changed = await service.reopen(session, ticket_id, actor=Actor.staff(agent))
    assert changed
    await session.commit()
    assert reopened.status == TicketStatus.OPEN and reopened.closed_at is None

    thread = await service.get_thread(session, ticket_id)
    assert [m.direction for m in thread.messages] == [
        MessageDirection.IN,
        MessageDirection.OUT,
        MessageDirection.NOTE,
        MessageDirection.IN,
    ]
    assert thread.messages[1].author_staff.username == "agent"
    assert thread.contact.name == "Jan de Vries"
    assert await _audit_actions(session, ticket_id) == [
        "ticket.opened",
        "ticket.assigned",
        "ticket.reply",
        "ticket.note",
        "ticket.customer_message",
        "ticket.closed",
        "ticket.reopened",
    ]


async def test_stale_reply_is_refused(session, service, contact, agent):
    ticket, _ = await _customer_ticket(session, service, contact, "Factuur klopt niet")
    await session.commit()
    seen = ticket.thread_version
    await service.add_customer_message(session, ticket.id, text="Het gaat om maart")
    await session.commit()
    ticket_id, agent_id = ticket.id, agent.id
    with pytest.raises(StaleThread):
        await service.add_agent_reply(
            session, ticket_id, staff=agent, text="Welke factuur?", expected_version=seen
        )
    await session.rollback()
    agent = await session.get(StaffUser, agent_id, populate_existing=True)
    current = (await service.get(session, ticket_id)).thread_version
    reply = await service.add_agent_reply(
        session, ticket_id, staff=agent, text="Dank, we kijken ernaar", expected_version=current
    )
    await session.commit()
    assert reply.id


async def test_a_reply_the_writer_did_not_see_is_still_answered_by_reopening(
    session_factory, service, contact, agent
):
    """The customer's message decides 'waiting -> open' on the row, not on the copy its
    session loaded before an agent's reply was committed elsewhere."""
    async with session_factory() as bot:
        ticket, _ = await _customer_ticket(bot, service, contact, "Storing")
        await bot.commit()  # the bot's copy stays loaded: open, no reply yet
        async with session_factory() as desk:
            staff = await desk.get(StaffUser, agent.id)
            await service.add_agent_reply(desk, ticket.id, staff=staff, text="Herstart de router")
            await desk.commit()
        assert ticket.status == TicketStatus.NEW  # what the bot's session still believes
        await service.add_customer_message(bot, ticket.id, text="Gedaan, nog steeds stuk")
        await bot.commit()
        assert ticket.status == TicketStatus.OPEN  # the row's answer, taken over
    async with session_factory() as s:
        stored = await s.get(Ticket, ticket.id)
        assert stored.status == TicketStatus.OPEN and stored.message_count == 3


async def test_unknown_ticket_and_assignee(session, service, agent):
    with pytest.raises(NotFound):
        await service.get(session, 999)
    with pytest.raises(NotFound):
        await service.add_customer_message(session, 999, text="hallo")


async def test_concurrent_writes_to_one_ticket_lose_no_message(session_factory, service, contact):
    async with session_factory() as session:
        ticket, _ = await _customer_ticket(session, service, contact, "start")
        await session.commit()

    async def write(n: int) -> None:
        async with session_factory() as s:
            await service.add_customer_message(s, ticket.id, text=f"bericht {n}")
            await s.commit()

    await asyncio.gather(*(write(n) for n in range(40)))
    async with session_factory() as session:
        texts = set(
            await session.scalars(
                select(TicketMessage.text).where(TicketMessage.ticket_id == ticket.id)
            )
        )
        fresh = await session.get(Ticket, ticket.id)
    assert texts == {"start"} | {f"bericht {n}" for n in range(40)}
    assert fresh.message_count == 41
    assert fresh.thread_version == 41


async def test_of_two_concurrent_closes_one_changes_the_state(
    session_factory, service, contact, agent
):
    async with session_factory() as session:
        ticket, _ = await _customer_ticket(session, service, contact, "start")
        await session.commit()

    async def close() -> bool:
        async with session_factory() as s:
            await service.get(s, ticket.id)  # both saw it open
            _, changed = await service.close(s, ticket.id, actor=Actor.staff(agent))
            await s.commit()
            return changed

    assert sorted(await asyncio.gather(close(), close())) == [False, True]
    async with session_factory() as session:
        closes = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "ticket.closed", AuditEvent.subject_id == str(ticket.id))
        )
    assert closes == 1


async def test_search_and_filters(session, service, contact, agent):
    a, _ = await service.open_ticket(
        session,
        actor=Actor.customer(contact.id),
        channel=TicketChannel.TELEGRAM,
        text="Alarmcentrale 24/7 meldt storing",
        contact=contact,
        category=TicketCategory.ALARM,
    )
    b, _ = await service.open_ticket(
        session,
        actor=Actor.system(),
        channel=TicketChannel.WEB_FORM,
        text="100% kapot_",
    )
    await service.close(session, b.id, actor=Actor.staff(agent))
    await session.commit()

    async def ids(**kw) -> list[int]:
        page = await service.list_tickets(session, TicketFilter(**kw))
        return [t.id for t in page.items]

    assert await ids(query="alarmcentrale") == [a.id]
    assert await ids(query=a.reference) == [a.id]
    assert await ids(query="jan de vries") == [a.id]  # customer name
    assert await ids(query="100%") == [b.id]  # LIKE wildcards are literal
    assert await ids(query="%") == [b.id]
    assert await ids(category=TicketCategory.ALARM) == [a.id]
    assert await ids(status=TicketStatus.CLOSED) == [b.id]
    assert await ids(unverified=True) == [b.id]
    assert await ids(open_only=True) == [a.id]
    counts = await service.count_by_status(session)
    assert counts[TicketStatus.NEW] == 1 and counts[TicketStatus.CLOSED] == 1
    with pytest.raises(InvalidInput):
        await service.list_tickets(session, cursor="not-a-cursor")


async def test_keyset_paging_over_10000_tickets(session, service):
    base = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        {
            "reference": f"T-2025-{i:06d}",
            "subject": f"ticket {i}",
            "category": "other",
            "status": "open",
            "priority": "normal",
            "channel": "api",
            "thread_version": 1,
            "message_count": 0,
            # Pairs of tickets share a timestamp so the id tie-breaker is exercised.
            "created_at": base,
            "updated_at": base,
            "last_activity_at": base + timedelta(seconds=i // 2),
        }
        for i in range(1, 10_001)
    ]
    await session.execute(insert(Ticket), rows)
    await session.commit()

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = await service.list_tickets(session, cursor=cursor, limit=200)
        seen.extend(t.id for t in page.items)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 50
    assert len(seen) == 10_000 and len(set(seen)) == 10_000
    expected = await session.scalars(
        select(Ticket.id).order_by(Ticket.last_activity_at.desc(), Ticket.id.desc())
    )
    assert seen == list(expected)


async def test_field_changes_are_audited_with_old_and_new_value(session, service, contact, agent):
    ticket, _ = await _customer_ticket(session, service, contact, "Mobiel bereik slecht")
    await service.set_category(
        session, ticket.id, actor=Actor.staff(agent), category=TicketCategory.MOBILE
    )
    await session.commit()
    event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "ticket.category"))
    assert event.details == {"category": {"from": "other", "to": "mobile"}}
    assert (event.actor_type, event.actor_id, event.actor_label) == (
        "staff",
        str(agent.id),
        "agent",
    )
