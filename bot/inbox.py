"""The update inbox (storage/models/bot_transport.py): store first, handle after.

An update is committed here before Telegram hears 200 (webhook) or the polling offset moves
past it, so a crash or a failed handler never loses a message; `update_id` is the key, so a
repeated delivery is recognised and handled once.

Several instances may share the database. `next_attempt_at` doubles as a lease: the
instance that stores an update (or claims a due one) pushes it a lease ahead, so the others'
scans leave it alone while it is queued here, and a crashed instance's updates become due
again when the lease runs out. Exactly-once handling does not rest on the lease: the handler's
transaction marks the update handled as its first statement (bot/middlewares.py), which row
locks it until commit, so a second handler finds it handled and does nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.clock import Clock
from storage.db import is_postgres
from storage.models import BotUpdate

MAX_BACKOFF = timedelta(minutes=5)
KEEP_HANDLED = timedelta(days=7)
# Short, so a crashed instance's updates are taken over within seconds (scan interval plus
# lease: under 10 s); a live instance renews it every HEARTBEAT while they wait or are handled.
LEASE = timedelta(seconds=6)
HEARTBEAT = LEASE / 3
INSERT_CHUNK = 200  # rows per INSERT: well under SQLite's bound-parameter limit


# Built once (every update runs it): a Core UPDATE on the table, no ORM bookkeeping.
_BOT_UPDATES = BotUpdate.__table__
_MARK_HANDLED = (
    update(_BOT_UPDATES)
    .where(
        _BOT_UPDATES.c.update_id == bindparam("handled_id"),
        _BOT_UPDATES.c.processed_at.is_(None),
    )
    # The message now lives in its ticket: the inbox keeps only the id (repeats), not who.
    .values(processed_at=bindparam("handled_at"), payload="", user_id=None)
)


class AlreadyHandled(Exception):
    """Another worker marked this update handled first; this attempt does nothing."""


@dataclass(frozen=True)
class Failed:
    """A user's earliest update still waiting for a retry after a failed attempt."""

    update_id: int
    attempts: int
    received_at: datetime


@dataclass(frozen=True)
class Stored:
    new: set[int]  # the ids that were not known yet
    failed: dict[int, Failed]  # by user, for the users of this batch


@dataclass(frozen=True)
class Due:
    update_id: int
    payload: str
    attempts: int


def _insert(session: AsyncSession) -> Any:
    return (postgresql if is_postgres(session) else sqlite).insert(_BOT_UPDATES)


async def store_updates(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    items: Sequence[tuple[int, str, int | None]],
    *,
    lease: timedelta = LEASE,
    block_attempts: int = 3,
) -> Stored:
    """Store and commit raw updates (id, payload, Telegram user) in one transaction (a
    group commit). Known ids are skipped by the key (ON CONFLICT DO NOTHING), no lookup.
    Also says, per user of the batch, which earlier update of theirs failed (fewer than
    `block_attempts` times) and waits for its retry, whichever instance it failed on."""
    now = clock.now()
    rows: dict[int, dict[str, object]] = {}
    for update_id, payload, user_id in items:
        rows.setdefault(
            update_id,
            {
                "update_id": update_id,
                "payload": payload,
                "received_at": now,
                "next_attempt_at": now + lease,  # leased to us: we handle it right away
                "attempts": 0,
                "user_id": user_id,
            },
        )
    if not rows:
        return Stored(set(), {})
    values = list(rows.values())
    users = {user for _, _, user in items if user is not None}
    stored: set[int] = set()
    async with sessionmaker() as session:
        # One statement with a parameter list: SQLAlchemy sends it as multi-row INSERTs
        # ("insertmanyvalues") from one cached compilation, not a new one per batch size.
        stmt = (
            _insert(session)
            .on_conflict_do_nothing(index_elements=["update_id"])
            .returning(_BOT_UPDATES.c.update_id)
        )
        for start in range(0, len(values), INSERT_CHUNK):
            result = await session.execute(stmt, values[start : start + INSERT_CHUNK])
            stored.update(result.scalars())
        failed = await _failed_first(session, users, block_attempts) if users else {}
        await session.commit()
    return Stored(stored, failed)


async def _failed_first(
    session: AsyncSession, users: Collection[int], block_attempts: int
) -> dict[int, Failed]:
    rows = await session.execute(
        select(BotUpdate.user_id, BotUpdate.update_id, BotUpdate.attempts, BotUpdate.received_at)
        .where(
            BotUpdate.user_id.in_(sorted(users)),
            BotUpdate.processed_at.is_(None),
            BotUpdate.attempts > 0,
            BotUpdate.attempts < block_attempts,
        )
        .order_by(BotUpdate.update_id.desc())  # the earliest comes last and stays
    )
    return {user: Failed(ident, attempts, at) for user, ident, attempts, at in rows}


