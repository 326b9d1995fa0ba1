"""Migrations: every revision upgrades, downgrades and upgrades again (stairway), and the
migrated schema matches the models' metadata."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from storage import migrate
from storage.db import create_engine
from storage.models import Base

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
    from datetime import UTC, datetime

    from storage.models import Organisation

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


async def test_0017_merges_tags_written_before_normalising(empty_database_url: str) -> None:
    """Older rows had "Escalation" and "escalation" side by side; after 0017 the filter and
    the autocomplete see one normalised tag per recording, none lost."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from recordings.queries import RecordingFilter, all_tags, list_recordings
    from storage.db import create_sessionmaker
    from storage.models import Recording, RecordingTag

    now = datetime(2026, 11, 29, tzinfo=UTC)
    engine = create_engine(empty_database_url)
    try:
        await migrate.upgrade(engine, "0016")
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            ids = []
            for n in range(2):
                row = Recording(
                    object_key=f"recordings/{n}.ogg",
                    sha256_original=f"{n}" * 64,
                    sha256_archive=f"{n}" * 64,
                    duration_seconds=1.0,
                    original_format="wav",
                    sample_rate=8000,
                    channels=1,
                    original_size=1,
                    archive_size=1,
                    call_started_at=now,
                    created_at=now,
                    expires_at=now + timedelta(days=90),
                )
                session.add(row)
                await session.flush()
                ids.append(row.id)
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
            assert await all_tags(session) == ["billing dispute", "escalation", "vip"]
            page = await list_recordings(session, RecordingFilter(tag="Escalation"), now=now)
            assert [r.id for r in page.items] == [first]
            spaced = RecordingFilter(tag=" Billing   dispute ")  # typed as the agent typed it
            page = await list_recordings(session, spaced, now=now)
            assert [r.id for r in page.items] == [first]
    finally:
        await engine.dispose()
