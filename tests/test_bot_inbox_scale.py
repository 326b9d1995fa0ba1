"""The update inbox under load and with several instances: group commits, few
statements per customer message, each update handled exactly once by two instances on one
database, and one "received" note (never "try again") while an update waits for a retry.

Two instances are two dispatchers, bots (recording fake Bot API) and processors with their
own engine on the same database (PostgreSQL when the suite runs on it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.types import Update
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import inbox
from bot.dispatcher import create_dispatcher
from bot.processor import BLOCK_FOR, RateLimiter, UpdateProcessor, user_of
from bot.tickets import CloseTicket
from storage.clock import FrozenClock
from storage.config import Settings
from storage.db import create_engine, create_sessionmaker
from storage.models import (
    Attachment,
    BotUpdate,
    ContactPerson,
    Organisation,
    Ticket,
    TicketMessage,
)
from storage.objectstore.local import LocalObjectStore
from storage.services.audit import Actor
from storage.services.linking import LinkCodeService
from storage.services.tickets import TicketService
from tests.bot_desk import START
from tests.db_failures import refusing_inserts
from tests.telegram_fake import TOKEN, RecordingSession, callback_update, message_update

# The note from the catalogs (bot/locales), per language.
RECEIVED = {
    "nl": "Wij hebben uw bericht ontvangen en verwerken het zo snel mogelijk. "
    "U hoeft het niet opnieuw te sturen.",
    "en": "We have received your message and will process it shortly. "
    "There is no need to send it again.",
}

pytestmark = pytest.mark.storage


@dataclass
class Instance:
    processor: UpdateProcessor
    api: RecordingSession
    sessionmaker: async_sessionmaker[AsyncSession]

    async def idle(self) -> None:
        while self.processor.tasks:
            await asyncio.wait(set(self.processor.tasks))


class Statements:
    """Statements and commits one engine sends (the benchmark counts the same way)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.sql: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self.statement)
        event.listen(engine.sync_engine, "commit", self.commit)

    def statement(self, _conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        self.sql.append(sql)

    def commit(self, _conn: Any) -> None:
        self.sql.append("COMMIT")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)  # a Monday 11:00 in Amsterdam: no after-hours note


