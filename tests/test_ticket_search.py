"""Ticket text search through the trigram indexes of migration 0012 (SQLite FTS5,
PostgreSQL pg_trgm): the same substring semantics as a plain scan, and the index follows
edits, deletes and renames through its triggers."""

from __future__ import annotations

import random
import sqlite3
import string
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text

from storage.clock import FrozenClock
from storage.models import (
    ContactFormSubmission,
    ContactPerson,
    Ticket,
    TicketChannel,
    TicketMessage,
)
from storage.services import tickets as tickets_module
from storage.services.audit import Actor
from storage.services.contact_form import ContactFormService
from storage.services.customers import CustomerService
from storage.services.message_edits import MessageEditService
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
    "jan@devries.nl",  # contact-form submitter: e-mail, name, company, customer number
    "Bakker Bouw",
    "KN-4711",
    "Sanne",
]
# Contact-form submissions: (name, email, company, customer number); the person is in the
# submission only, not in contact_persons.
SUBMITTERS = [
    ("Jan de Vries", "jan@devries.nl", "", "KN-4711"),
    ("Sanne Visser", "sanne@bakkerbouw.nl", "Bakker Bouw BV", ""),
    ("Ab Mobiel", "ab@klant.nl", "Glas & Co", "KN-100%"),
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
    form = ContactFormService(clock, service)
    for n, (name, email, company, number) in enumerate(SUBMITTERS):
        clock.advance(timedelta(minutes=1))
        data = {"name": name, "email": email, "company": company, "customer_number": number}
        await form.submit(
            session, data | {"message": "Bel mij terug"}, sender=f"ip{n}", language="nl"
        )
    await session.commit()


async def _expected(session, query: str) -> list[int]:
    """The search's meaning written plainly: case-insensitive substring of subject, any
    message text, customer name or e-mail (a contact-form ticket's customer: the submitter's
    name, e-mail, company or customer number); a whole reference is an exact lookup."""
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
    submitters = (
        await session.execute(
            select(
                ContactFormSubmission.ticket_id,
                ContactFormSubmission.name,
                ContactFormSubmission.email,
                ContactFormSubmission.company,
                ContactFormSubmission.customer_number,
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
    found |= {f.ticket_id for f in submitters if any(needle in v.lower() for v in f[1:])}
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
    for query in ("jan@devries.nl", "Sanne", "KN-4711", "bakker bouw"):
        (ticket_id,) = await _expected(session, query)
        ticket = await session.get(Ticket, ticket_id)
        assert ticket.channel == TicketChannel.WEB_FORM and ticket.contact_id is None


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
        # What the trigram index alone answers (None: it cannot help, the plain scan).
        match = await TicketService._search_match(session, query)
        if match is None:
            return None
        return sorted(await session.scalars(select(Ticket.id).where(match)))

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


async def test_index_follows_contact_form_submissions(session, clock) -> None:
    service = TicketService(clock)
    receipt = await ContactFormService(clock, service).submit(
        session,
        {"name": "Jan de Vries", "email": "jan@devries.nl", "customer_number": "KN-4711"}
        | {"company": "De Vries Installatie", "message": "Bel mij"},
        sender="ip",
        language="nl",
    )
    await session.commit()

    async def both(query: str) -> tuple[list[int], list[int] | None]:
        match = await TicketService._search_match(session, query)
        indexed = (
            None if match is None else list(await session.scalars(select(Ticket.id).where(match)))
        )
        return await _found(session, service, query), indexed

    for query in ("jan@devries.nl", "JAN DE", "kn-4711", "installatie"):
        assert await both(query) == ([receipt.ticket_id], [receipt.ticket_id]), query
    # Erased or corrected: the index forgets the old values.
    submission = await session.get(ContactFormSubmission, receipt.submission_id)
    submission.name, submission.email = "[erased]", "erased@invalid"
    await session.commit()
    assert await both("jan@devries.nl") == ([], [])
    assert await both("erased@inv") == ([receipt.ticket_id], [receipt.ticket_id])
    await session.execute(
        delete(ContactFormSubmission).where(ContactFormSubmission.id == receipt.submission_id)
    )
    await session.commit()
    assert await both("kn-4711") == ([], [])
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(
            text("INSERT INTO contact_form_search(contact_form_search) VALUES ('integrity-check')")
        )


def test_fts5_folds_onto_ascii_only_the_kelvin_sign_and_long_s() -> None:
    """The promise behind tickets._FTS_IDS_ASCII: for an ASCII query without k or s, the
    SQLite FTS5 trigram match equals lower(...) LIKE, so the hits need no check against
    the rows. Every other code point that FTS5 would fold onto an ASCII character breaks
    it (a newer SQLite could add one): this fails then."""
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE f USING fts5(x, tokenize='trigram')")
    points = [c for c in range(128, 0x30000) if not 0xD800 <= c < 0xE000]
    con.executemany("INSERT INTO f(rowid, x) VALUES (?, ?)", [(c, f"#{chr(c)}#") for c in points])
    folded = {
        char.lower()
        for char in string.printable[:95]
        if char != '"'
        and con.execute("SELECT 1 FROM f WHERE f MATCH ?", (f'"#{char}#"',)).fetchone()
    }
    assert folded == set(tickets_module._FOLDED_ONTO_ASCII)
    con.close()
