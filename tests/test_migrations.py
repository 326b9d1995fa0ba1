"""Migrations: every revision upgrades, downgrades and upgrades again (stairway), and the
migrated schema matches the models' metadata."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.engine import Connection

from recordings.queries import RecordingFilter, all_tags, list_recordings, number_filter
from storage import migrate
from storage.db import create_engine, create_sessionmaker
from storage.models import (
    Base,
    ContactFormSubmission,
    ContactPerson,
    Organisation,
    OutboxMessage,
    Recording,
    RecordingTag,
    Ticket,
    TicketChannel,
    TicketMessage,
)

pytestmark = pytest.mark.storage


async def test_stairway(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        revisions = migrate.all_revisions()
        assert revisions, "no migrations found"
        assert await migrate.current_revision(engine) is None
        previous = "base"
        for revision in revisions:
            await migrate.upgrade(engine, revision)
            assert await migrate.current_revision(engine) == revision
            await migrate.downgrade(engine, previous)
            expected = None if previous == "base" else previous
            assert await migrate.current_revision(engine) == expected
            await migrate.upgrade(engine, revision)
            assert await migrate.current_revision(engine) == revision
            previous = revision
        assert await migrate.current_revision(engine) == migrate.head_revision()
        assert revisions[-1] == migrate.head_revision()
    finally:
        await engine.dispose()


async def test_full_downgrade_and_upgrade(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        await migrate.upgrade(engine)
        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


# Search indexes of migrations 0012 and 0014 that live outside the models on purpose: SQLite FTS5
# tables (with their shadow tables) and PostgreSQL pg_trgm expression indexes.
_SEARCH_FTS = ("ticket_search", "ticket_message_search", "contact_search", "contact_form_search")
_FTS_SHADOWS = ("data", "idx", "content", "docsize", "config")
_SEARCH_OBJECTS = {
    *_SEARCH_FTS,
    *(f"{fts}_{shadow}" for fts in _SEARCH_FTS for shadow in _FTS_SHADOWS),
    "ix_tickets_subject_trgm",
    "ix_ticket_messages_text_trgm",
    "ix_contact_persons_name_trgm",
    "ix_contact_persons_email_trgm",
    # migration 0014: the contact-form submitter
    *(
        f"ix_contact_form_submissions_{c}_trgm"
        for c in ("name", "email", "company", "customer_number")
    ),
}


def _include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # Only database-side objects without a model counterpart are skipped, by exact name.
    return not (reflected and compare_to is None and name in _SEARCH_OBJECTS)


def _diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_object": _include_object,
        },
    )
    return compare_metadata(context, Base.metadata)


async def test_models_match_migrated_schema(engine) -> None:
    assert await migrate.current_revision(engine) == migrate.head_revision()
    async with engine.connect() as conn:
        diffs = await conn.run_sync(_diffs)
    assert diffs == [], "models and migrations disagree; write a migration:\n" + "\n".join(
        map(repr, diffs)
    )


async def test_ids_of_deleted_rows_are_never_reused(session_factory) -> None:
    """Ticket references and audit subjects are built from ids: deleting the newest row must
    not hand its id to the next one (SQLite needs AUTOINCREMENT for that, PostgreSQL's
    sequences never go back)."""


    now = datetime(2026, 11, 27, tzinfo=UTC)

    async def add(number: str) -> int:
        async with session_factory() as session:
            row = Organisation(name="BV", customer_number=number, created_at=now, updated_at=now)
            session.add(row)
            await session.commit()
            return row.id

    first = await add("C-1")
    async with session_factory() as session:
        await session.delete(await session.get(Organisation, first))
        await session.commit()
    assert await add("C-2") > first


# The recordings table as revisions 0016/0017 had it: data tests insert through this, not
# the model, which has columns a later revision adds.
def _old_table(name: str, *columns: str) -> sa.TableClause:
    """Some columns of a table, typed as the models type them (UTC datetimes)."""
    model = Base.metadata.tables[name]
    return sa.table(name, *(sa.column(c, model.c[c].type) for c in columns))


_RECORDINGS = _old_table(
    "recordings",
    "id", "object_key", "sha256_original", "sha256_archive", "duration_seconds",
    "original_format", "sample_rate", "channels", "original_size", "archive_size",
    "original_filename", "call_started_at", "caller", "caller_withheld", "callee",
    "created_at", "expires_at",
)  # fmt: skip


def _old_recording(n: int, now: datetime, **values: Any) -> dict[str, Any]:
    return {
        "object_key": f"recordings/{n}.ogg",
        "sha256_original": f"{n}" * 64,
        "sha256_archive": f"{n}" * 64,
        "duration_seconds": 1.0,
        "original_format": "wav",
        "sample_rate": 8000,
        "channels": 1,
        "original_size": 1,
        "archive_size": 1,
        "original_filename": "",
        "call_started_at": now,
        "caller": None,
        "caller_withheld": False,
        "callee": None,
        "created_at": now,
        "expires_at": now + timedelta(days=90),
        **values,
    }


async def test_0017_merges_tags_written_before_normalising(empty_database_url: str) -> None:
    """Older rows had "Escalation" and "escalation" side by side; after 0017 the filter and
    the autocomplete see one normalised tag per recording, none lost."""



    now = datetime(2026, 11, 29, tzinfo=UTC)
    engine = create_engine(empty_database_url)
    try:
        await migrate.upgrade(engine, "0016")
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            # Rows of that revision's shape (the model has grown columns since).
            ids = [1, 2]
            await session.execute(
                _RECORDINGS.insert(),
                [_old_recording(n, now, id=recording_id) for n, recording_id in enumerate(ids)],
            )
            first, second = ids
            for recording_id, tag in [
                (first, "Escalation"),
                (first, "escalation"),
                (first, "Billing  Dispute"),
                (second, "VIP"),
            ]:
                session.add(RecordingTag(recording_id=recording_id, tag=tag))
            await session.commit()

        await migrate.upgrade(engine, "0017")

        async with sessions() as session:
            rows = (
                await session.execute(select(RecordingTag.recording_id, RecordingTag.tag))
            ).all()
            assert sorted(rows) == [
                (first, "billing dispute"),
                (first, "escalation"),
                (second, "vip"),
            ]
        await migrate.upgrade(engine)  # the models' queries read the head schema
        async with sessions() as session:
            assert await all_tags(session) == ["billing dispute", "escalation", "vip"]
            page = await list_recordings(session, RecordingFilter(tag="Escalation"), now=now)
            assert [r.id for r in page.items] == [first]
            spaced = RecordingFilter(tag=" Billing   dispute ")  # typed as the agent typed it
            page = await list_recordings(session, spaced, now=now)
            assert [r.id for r in page.items] == [first]
    finally:
        await engine.dispose()


async def test_0018_fills_e164_from_numbers_typed_before(empty_database_url: str) -> None:
    """Rows typed before 0018 ("06-5555 6666", "(06) 55556666") get their E.164 form, so the
    filters and the privacy desk find them by the number itself; text that is no number
    (a withheld caller, an extension) stays without. More rows than one batch (500)."""



    now = datetime(2026, 11, 30, tzinfo=UTC)
    contacts = _old_table(
        "contact_persons", "name", "phone", "language", "created_at", "updated_at"
    )
    forms = _old_table(
        "contact_form_submissions",
        *("created_at", "company", "name", "email", "phone", "customer_number", "message"),
        *("language", "ip_hash"),
    )
    calls = [("06-5555 6666", "201"), ("anonymous", "(06) 55556666"), ("0031 20 765 4321", None)]
    engine = create_engine(empty_database_url)
    try:
        await migrate.upgrade(engine, "0017")
        async with engine.begin() as conn:
            await conn.execute(
                contacts.insert(),
                [
                    {"name": f"c{n}", "phone": f"06-1000 {n:04d}", "language": "nl",
                     "created_at": now, "updated_at": now}
                    for n in range(620)
                ]
                + [{"name": "geen", "phone": None, "language": "nl", "created_at": now,
                    "updated_at": now},
                   {"name": "tekst", "phone": "bel me", "language": "nl", "created_at": now,
                    "updated_at": now}],
            )  # fmt: skip
            await conn.execute(
                forms.insert(),
                [
                    {"created_at": now, "company": "", "name": "f", "email": "f@x.example",
                     "phone": phone, "customer_number": "", "message": "?", "language": "nl",
                     "ip_hash": "0" * 64}
                    for phone in ("+31 6 5555 6666", "")
                ],
            )  # fmt: skip
            await conn.execute(
                _RECORDINGS.insert(),
                [
                    _old_recording(n, now, caller=caller, callee=callee)
                    for n, (caller, callee) in enumerate(calls)
                ],
            )

        await migrate.upgrade(engine, "0018")

        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            pairs = sa.select(ContactPerson.name, ContactPerson.phone_e164)
            numbers = {name: e164 for name, e164 in await session.execute(pairs)}
            assert len(numbers) == 622
            assert numbers["c0"] == "+31610000000" and numbers["c619"] == "+31610000619"
            assert numbers["geen"] is None and numbers["tekst"] is None
            form_numbers = list(
                await session.scalars(
                    sa.select(ContactFormSubmission.phone_e164).order_by(ContactFormSubmission.id)
                )
            )
            assert form_numbers == ["+31655556666", None]
            rows = (
                await session.execute(
                    sa.select(
                        Recording.caller, Recording.caller_e164, Recording.callee_e164
                    ).order_by(Recording.id)
                )
            ).all()
            assert [tuple(r) for r in rows] == [
                ("06-5555 6666", "+31655556666", None),
                ("anonymous", None, "+31655556666"),
                ("0031 20 765 4321", "+31207654321", None),
            ]
        # The filter reads through the model, whose recordings table later revisions extend.
        await migrate.upgrade(engine, "head")
        async with sessions() as session:
            page = await list_recordings(
                session, RecordingFilter(number=number_filter("0655556666")), now=now
            )
            assert [r.caller for r in page.items] == ["anonymous", "06-5555 6666"]
        await migrate.downgrade(engine, "0018")
        triggers = sa.text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
        sqlite = engine.dialect.name == "sqlite"
        async with engine.connect() as conn:
            before = await conn.scalar(triggers) if sqlite else None
        await migrate.downgrade(engine, "0017")
        async with engine.connect() as conn:
            # No table copy on the way down: 0012/0014's search triggers stay.
            assert (await conn.scalar(triggers) if sqlite else None) == before
        await migrate.upgrade(engine, "0018")
    finally:
        await engine.dispose()



async def test_0023_moves_waiting_replies_into_the_outbox(empty_database_url: str) -> None:
    """Replies still waiting when 0023 runs become outbox rows for their chat, in order; a
    sent one does not."""
    now = datetime(2026, 12, 7, tzinfo=UTC)
    messages = _old_table(
        "ticket_messages",
        *("ticket_id", "direction", "text", "delivery_state", "delivery_attempts", "created_at"),
    )
    engine = create_engine(empty_database_url)
    try:
        await migrate.upgrade(engine, "0022")
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            with_chat = ContactPerson(
                name="a", telegram_chat_id=9001, created_at=now, updated_at=now
            )
            without = ContactPerson(name="b", created_at=now, updated_at=now)
            session.add_all([with_chat, without])
            await session.flush()
            tickets = [
                Ticket(
                    channel=TicketChannel.TELEGRAM,
                    contact_id=contact.id,
                    created_at=now,
                    updated_at=now,
                    last_activity_at=now,
                )
                for contact in (with_chat, without)
            ]
            session.add_all(tickets)
            await session.commit()
            ids = [t.id for t in tickets]
        async with engine.begin() as conn:
            await conn.execute(
                messages.insert(),
                [
                    {"ticket_id": ticket_id, "direction": "out", "text": text,
                     "delivery_state": state, "delivery_attempts": 0, "created_at": now}
                    for ticket_id, text, state in [
                        (ids[0], "sent", "sent"), (ids[0], "A", "pending"),
                        (ids[1], "no chat", "pending"), (ids[0], "B", "pending"),
                    ]
                ],
            )  # fmt: skip
        await migrate.upgrade(engine)
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(OutboxMessage.chat_id, OutboxMessage.method, TicketMessage.text)
                    .join(TicketMessage, TicketMessage.id == OutboxMessage.ticket_message_id)
                    .order_by(OutboxMessage.id)
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            (9001, "reply", "A"),
            (0, "reply", "no chat"),  # marked undeliverable by the worker, as before
            (9001, "reply", "B"),
        ]
    finally:
        await engine.dispose()


async def test_0026_recording_notes_go_with_their_recording_and_downgrade(
    empty_database_url: str,
) -> None:
    """The notes table of 0026: a note goes when its recording row goes (the foreign key's
    cascade, for any delete that bypasses the vault), and the downgrade drops the table."""
    now = datetime(2026, 12, 7, tzinfo=UTC)
    engine = create_engine(empty_database_url)
    notes = sa.table(
        "recording_notes",
        *(sa.column(c) for c in ("recording_id", "position_ms", "text", "author_staff_id")),
        sa.column("created_at", Base.metadata.tables["recording_notes"].c.created_at.type),
    )
    try:
        await migrate.upgrade(engine, "0026")
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            await session.execute(
                _RECORDINGS.insert(), [_old_recording(n, now, id=n) for n in (1, 2)]
            )
            await session.execute(
                notes.insert(),
                [
                    {"recording_id": rid, "position_ms": 1000, "text": "toon",
                     "author_staff_id": None, "created_at": now}
                    for rid in (1, 1, 2)
                ],
            )  # fmt: skip
            await session.commit()
        async with sessions() as session:
            await session.execute(sa.text("DELETE FROM recordings WHERE id = 1"))
            await session.commit()
        async with sessions() as session:
            left = await session.execute(sa.text("SELECT recording_id FROM recording_notes"))
            assert [row[0] for row in left] == [2]
        await migrate.downgrade(engine, "0025")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert "recording_notes" not in tables and "recordings" in tables
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()
