"""Ticket text search through the trigram indexes of migration 0012 (SQLite FTS5,
PostgreSQL pg_trgm): the same substring semantics as a plain scan, and the index follows
edits, deletes and renames through its triggers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text

from storage.clock import FrozenClock
from storage.models import ContactPerson, Ticket, TicketChannel, TicketMessage
from storage.services import tickets as tickets_module
from storage.services.audit import Actor
from storage.services.customers import CustomerService
from storage.services.edits import MessageEditService
from storage.services.tickets import TicketFilter, TicketService

pytestmark = pytest.mark.storage

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WORDS = (
    "Glasvezel storing Router modem VoIP-centrale factuur alarm café 100% kapot_ a_b "
    "internet Mobiel ab abc"
).split()
QUERIES = [
    "vezel",  # middle of a word
    "GLASVEZEL",  # other case
    "voip-CENT",
    "klant.nl",  # part of an e-mail address
    "@ExAmple",
    "de vries",  # customer name across a space
    "T-2026-000003",  # a reference: exact lookup
    "t-2026-000007",
    "T-2026",  # reference-like but not a whole reference
    "ab",  # 2 characters: no trigram
    "ca",
    "100%",  # LIKE wildcards are literal
    "%",
    "_",
    "t_",
    "a_b",
    "0% k",
    'say "hi"',  # FTS5 query syntax is literal too
    "café",
    "zzzz",  # nothing
]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


async def _seed(session, clock: FrozenClock) -> None:
    rnd = random.Random(12)
    customers = CustomerService(clock)
    contacts = []
    for name, email in [
        ("Jan de Vries", "jan@klant.nl"),
        ("Petra Glas", "PETRA@Example.com"),
        ("Ab Mobiel", None),
        ("Karin", "karin@voip-centrale.nl"),
    ]:
        data = {"name": name} | ({"email": email} if email else {})
        contacts.append(await customers.create_contact(session, data, actor=Actor.system()))
    service = TicketService(clock)
    for i in range(40):
        clock.advance(timedelta(minutes=1))
        body = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 4)))
        if i % 9 == 4:
            body += ' and say "hi"'
        contact = contacts[i % 5] if i % 5 < 4 else None
        ticket, _ = await service.open_ticket(
            session,
            actor=Actor.system(),
            channel=TicketChannel.TELEGRAM,
            text=body,
            subject=rnd.choice(["", "Vraag over " + rnd.choice(WORDS)]),
            contact=contact,
            telegram_chat_id=100 + i,
            telegram_message_id=i,
        )
        if i % 3 == 0:
            await service.add_customer_message(
                session,
                ticket.id,
                text=" ".join(rnd.choice(WORDS) for _ in range(3)),
            )
    await session.commit()


async def _expected(session, query: str) -> list[int]:
    """The search's meaning written plainly: case-insensitive substring of subject, any
    message text, customer name or e-mail; a whole reference is an exact lookup."""
    query = query.strip()
    needle = query.lower()
    tickets = (await session.execute(select(Ticket.id, Ticket.reference, Ticket.subject))).all()
    messages = (await session.execute(select(TicketMessage.ticket_id, TicketMessage.text))).all()
    contacts = (
        await session.execute(
            select(Ticket.id, ContactPerson.name, ContactPerson.email).join(
                ContactPerson, ContactPerson.id == Ticket.contact_id
            )
        )
    ).all()
    if tickets_module._REFERENCE.match(query):
        return sorted(t.id for t in tickets if t.reference == query.upper())
    found = {t.id for t in tickets if t.reference == query.upper() or needle in t.subject.lower()}
    found |= {m.ticket_id for m in messages if needle in m.text.lower()}
    found |= {
        c.id for c in contacts if needle in c.name.lower() or needle in (c.email or "").lower()
    }
    return sorted(found)


async def _found(session, service: TicketService, query: str, limit: int = 7) -> list[int]:
    """Every page of the search, following the keyset cursor."""
    ids: list[int] = []
    cursor = None
    while True:
        page = await service.list_tickets(
            session, TicketFilter(query=query), cursor=cursor, limit=limit
        )
        ids.extend(t.id for t in page.items)
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


@pytest.mark.parametrize("candidates", [tickets_module.SEARCH_CANDIDATES, 2])
async def test_search_matches_a_plain_substring_filter(
    session, clock, monkeypatch, candidates
) -> None:
    # With a tiny SEARCH_CANDIDATES most queries take the unindexed path: both must agree.
    monkeypatch.setattr(tickets_module, "SEARCH_CANDIDATES", candidates)
    await _seed(session, clock)
    service = TicketService(clock)
    newest_first = list(
        await session.scalars(
            select(Ticket.id).order_by(Ticket.last_activity_at.desc(), Ticket.id.desc())
        )
    )
    hits = 0
    for query in QUERIES:
        expected = await _expected(session, query)
        in_order = [i for i in newest_first if i in set(expected)]
        assert await _found(session, service, query) == in_order, query
        counts = await service.count_by_status(session, TicketFilter(query=query))
        assert sum(counts.values()) == len(expected), query
        hits += len(expected)
    # The seed must make the comparison meaningful: most queries find something.
    assert hits > 100
    assert await _expected(session, "zzzz") == []
    assert len(await _expected(session, "vezel")) > 3


async def test_index_follows_edits_deletes_and_renames(session, clock) -> None:
    service = TicketService(clock)
    customers = CustomerService(clock)
    contact = await customers.create_contact(
        session, {"name": "Jan Zonnebloem", "email": "jan@bloem.nl"}, actor=Actor.system()
    )
    ticket, message = await service.open_ticket(
        session,
        actor=Actor.customer(contact.id),
        channel=TicketChannel.TELEGRAM,
        text="Mijn glasvezelkastje knippert",
        subject="Storing",
        contact=contact,
        telegram_chat_id=77,
        telegram_message_id=1,
    )
    other, _ = await service.open_ticket(
        session, actor=Actor.system(), channel=TicketChannel.WEB_FORM, text="Factuur klopt niet"
    )
    await session.commit()
    ticket_id, message_id, other_id, contact_id = ticket.id, message.id, other.id, contact.id

    async def ids(query: str) -> list[int]:
        return await _found(session, service, query)

    async def indexed(query: str) -> list[int] | None:
        # What the trigram index alone answers, before the exact LIKE narrows it.
        return await TicketService._search_candidates(session, query)

    assert await ids("zelkast") == [ticket_id]
    assert await ids("zonnebloem") == [ticket_id]
    assert await indexed("zelkast") == [ticket_id]
    assert await indexed("ab") is None  # no trigram: the plain scan

    await MessageEditService(clock).edit_customer_message(
        session,
        contact_id=contact_id,
        telegram_chat_id=77,
        telegram_message_id=1,
        text="Mijn koperlijn is traag",
    )
    await session.commit()
    assert await ids("zelkast") == []
    assert await ids("koperlijn") == [ticket_id]
    assert await indexed("zelkast") == [] and await indexed("koperlijn") == [ticket_id]

    await customers.update_contact(
        session,
        contact_id,
        {"name": "Jan Madelief", "email": "jan@madelief.nl"},
        actor=Actor.system(),
    )
    await session.commit()
    assert await ids("zonnebloem") == []
    assert await ids("bloem.nl") == []
    assert await ids("madelief") == [ticket_id]
    assert await indexed("bloem") == [] and await indexed("madelief") == [ticket_id]

    await session.execute(delete(TicketMessage).where(TicketMessage.id == message_id))
    await session.commit()
    assert await ids("koperlijn") == [] and await indexed("koperlijn") == []
    assert await ids("madelief") == [ticket_id]  # the contact still is

    await session.execute(delete(TicketMessage).where(TicketMessage.ticket_id == other_id))
    await session.execute(delete(Ticket).where(Ticket.id == other_id))
    await session.commit()
    assert await ids("factuur") == [] and await indexed("factuur") == []
    if session.get_bind().dialect.name == "sqlite":
        # The external-content index agrees with its tables after all of this.
        for fts in ("ticket_search", "ticket_message_search", "contact_search"):
            await session.execute(text(f"INSERT INTO {fts}({fts}) VALUES ('integrity-check')"))