async def mark_handled(session: AsyncSession, update_id: int, now: datetime) -> None:
    """In the handler's own transaction, before the handler runs: the update's effects and
    'handled' commit together, and the row lock keeps a second handler out meanwhile. The
    payload is cleared; the ticket now holds the message."""
    result = await session.execute(_MARK_HANDLED, {"handled_id": update_id, "handled_at": now})
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyHandled(update_id)


_MARK_ALL_HANDLED = (
    update(_BOT_UPDATES)
    .where(
        _BOT_UPDATES.c.update_id.in_(bindparam("handled_ids", expanding=True)),
        _BOT_UPDATES.c.processed_at.is_(None),
    )
    .values(processed_at=bindparam("handled_at"), payload="", user_id=None)
    .returning(_BOT_UPDATES.c.update_id)
)


async def mark_all_handled(
    session: AsyncSession, update_ids: Collection[int], now: datetime
) -> set[int]:
    """`mark_handled` for the updates of one shared transaction, in one statement: the ids
    it marked; the others were handled elsewhere."""
    result = await session.execute(
        _MARK_ALL_HANDLED, {"handled_ids": sorted(update_ids), "handled_at": now}
    )
    return set(result.scalars())


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` failed ones: exponential, capped."""
    return min(timedelta(seconds=2 ** min(attempts, 16)), MAX_BACKOFF)


async def record_failure(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    update_id: int,
    attempts: int,
    error: str,
) -> None:
    """Keep the update pending and back off before the next try; `attempts` is how many
    attempts failed before this one (known from the claim, so no read is needed)."""
    async with sessionmaker() as session:
        await session.execute(
            update(BotUpdate)
            .where(BotUpdate.update_id == update_id, BotUpdate.processed_at.is_(None))
            .values(
                attempts=attempts + 1,
                next_attempt_at=clock.now() + backoff(attempts + 1),
                last_error=error[:200],
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()


async def pending_attempts(
    sessionmaker: async_sessionmaker[AsyncSession], ids: Collection[int]
) -> dict[int, int]:
    """Failed attempts of those of `ids` still pending (absent: handled, or gone)."""
    if not ids:
        return {}
    async with sessionmaker() as session:
        rows = await session.execute(
            select(BotUpdate.update_id, BotUpdate.attempts).where(
                BotUpdate.update_id.in_(sorted(ids)), BotUpdate.processed_at.is_(None)
            )
        )
        return {update_id: attempts for update_id, attempts in rows}


async def claim_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    limit: int = 500,
    lease: timedelta = LEASE,
) -> list[Due]:
    """Take pending updates whose next attempt is due, oldest first (Telegram's order), and
    lease them to this instance. PostgreSQL skips rows another instance holds locked
    (claiming or handling); SQLite's write lock serialises claims."""
    now = clock.now()
    async with sessionmaker() as session:
        stmt = (
            select(BotUpdate.update_id, BotUpdate.payload, BotUpdate.attempts)
            .where(BotUpdate.processed_at.is_(None), BotUpdate.next_attempt_at <= now)
            .order_by(BotUpdate.update_id)
            .limit(limit)
        )
        if is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        due = [
            Due(uid, payload, attempts) for uid, payload, attempts in await session.execute(stmt)
        ]
        if due:
            await session.execute(
                update(BotUpdate)
                .where(BotUpdate.update_id.in_([d.update_id for d in due]))
                .values(next_attempt_at=now + lease)
                .execution_options(synchronize_session=False)
            )
        await session.commit()
        return due


async def set_lease(
    sessionmaker: async_sessionmaker[AsyncSession],
    held: Mapping[int, int],
    until: datetime,
    *,
    held_at: datetime | None = None,
) -> None:
    """Move the lease of pending updates (id -> failed attempts as the holder knows them):
    ahead while they wait in our lanes (renew), or to now when we stop without handling
    them (release, so another instance need not wait). An update whose attempt failed
    since keeps its backoff: its row counts one attempt more than the holder knows.
    `held_at`: only leases still running at that moment (a heartbeat extends what it holds)."""
    by_attempts: dict[int, list[int]] = {}
    for update_id, attempts in held.items():
        by_attempts.setdefault(attempts, []).append(update_id)
    if not by_attempts:
        return
    running = [BotUpdate.next_attempt_at > held_at] if held_at is not None else []
    async with sessionmaker() as session:
        for attempts, ids in sorted(by_attempts.items()):
            ids.sort()
            for start in range(0, len(ids), INSERT_CHUNK):
                await session.execute(
                    update(BotUpdate)
                    .where(
                        BotUpdate.update_id.in_(ids[start : start + INSERT_CHUNK]),
                        BotUpdate.attempts == attempts,
                        BotUpdate.processed_at.is_(None),
                        *running,
                    )
                    .values(next_attempt_at=until)
                    .execution_options(synchronize_session=False)
                )
        await session.commit()


async def prune_handled(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Forget handled ids after a week: Telegram stops redelivering long before that."""
    async with sessionmaker() as session:
        result = await session.execute(
            delete(BotUpdate).where(
                BotUpdate.processed_at.is_not(None), BotUpdate.processed_at < now - KEEP_HANDLED
            )
        )
        await session.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