@pytest.fixture
async def make_instance(
    database_url: str, engine: AsyncEngine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> AsyncIterator[Any]:
    engines: list[AsyncEngine] = []

    def make() -> Instance:
        own = create_engine(database_url)  # migrated already through the `engine` fixture
        engines.append(own)
        sessionmaker = create_sessionmaker(own)
        dp = create_dispatcher(
            sessionmaker=sessionmaker,
            ticket_service=TicketService(clock),
            object_store=LocalObjectStore(tmp_path / "objects"),
            settings=settings,
            clock=clock,
        )
        api = RecordingSession()
        limiter = RateLimiter(1000.0, 1000)
        processor = UpdateProcessor(dp, Bot(TOKEN, session=api), sessionmaker, clock, limiter)
        return Instance(processor, api, sessionmaker)

    yield make
    for own in engines:
        await own.dispose()


@pytest.fixture
def failing_messages() -> Iterator[list[bool]]:
    """An injected database failure: storing a TicketMessage raises while the flag is set."""
    failing = [True]
    with refusing_inserts(lambda: [TicketMessage] if failing[0] else []):
        yield failing


def _payload(update: Update) -> str:
    return update.model_dump_json(by_alias=True, exclude_none=True)


async def _texts(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as s:
        return list(await s.scalars(select(TicketMessage.text).order_by(TicketMessage.id)))


async def _leases(sessionmaker: async_sessionmaker[AsyncSession], updates: list[Update]) -> set:
    """The distinct next_attempt_at (lease ends) of these updates."""
    ids = [u.update_id for u in updates]
    async with sessionmaker() as s:
        query = select(BotUpdate.next_attempt_at).where(BotUpdate.update_id.in_(ids))
        return {_utc(moment) for moment in await s.scalars(query)}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _pending(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as s:
        query = select(func.count()).where(BotUpdate.processed_at.is_(None))
        return int(await s.scalar(query) or 0)


async def _first_message(desk: Instance, user_id: int) -> None:
    """The user's first message, handled: their contact and ticket exist from here on."""
    first = message_update(user_id, "Internet valt weg")
    assert await desk.processor.receive(first.update_id, first, _payload(first))
    await desk.idle()


def _handled_together(counted: Statements) -> bool:
    """One 'handled' mark for all: no failure made them go one by one."""
    marks = [sql for sql in counted.sql if sql.startswith("UPDATE bot_updates SET")]
    return len(marks) == 1


async def test_concurrent_arrivals_share_one_commit_and_repeats_are_not_new(
    make_instance: Any,
) -> None:
    desk = make_instance()
    desk_statements = Statements(desk.sessionmaker.kw["bind"])
    updates = [message_update(7100 + n % 4, f"melding {n}") for n in range(20)]
    results = await asyncio.gather(
        *(desk.processor.receive(u.update_id, u, _payload(u)) for u in updates),
        desk.processor.receive(updates[0].update_id, updates[0], _payload(updates[0])),
    )
    assert results == [True] * 20 + [False]  # the repeat in the same batch is not new
    inserts = [sql for sql in desk_statements.sql if sql.startswith("INSERT INTO bot_updates")]
    assert len(inserts) == 1  # twenty-one arrivals, one INSERT, one commit
    await desk.idle()
    assert sorted(await _texts(desk.sessionmaker)) == sorted(f"melding {n}" for n in range(20))
    assert await _pending(desk.sessionmaker) == 0


async def test_a_users_queued_messages_cost_two_statements_each(make_instance: Any) -> None:
    desk = make_instance()
    await _first_message(desk, 7200)  # contact and ticket exist now: the steady state is measured
    counted = Statements(desk.sessionmaker.kw["bind"])
    later = [message_update(7200, f"aanvulling {n}") for n in range(10)]
    await desk.processor.receive_many([(u.update_id, u, _payload(u)) for u in later])
    await desk.idle()
    handled = list(counted.sql)
    assert (await _texts(desk.sessionmaker))[1:] == [f"aanvulling {n}" for n in range(10)]
    # Stored: BEGIN, INSERT, the user's failed updates, COMMIT. Handled in one transaction:
    # BEGIN, mark handled, contact with open tickets (read once: each message hands them to
    # the next), per message the ticket UPDATE and message INSERT, one audit INSERT, COMMIT.
    assert len(handled) <= 4 + 5 + 10 * 2
    assert sum(sql.startswith("SELECT tickets.") for sql in handled) == 1


async def _tickets(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[Any, ...]]:
    """(id, contact id, status, texts) of every ticket, oldest first."""
    async with sessionmaker() as s:
        rows = []
        for ticket in await s.scalars(select(Ticket).order_by(Ticket.id)):
            texts = await s.scalars(
                select(TicketMessage.text)
                .where(TicketMessage.ticket_id == ticket.id)
                .order_by(TicketMessage.id)
            )
            rows.append((ticket.id, ticket.contact_id, ticket.status.value, list(texts)))
        return rows


async def _organisation(session: AsyncSession, customer_number: str) -> Organisation:
    """A customer organisation (a link code is for a contact of one), flushed."""
    org = Organisation(
        name="Bakkerij Jansen", customer_number=customer_number, created_at=START, updated_at=START
    )
    session.add(org)
    await session.flush()
    return org


async def test_a_close_within_a_users_run_sends_the_next_text_to_a_new_ticket(
    make_instance: Any,
) -> None:
    desk = make_instance()
    await _first_message(desk, 7210)
    [(ticket_id, contact_id, _, _)] = await _tickets(desk.sessionmaker)
    counted = Statements(desk.sessionmaker.kw["bind"])
    run = [
        message_update(7210, "nog steeds"),
        callback_update(7210, CloseTicket(ticket_id=ticket_id).pack()),
        message_update(7210, "nu de telefoon"),
    ]
    await desk.processor.receive_many([(u.update_id, u, _payload(u)) for u in run])
    await desk.idle()
    assert await _tickets(desk.sessionmaker) == [
        (ticket_id, contact_id, "closed", ["Internet valt weg", "nog steeds"]),
        (ticket_id + 1, contact_id, "new", ["nu de telefoon"]),
    ]
    assert _handled_together(counted)


async def test_a_link_within_a_users_run_files_the_next_text_for_the_linked_contact(
    make_instance: Any,
) -> None:
    desk = make_instance()
    await _first_message(desk, 7220)
    [(ticket_id, unverified_id, _, _)] = await _tickets(desk.sessionmaker)
    async with desk.sessionmaker() as s:
        org = await _organisation(s, "C-1001")
        known = ContactPerson(
            organisation_id=org.id, name="Piet", language="nl", created_at=START, updated_at=START
        )
        s.add(known)
        await s.flush()
        code = await LinkCodeService(desk.processor.clock).create(
            s, known.id, actor=Actor.system("test")
        )
        await s.commit()
    counted = Statements(desk.sessionmaker.kw["bind"])
    run = [message_update(7220, f"/start {code}"), message_update(7220, "nog steeds")]
    await desk.processor.receive_many([(u.update_id, u, _payload(u)) for u in run])
    await desk.idle()
    # The unverified contact's ticket moved to the known one, and so did the next text.
    assert await _tickets(desk.sessionmaker) == [
        (ticket_id, known.id, "new", ["Internet valt weg", "nog steeds"])
    ]
    async with desk.sessionmaker() as s:
        authors = await s.scalars(select(TicketMessage.author_contact_id))
        assert set(authors) == {known.id}
        assert await s.get(ContactPerson, unverified_id) is None
    assert _handled_together(counted)


async def test_after_a_download_the_users_next_update_reads_their_tickets_again(
    make_instance: Any,
) -> None:
    """A file's download can take seconds, in which staff may change the tickets: the
    user's run that holds one hands nothing on from update to update."""
    desk = make_instance()
    await _first_message(desk, 7240)
    desk.api.files["ph"] = b"\xff\xd8router"
    counted = Statements(desk.sessionmaker.kw["bind"])
    run = [_photo(7240, "lampjes"), message_update(7240, "en de modem")]
    await desk.processor.receive_many([(u.update_id, u, _payload(u)) for u in run])
    await desk.idle()
    assert (await _texts(desk.sessionmaker))[-2:] == ["[photo] lampjes", "en de modem"]
    assert _handled_together(counted)
    assert sum(sql.startswith("SELECT tickets.") for sql in counted.sql) == 2


async def test_a_relink_by_another_user_in_the_same_transaction_is_seen(
    make_instance: Any,
) -> None:
    """The contact read for the whole group at its start has moved to another account by
    the time its old owner's update comes: that update reads again."""
    desk = make_instance()
    old, new = 7230, 7231
    for update in (message_update(old, "vraag van het oude account"), message_update(new, "hoi")):
        assert await desk.processor.receive(update.update_id, update, _payload(update))
    await desk.idle()
    async with desk.sessionmaker() as s:
        moving = await s.scalar(select(ContactPerson).where(ContactPerson.telegram_user_id == old))
        moving.organisation_id = (await _organisation(s, "C-1002")).id
        code = await LinkCodeService(desk.processor.clock).create(
            s, moving.id, actor=Actor.system("test"), relink=True
        )
        moving_id = moving.id
        await s.commit()
    run = [message_update(new, f"/start {code}"), message_update(old, "nog een vraag")]
    await desk.processor.receive_many([(u.update_id, u, _payload(u)) for u in run])
    await desk.idle()
    async with desk.sessionmaker() as s:
        moved = await s.get(ContactPerson, moving_id)
        assert (moved.telegram_user_id, moved.telegram_chat_id) == (new, new)
        own = await s.scalar(select(ContactPerson).where(ContactPerson.telegram_user_id == old))
        assert own is not None and own.id != moving_id  # the old account starts afresh
        filed = await s.scalar(
            select(TicketMessage).where(TicketMessage.text == "nog een vraag")
        )
        assert filed.author_contact_id == own.id


async def test_a_users_queued_updates_share_one_transaction(make_instance: Any) -> None:
    desk = make_instance()
    await _first_message(desk, 7250)
    counted = Statements(desk.sessionmaker.kw["bind"])
    later = [message_update(7250, f"aanvulling {n}") for n in range(10)]
    await desk.processor.receive_many([(u.update_id, u, _payload(u)) for u in later])
    await desk.idle()
    assert (await _texts(desk.sessionmaker))[1:] == [f"aanvulling {n}" for n in range(10)]
    assert counted.sql.count("COMMIT") == 2  # the ten stored, then the ten handled
    assert await _pending(desk.sessionmaker) == 0


async def test_several_users_updates_share_one_transaction(make_instance: Any) -> None:
    desk = make_instance()
    firsts = [message_update(7260 + n, "Internet valt weg") for n in range(5)]
    await desk.processor.receive_many([(u.update_id, u, _payload(u)) for u in firsts])
    await desk.idle()
    counted = Statements(desk.sessionmaker.kw["bind"])
    later = [message_update(7260 + n, f"aanvulling {n}") for n in range(5)]
    await desk.processor.receive_many([(u.update_id, u, _payload(u)) for u in later])
    await desk.idle()
    added = [text for text in await _texts(desk.sessionmaker) if text.startswith("aanvulling")]
    assert sorted(added) == [f"aanvulling {n}" for n in range(5)]
    assert counted.sql.count("COMMIT") == 2  # the five stored, then the five handled
    assert _handled_together(counted)
    assert await _pending(desk.sessionmaker) == 0


async def test_a_failure_in_a_shared_transaction_holds_back_only_its_user(
    make_instance: Any, clock: FrozenClock
) -> None:
    desk = make_instance()
    known = [message_update(7270 + n, "Storing") for n in range(2)]
    await desk.processor.receive_many([(u.update_id, u, _payload(u)) for u in known])
    await desk.idle()
    failing = [True]
    with refusing_inserts(lambda: [Ticket] if failing[0] else []):
        # Two known customers add to their tickets; a new one's ticket cannot be stored.
        later = [message_update(7270 + n, f"aanvulling {n}") for n in range(2)]
        new = message_update(7279, "Nieuwe klant")
        arrivals = [*later, new]
        await desk.processor.receive_many([(u.update_id, u, _payload(u)) for u in arrivals])
        await desk.idle()
        texts = await _texts(desk.sessionmaker)
        assert "aanvulling 0" in texts and "aanvulling 1" in texts
        assert "Nieuwe klant" not in texts
        assert await _pending(desk.sessionmaker) == 1
        failing[0] = False
    clock.advance(inbox.MAX_BACKOFF + timedelta(seconds=1))
    await desk.processor.scan()
    await desk.idle()
    assert "Nieuwe klant" in await _texts(desk.sessionmaker)
    assert await _pending(desk.sessionmaker) == 0


async def test_two_instances_never_claim_the_same_update(
    make_instance: Any, clock: FrozenClock
) -> None:
    a, b = make_instance(), make_instance()
    updates = [message_update(7300 + n % 5, f"oud {n}") for n in range(30)]
    # Stored by an instance that crashed before handling: due again once its lease ran out.
    await inbox.store_updates(
        a.sessionmaker, clock, [(u.update_id, _payload(u), user_of(u)) for u in updates]
    )
    clock.advance(inbox.LEASE + timedelta(seconds=1))
    claims = await asyncio.gather(
        inbox.claim_due(a.sessionmaker, clock, limit=10),
        inbox.claim_due(b.sessionmaker, clock, limit=10),
        inbox.claim_due(a.sessionmaker, clock, limit=10),
        inbox.claim_due(b.sessionmaker, clock, limit=10),
    )
    ids = [due.update_id for claim in claims for due in claim]
    assert len(ids) == len(set(ids)) == 30  # every update claimed, none twice
    assert await inbox.claim_due(b.sessionmaker, clock) == []  # leased now

    # Both instances scan (and handle) at once: each update takes effect exactly once.
    clock.advance(inbox.LEASE + timedelta(seconds=1))
    await asyncio.gather(a.processor.scan(), b.processor.scan())
    await asyncio.gather(a.idle(), b.idle())
    assert sorted(await _texts(a.sessionmaker)) == sorted(f"oud {n}" for n in range(30))
    assert await _pending(a.sessionmaker) == 0
    sent = a.api.calls("sendMessage") + b.api.calls("sendMessage")
    assert len(sent) == 5  # one "ticket created" per customer, from whichever instance


async def test_the_same_update_handled_by_two_instances_at_once_takes_effect_once(
    make_instance: Any, clock: FrozenClock
) -> None:
    # The lease ran out while one instance still had the update queued: both handle it.
    a, b = make_instance(), make_instance()
    updates = [message_update(7400 + n, f"dubbel {n}") for n in range(6)]
    await inbox.store_updates(
        a.sessionmaker, clock, [(u.update_id, _payload(u), user_of(u)) for u in updates]
    )
    await asyncio.gather(
        *(p.handle(u.update_id, u) for u in updates for p in (a.processor, b.processor))
    )
    assert sorted(await _texts(a.sessionmaker)) == sorted(f"dubbel {n}" for n in range(6))
    sent = a.api.calls("sendMessage") + b.api.calls("sendMessage")
    assert len(sent) == 6  # the instance that lost the race sent nothing either
    async with a.sessionmaker() as s:
        rows = list(await s.scalars(select(BotUpdate)))
        assert [r.attempts for r in rows] == [0] * 6  # the loser recorded no failure
        assert all(r.processed_at is not None for r in rows)
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 6


async def test_a_failing_update_is_retried_and_the_customer_hears_once(
    make_instance: Any, clock: FrozenClock, failing_messages: list[bool]
) -> None:
    desk = make_instance()
    update = message_update(7500, "Telefooncentrale reageert niet", language="nl")
    assert await desk.processor.receive(update.update_id, update, _payload(update))
    await desk.idle()
    for _ in range(3):  # the automatic retries keep failing
        clock.advance(inbox.MAX_BACKOFF + timedelta(seconds=1))
        await desk.processor.scan()
        await desk.idle()
    async with desk.sessionmaker() as s:
        row = await s.get(BotUpdate, update.update_id)
        assert row is not None and row.attempts == 4 and row.processed_at is None
    assert desk.api.sent_texts() == [RECEIVED["nl"]]  # once, and no "try again"

    failing_messages[0] = False  # the database is back
    clock.advance(inbox.MAX_BACKOFF + timedelta(seconds=1))
    await desk.processor.scan()
    await desk.idle()
    assert await _texts(desk.sessionmaker) == ["Telefooncentrale reageert niet"]
    sent = desk.api.sent_texts()
    assert len(sent) == 2 and sent[0] == RECEIVED["nl"] and "T-2026-" in sent[1]
    assert await _pending(desk.sessionmaker) == 0


async def test_english_customer_hears_it_in_english(
    make_instance: Any, failing_messages: list[bool]
) -> None:
    desk = make_instance()
    update = message_update(7600, "Line is down", language="en")
    assert await desk.processor.receive(update.update_id, update, _payload(update))
    await desk.idle()
    assert desk.api.sent_texts() == [RECEIVED["en"]]
    assert await _pending(desk.sessionmaker) == 1  # kept for the retry


async def test_queued_updates_keep_their_lease_and_are_released_at_shutdown(
    make_instance: Any, clock: FrozenClock
) -> None:
    a, b = make_instance(), make_instance()
    a.processor.limiter = RateLimiter(0.001, 1)  # after one message the rest wait ~17 min
    updates = [message_update(7700, f"stroom {n}") for n in range(3)]
    await a.processor.receive_many([(u.update_id, u, _payload(u)) for u in updates])
    for _ in range(200):
        if await _texts(a.sessionmaker):
            break
        await asyncio.sleep(0.05)
    assert await _texts(a.sessionmaker) == ["stroom 0"]

    clock.advance(inbox.LEASE + timedelta(seconds=1))  # longer than one lease in the lane
    await a.processor.scan()
    assert await inbox.claim_due(b.sessionmaker, clock) == []  # renewed: b leaves them

    clock.advance(timedelta(seconds=1))
    renewed = clock.now() + inbox.LEASE
    run = asyncio.create_task(a.processor.run())
    # run()'s first scan renews the queued updates' lease from the moved clock: it is running.
    for _ in range(200):
        if await _leases(a.sessionmaker, updates[1:]) == {renewed}:
            break
        await asyncio.sleep(0.05)
    assert await _leases(a.sessionmaker, updates[1:]) == {renewed}
    run.cancel()  # a stops (shutdown) with two updates still queued
    with pytest.raises(asyncio.CancelledError):
        await run
    claimed = await inbox.claim_due(b.sessionmaker, clock)
    assert [d.update_id for d in claimed] == [u.update_id for u in updates[1:]]


@pytest.fixture
def failing_attachments() -> Iterator[list[bool]]:
    """An injected database failure: storing a photo (its Attachment) raises while set."""
    failing = [True]
    with refusing_inserts(lambda: [Attachment] if failing[0] else []):
        yield failing


def _photo(user_id: int, caption: str) -> Update:
    photo = [{"file_id": "ph", "file_unique_id": "u", "width": 800, "height": 600, "file_size": 8}]
    return message_update(user_id, photo=photo, caption=caption)


async def _attempts(sessionmaker: async_sessionmaker[AsyncSession], update_id: int) -> int:
    async with sessionmaker() as s:
        row = await s.get(BotUpdate, update_id)
        assert row is not None and row.processed_at is None
        return row.attempts


async def _retry(desk: Instance, clock: FrozenClock, wait: timedelta) -> None:
    clock.advance(wait + timedelta(seconds=1))
    await desk.processor.scan()
    await desk.idle()


async def _photo_then_text(desk: Instance, user_id: int) -> tuple[Update, Update]:
    """A photo that fails to be stored, then (while it waits for its retry) a text."""
    desk.api.files["ph"] = b"\xff\xd8router"
    first, later = _photo(user_id, "lampjes"), message_update(user_id, "nu is alles uit")
    assert await desk.processor.receive(first.update_id, first, _payload(first))
    await desk.idle()
    assert await _attempts(desk.sessionmaker, first.update_id) == 1
    assert await desk.processor.receive(later.update_id, later, _payload(later))
    await desk.idle()
    return first, later


async def test_a_retried_update_keeps_its_place_in_its_users_order(
    make_instance: Any, clock: FrozenClock, failing_attachments: list[bool]
) -> None:
    desk = make_instance()
    _, later = await _photo_then_text(desk, 7800)
    other = message_update(7801, "andere klant")
    assert await desk.processor.receive(other.update_id, other, _payload(other))
    await desk.idle()
    # The text waits (stored, leased) behind the failed photo; other customers do not.
    assert await _texts(desk.sessionmaker) == ["andere klant"]
    assert later.update_id in desk.processor.inflight

    failing_attachments[0] = False  # the store is back: the retry succeeds
    await _retry(desk, clock, inbox.backoff(1))
    texts = await _texts(desk.sessionmaker)
    assert texts == ["andere klant", "[photo] lampjes", "nu is alles uit"]  # the chat's order
    assert await _pending(desk.sessionmaker) == 0


async def test_a_poison_update_holds_its_user_back_for_three_attempts_only(
    make_instance: Any, clock: FrozenClock, failing_attachments: list[bool]
) -> None:
    desk = make_instance()
    first, _ = await _photo_then_text(desk, 7810)
    await _retry(desk, clock, inbox.backoff(1))  # second attempt fails: still held
    assert await _attempts(desk.sessionmaker, first.update_id) == 2
    assert await _texts(desk.sessionmaker) == []
    await _retry(desk, clock, inbox.backoff(2))  # third attempt fails: the text goes ahead
    assert await _attempts(desk.sessionmaker, first.update_id) == 3
    assert await _texts(desk.sessionmaker) == ["nu is alles uit"]

    failing_attachments[0] = False  # the photo keeps retrying on its own, nothing is lost
    await _retry(desk, clock, inbox.backoff(3))
    assert await _texts(desk.sessionmaker) == ["nu is alles uit", "[photo] lampjes"]
    assert await _pending(desk.sessionmaker) == 0


async def test_a_hold_ends_after_two_minutes_whatever_the_attempts(
    make_instance: Any, clock: FrozenClock, failing_attachments: list[bool]
) -> None:
    desk = make_instance()
    first, _ = await _photo_then_text(desk, 7820)
    # No scan ran for two minutes (e.g. the database was away): the second attempt fails
    # and the text no longer waits.
    await _retry(desk, clock, BLOCK_FOR)
    assert await _attempts(desk.sessionmaker, first.update_id) == 2
    assert await _texts(desk.sessionmaker) == ["nu is alles uit"]


async def test_a_hold_ends_when_another_instance_handled_the_retry(
    make_instance: Any, clock: FrozenClock, failing_attachments: list[bool]
) -> None:
    a, b = make_instance(), make_instance()
    b.api.files["ph"] = b"\xff\xd8router"
    await _photo_then_text(a, 7830)
    failing_attachments[0] = False
    clock.advance(inbox.backoff(1) + timedelta(seconds=1))
    await b.processor.scan()  # b claims the due photo and stores it
    await b.idle()
    assert await _texts(a.sessionmaker) == ["[photo] lampjes"]
    await a.processor.scan()  # a sees it handled and lets the text go, in order
    await a.idle()
    assert await _texts(a.sessionmaker) == ["[photo] lampjes", "nu is alles uit"]
    assert await _pending(a.sessionmaker) == 0


async def test_another_instance_holds_the_users_later_update_behind_the_failed_one(
    make_instance: Any, clock: FrozenClock, failing_attachments: list[bool]
) -> None:
    """Two instances behind one webhook address: the photo fails on a, the customer's next
    text lands on b. b must not file the text first."""
    a, b = make_instance(), make_instance()
    for desk in (a, b):
        desk.api.files["ph"] = b"\xff\xd8router"
    first, later = _photo(7840, "lampjes"), message_update(7840, "nu is alles uit")
    assert await a.processor.receive(first.update_id, first, _payload(first))
    await a.idle()
    assert await _attempts(a.sessionmaker, first.update_id) == 1
    assert await b.processor.receive(later.update_id, later, _payload(later))
    other = message_update(7841, "andere klant")  # b's other customers do not wait
    assert await b.processor.receive(other.update_id, other, _payload(other))
    await b.idle()
    assert await _texts(b.sessionmaker) == ["andere klant"]
    assert later.update_id in b.processor.inflight  # stored, leased, waiting

    failing_attachments[0] = False
    await _retry(b, clock, inbox.backoff(1))  # b claims the photo's retry: photo, then text
    assert await _texts(b.sessionmaker) == ["andere klant", "[photo] lampjes", "nu is alles uit"]
    assert await _pending(b.sessionmaker) == 0


async def test_a_foreign_hold_ends_when_the_failing_instance_handled_the_retry(
    make_instance: Any, clock: FrozenClock, failing_attachments: list[bool]
) -> None:
    a, b = make_instance(), make_instance()
    a.api.files["ph"] = b"\xff\xd8router"
    first, later = _photo(7850, "lampjes"), message_update(7850, "nu is alles uit")
    assert await a.processor.receive(first.update_id, first, _payload(first))
    await a.idle()
    assert await b.processor.receive(later.update_id, later, _payload(later))
    await b.idle()
    assert await _texts(b.sessionmaker) == []
    failing_attachments[0] = False
    await _retry(a, clock, inbox.backoff(1))  # a's own retry succeeds
    await b.processor.scan()  # b sees it handled and lets the text go
    await b.idle()
    assert await _texts(b.sessionmaker) == ["[photo] lampjes", "nu is alles uit"]


async def test_a_foreign_failure_holds_nothing_back_once_it_is_poison(
    make_instance: Any, clock: FrozenClock, failing_attachments: list[bool]
) -> None:
    a, b = make_instance(), make_instance()
    a.api.files["ph"] = b"\xff\xd8router"
    first = _photo(7860, "lampjes")
    assert await a.processor.receive(first.update_id, first, _payload(first))
    await a.idle()
    for attempt in (1, 2):
        await _retry(a, clock, inbox.backoff(attempt))
    assert await _attempts(a.sessionmaker, first.update_id) == 3
    later = message_update(7860, "nu is alles uit")
    assert await b.processor.receive(later.update_id, later, _payload(later))
    await b.idle()
    assert await _texts(b.sessionmaker) == ["nu is alles uit"]


async def test_a_server_error_fetching_a_file_is_retried_not_noted(
    make_instance: Any, clock: FrozenClock
) -> None:
    """Only a permanent refusal (400) files a file as "not stored"; a 5xx of getFile fails
    the update, which the inbox retries, and the retry stores the file."""
    desk = make_instance()
    desk.api.files["ph"] = b"\xff\xd8router"
    desk.api.fail_next("getFile", 502, "Bad Gateway")
    update = _photo(7900, "lampjes")
    assert await desk.processor.receive(update.update_id, update, _payload(update))
    await desk.idle()
    assert await _attempts(desk.sessionmaker, update.update_id) == 1
    assert await _texts(desk.sessionmaker) == []

    await _retry(desk, clock, inbox.backoff(1))
    assert await _texts(desk.sessionmaker) == ["[photo] lampjes"]
    async with desk.sessionmaker() as s:
        [attachment] = list(await s.scalars(select(Attachment)))
    assert attachment.size == 8
    assert await _pending(desk.sessionmaker) == 0


async def test_a_file_is_handled_apart_from_other_users_updates(
    make_instance: Any, clock: FrozenClock
) -> None:
    """A download must not hold up, nor by failing repeat, other users' shared commit."""
    desk = make_instance()
    desk.api.files["ph"] = b"\xff\xd8router"
    desk.api.fail_next("getFile", 502, "Bad Gateway")
    written: list[str] = []

    def text_written(_conn: Any, _cursor: Any, sql: str, params: Any, *_args: Any) -> None:
        if sql.startswith("INSERT INTO ticket_messages") and "Geen kiestoon" in str(params):
            written.append(sql)

    event.listen(desk.sessionmaker.kw["bind"].sync_engine, "before_cursor_execute", text_written)
    arrivals = [_photo(7950, "lampjes"), message_update(7951, "Geen kiestoon")]
    await desk.processor.receive_many([(u.update_id, u, _payload(u)) for u in arrivals])
    await desk.idle()
    assert await _texts(desk.sessionmaker) == ["Geen kiestoon"]
    assert len(written) == 1  # never rolled back with the photo's failure and run again
    assert await _attempts(desk.sessionmaker, arrivals[0].update_id) == 1


async def test_heartbeat_renews_the_short_lease_of_queued_updates_between_scans(
    make_instance: Any, clock: FrozenClock
) -> None:
    """The lease is short (a killed instance's updates move on within seconds), so a live
    instance renews it by a heartbeat for what it holds, not only at its scans."""
    a, b = make_instance(), make_instance()
    a.processor.limiter = RateLimiter(0.001, 1)  # after one message the rest wait ~17 min
    a.processor.scan_interval = 600  # no scan after the first: only the heartbeat renews
    run = asyncio.create_task(a.processor.run())
    try:
        updates = [message_update(7800, f"hart {n}") for n in range(3)]
        await a.processor.receive_many([(u.update_id, u, _payload(u)) for u in updates])
        for _ in range(200):
            if await _texts(a.sessionmaker):
                break
            await asyncio.sleep(0.05)
        clock.advance(inbox.LEASE / 2)  # half the lease taken when storing them is gone
        renewed = clock.now() + inbox.LEASE
        for _ in range(200):
            if await _leases(a.sessionmaker, updates[1:]) == {renewed}:
                break
            await asyncio.sleep(0.05)
        assert await _leases(a.sessionmaker, updates[1:]) == {renewed}
        clock.advance(inbox.LEASE / 2 + timedelta(seconds=1))  # past the first lease
        assert await inbox.claim_due(b.sessionmaker, clock) == []  # still a's
    finally:
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run


async def test_a_lease_renewal_keeps_the_backoff_of_an_attempt_that_failed_meanwhile(
    make_instance: Any, clock: FrozenClock
) -> None:
    """A renewal (scan, heartbeat) and a failure of the same update cross: the renewal read
    the update as held with no failed attempt, the failure commits first. The retry stays
    due after its backoff, not a lease later; updates still held are renewed."""
    a = make_instance()
    failing, waiting = message_update(7900, "valt"), message_update(7901, "wacht")
    stored = await inbox.store_updates(
        a.sessionmaker,
        clock,
        [(u.update_id, _payload(u), user_of(u)) for u in (failing, waiting)],
    )
    assert stored.new == {failing.update_id, waiting.update_id}
    await inbox.record_failure(a.sessionmaker, clock, failing.update_id, 0, "RuntimeError")
    retry_at = clock.now() + inbox.backoff(1)
    until = clock.now() + inbox.LEASE
    held = {failing.update_id: 0, waiting.update_id: 0}  # as the holder knew them
    await inbox.set_lease(a.sessionmaker, held, until, held_at=clock.now())
    assert await _leases(a.sessionmaker, [failing]) == {retry_at}
    assert await _leases(a.sessionmaker, [waiting]) == {until}
    # Released at shutdown: the failed one keeps its backoff as well.
    await inbox.set_lease(a.sessionmaker, held, clock.now())
    assert await _leases(a.sessionmaker, [failing]) == {retry_at}
    assert await _leases(a.sessionmaker, [waiting]) == {clock.now()}
