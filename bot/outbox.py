"""The outbox worker: everything the bot says goes out from the `outbox` table, in order per
chat, retried until Telegram confirms it (storage/models/bot_transport.py: OutboxMessage).

Order: a row is sent only when no earlier row of its chat is still pending (the chat's
"head"), so after an outage reply A still arrives before reply B, and a confirmation before
the next question. Rows are ordered by id: two transactions writing to one chat at the same
moment have no order between them; one that committed before the other started always comes
first.

Claims: a row is taken with a compare-and-set UPDATE that leases it (leased_until), so two
instances never send the same row at the same time; a crashed sender's row is due again when
the lease runs out.

Idempotence: a sent row records Telegram's message_id and is never sent again. When the call
failed without an answer (a timeout or dropped connection after the request went out),
Telegram may have shown the message; the row is retried anyway - at-least-once, a rare
duplicate rather than a lost answer (README, "Bot outbox").

429: the session's RetryAfterMiddleware (bot/retry.py) waits a short retry_after; a longer one
(or one that persists) makes the row due after retry_after. Only that chat waits: its later
rows are behind the head, other chats' rows go on, each chat in its own task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.types import Message
from sqlalchemy import bindparam, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot import answers
from bot.delivery import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    MAX_ATTEMPTS,
    Undeliverable,
    record_reply,
    send_reply,
    undeliverable,
)
from bot.reply_edit_delivery import carry_edit, record_edit
from storage.clock import Clock
from storage.models import DeliveryState, MessageEdit, OutboxMessage, OutboxState, TicketMessage
from storage.services.outbox import REPLY, REPLY_EDIT

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # longer than a send with its 429 waits (bot/retry.py)
CONCURRENT_CHATS = 8
ANSWER_METHODS: dict[str, type[TelegramMethod[object]]] = {
    cls.__api_method__: cls for cls in answers.DEFERRED
}
# Once sent, what was said is in the chat (and a reply's text in its ticket): the row keeps
# only that it went out and Telegram's message id, not the words.
SENT_PAYLOAD = "{}"
_OUTCOME = {
    OutboxState.SENT: DeliveryState.SENT,
    OutboxState.PENDING: DeliveryState.PENDING,
    OutboxState.FAILED: DeliveryState.FAILED,
    OutboxState.UNDELIVERABLE: DeliveryState.UNDELIVERABLE,
}


@dataclass(frozen=True)
class Claimed:
    id: int
    chat_id: int
    method: str
    payload: str
    attempts: int
    ticket_message_id: int | None
    message_edit_id: int | None


def _due(now: datetime, claimed_together: Collection[int] = ()) -> list[object]:
    """Pending, due, not leased, and first in its chat (but for rows claimed with it)."""
    earlier = aliased(OutboxMessage)
    ahead = [
        earlier.chat_id == OutboxMessage.chat_id,
        earlier.state == OutboxState.PENDING,
        earlier.id < OutboxMessage.id,
    ]
    if claimed_together:
        ahead.append(earlier.id.not_in(sorted(claimed_together)))
    return [
        OutboxMessage.state == OutboxState.PENDING,
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.leased_until.is_(None), OutboxMessage.leased_until <= now),
        ~exists().where(*ahead),
    ]


async def due_heads(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    limit: int,
    *,
    chat_id: int | None = None,
    methods: Collection[str] | None = None,
) -> list[int]:
    """Ids of due rows that are first in their chat, oldest first."""
    stmt = select(OutboxMessage.id).where(*_due(clock.now()))
    if chat_id is not None:
        stmt = stmt.where(OutboxMessage.chat_id == chat_id)
    if methods is not None:
        stmt = stmt.where(OutboxMessage.method.in_(sorted(methods)))
    async with sessionmaker() as session:
        return list(await session.scalars(stmt.order_by(OutboxMessage.id).limit(limit)))


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, row_id: int
) -> Claimed | None:
    """Take the row if it is due and first in its chat: one compare-and-set UPDATE."""
    now = clock.now()
    async with sessionmaker() as session:
        row = (
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, *_due(now))
                .values(attempts=OutboxMessage.attempts + 1, leased_until=now + LEASE)
                .returning(*_CLAIMED)
                .execution_options(synchronize_session=False)
            )
        ).one_or_none()
        await session.commit()
        return Claimed(*row) if row is not None else None


_CLAIMED = (
    OutboxMessage.id,
    OutboxMessage.chat_id,
    OutboxMessage.method,
    OutboxMessage.payload,
    OutboxMessage.attempts,
    OutboxMessage.ticket_message_id,
    OutboxMessage.message_edit_id,
)


async def _send(
    bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], claimed: Claimed
) -> int | None:
    """One attempt; the Telegram message id when the call created a message."""
    if claimed.method == REPLY and claimed.ticket_message_id is not None:
        return await send_reply(bot, sessionmaker, claimed.ticket_message_id)
    if claimed.method == REPLY_EDIT and claimed.message_edit_id is not None:
        await carry_edit(bot, sessionmaker, claimed.message_edit_id)
        return None
    kind = ANSWER_METHODS.get(claimed.method)
    if kind is None:
        raise Undeliverable(f"unknown outbox method {claimed.method}")
    result = await bot(kind.model_validate_json(claimed.payload))
    return result.message_id if isinstance(result, Message) else None


def _final_state(claimed: Claimed, exc: Exception) -> OutboxState | None:
    """The state a failure ends in; None: try again later."""
    if isinstance(exc, Undeliverable) or undeliverable(exc):
        return OutboxState.UNDELIVERABLE
    if isinstance(exc, TelegramBadRequest):  # Telegram will refuse it again
        if claimed.method == REPLY_EDIT:
            return OutboxState.UNDELIVERABLE
        return OutboxState.FAILED
    if claimed.attempts >= MAX_ATTEMPTS:
        return OutboxState.FAILED
    return None


def _retry_in(claimed: Claimed, exc: Exception) -> timedelta:
    if isinstance(exc, TelegramRetryAfter):
        return timedelta(seconds=exc.retry_after)
    return min(BACKOFF_BASE * 2 ** (claimed.attempts - 1), BACKOFF_MAX)


async def deliver_row(
    bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, row_id: int
) -> OutboxState | None:
    """Claim, send with no transaction open, record. None if someone else has it."""
    claimed = await _claim(sessionmaker, clock, row_id)
    if claimed is None:
        return None
    try:
        telegram_id = await _send(bot, sessionmaker, claimed)
    except Exception as exc:
        return await _record_failure(sessionmaker, clock, claimed, exc)
    return await _record(sessionmaker, clock, claimed, OutboxState.SENT, None, None, telegram_id)


async def _record_failure(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, claimed: Claimed, exc: Exception
) -> OutboxState | None:
    """TelegramAPIError, the network under it, Undeliverable: retried later, or final."""
    error = f"{type(exc).__name__}: {exc}"[:500]
    log.warning("outbox %s %s failed: %s", claimed.method, claimed.id, error)
    state = _final_state(claimed, exc)
    retry_at = clock.now() + _retry_in(claimed, exc) if state is None else None
    return await _record(
        sessionmaker, clock, claimed, state or OutboxState.PENDING, error, retry_at, None
    )


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    claimed: Claimed,
    state: OutboxState,
    error: str | None,
    retry_at: datetime | None,
    telegram_id: int | None,
) -> OutboxState | None:
    now = clock.now()
    if state == OutboxState.SENT and claimed.method in ANSWER_METHODS:
        return await _record_sent_answer(sessionmaker, claimed, now, telegram_id)
    async with sessionmaker() as session:
        row = await session.get(OutboxMessage, claimed.id, populate_existing=True)
        # Our lease ran out and another instance re-claimed the row: its result wins.
        if row is None or row.attempts != claimed.attempts:
            return None
        row.state = state
        row.leased_until = None
        row.last_error = error
        if error is not None:
            row.failed_attempts += 1
            row.failing_since = row.failing_since or now
        if state == OutboxState.SENT:
            row.sent_at, row.sent_message_id, row.failing_since = now, telegram_id, None
            row.payload = SENT_PAYLOAD
        if retry_at is not None:
            row.next_attempt_at = retry_at
        await _mirror(session, row, retry_at, telegram_id)
        await session.commit()
        return state


async def _record_sent_answer(
    sessionmaker: async_sessionmaker[AsyncSession],
    claimed: Claimed,
    now: datetime,
    telegram_id: int | None,
) -> OutboxState | None:
    """The common case in one statement: an answer went out (nothing to mirror)."""
    async with sessionmaker() as session:
        result = await session.execute(
            update(OutboxMessage)
            # Our lease ran out and another instance re-claimed the row: its result wins.
            .where(OutboxMessage.id == claimed.id, OutboxMessage.attempts == claimed.attempts)
            .values(
                state=OutboxState.SENT,
                leased_until=None,
                last_error=None,
                failing_since=None,
                sent_at=now,
                sent_message_id=telegram_id,
                payload=SENT_PAYLOAD,
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    return OutboxState.SENT if result.rowcount == 1 else None  # type: ignore[attr-defined]


async def _mirror(
    session: AsyncSession,
    row: OutboxMessage,
    retry_at: datetime | None,
    telegram_id: int | None,
) -> None:
    """The reply (or edit) shows its row's state: the ticket page and API read it there."""
    state = _OUTCOME[row.state]
    if row.ticket_message_id is not None:
        message = await session.get(TicketMessage, row.ticket_message_id, populate_existing=True)
        if message is not None:
            record_reply(
                message,
                attempts=row.attempts,
                state=state,
                error=row.last_error,
                retry_at=retry_at,
                failing_since=row.failing_since if state == DeliveryState.PENDING else None,
                chat_id=row.chat_id,
                telegram_id=telegram_id,
            )
    if row.message_edit_id is not None:
        edit = await session.get(MessageEdit, row.message_edit_id, populate_existing=True)
        if edit is not None:
            record_edit(
                edit, attempts=row.attempts, state=state, error=row.last_error, retry_at=retry_at
            )


async def deliver_pending(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    limit: int = 20,
    *,
    methods: Collection[str] | None = None,
) -> int:
    """One round: the due head of up to `limit` chats, the chats side by side (a chat
    waiting out a 429 holds up only itself). Returns how many rows were handled."""
    heads = await due_heads(sessionmaker, clock, limit, methods=methods)
    gate = asyncio.Semaphore(CONCURRENT_CHATS)

    async def one(row_id: int) -> bool:
        async with gate:
            return await deliver_row(bot, sessionmaker, clock, row_id) is not None

    return sum(await asyncio.gather(*(one(row_id) for row_id in heads)))


async def deliver_pending_edits(
    bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, limit: int = 20
) -> int:
    """A round of reply edits only (whose reply, earlier in the chat, went out)."""
    return await deliver_pending(bot, sessionmaker, clock, limit, methods=(REPLY_EDIT,))


async def deliver_now(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    rows: list[OutboxMessage],
) -> None:
    """Right after a commit: send the rows it queued, each chat in order until one is not
    sent (it failed, or waits behind an earlier row of its chat): the worker goes on from
    there. Their ids are known, so no search for the chat's head is needed. All of them are
    claimed in one statement and the answers among them recorded in one: a commit of many
    users' updates (bot/processor.py) costs two round trips here, not two per answer."""
    chats: dict[int, list[int]] = {}
    for row in sorted(rows, key=lambda row: row.id):
        chats.setdefault(row.chat_id, []).append(row.id)
    if not chats:
        return
    claimed: dict[int, list[Claimed]] = {}
    for row in await _claim_all(sessionmaker, clock, [i for ids in chats.values() for i in ids]):
        claimed.setdefault(row.chat_id, []).append(row)
    gate = asyncio.Semaphore(CONCURRENT_CHATS)
    sent_answers: list[tuple[Claimed, int | None]] = []

    async def chat(rows: list[Claimed]) -> None:
        rows.sort(key=lambda row: row.id)
        if [row.id for row in rows] != chats[rows[0].chat_id][: len(rows)]:
            await _unclaim(sessionmaker, rows)  # an earlier one is not ours to send now
            return
        async with gate:
            for done, row in enumerate(rows):
                if await _deliver_claimed(bot, sessionmaker, clock, row, sent_answers) != (
                    OutboxState.SENT
                ):
                    await _unclaim(sessionmaker, rows[done + 1 :])
                    return

    try:
        await asyncio.gather(*(chat(rows) for rows in claimed.values()))
    finally:
        await _record_sent_answers(sessionmaker, clock.now(), sent_answers)


async def _claim_all(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, row_ids: list[int]
) -> list[Claimed]:
    """`_claim` for several rows in one statement; rows of one chat are taken together (each
    due behind the earlier ones of the set), and sent in order by the caller."""
    now = clock.now()
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(sorted(row_ids)), *_due(now, row_ids))
                .values(attempts=OutboxMessage.attempts + 1, leased_until=now + LEASE)
                .returning(*_CLAIMED)
                .execution_options(synchronize_session=False)
            )
        ).all()
        await session.commit()
    return [Claimed(*row) for row in rows]


async def _unclaim(sessionmaker: async_sessionmaker[AsyncSession], rows: list[Claimed]) -> None:
    """Give back claimed rows that were not tried: due at once for the worker, in order."""
    await _update_claimed(
        sessionmaker,
        {"attempts": OutboxMessage.__table__.c.attempts - 1, "leased_until": None},
        [{"row_id": row.id, "row_attempts": row.attempts} for row in rows],
    )


async def _update_claimed(
    sessionmaker: async_sessionmaker[AsyncSession],
    values: dict[str, object],
    rows: list[dict[str, object]],
) -> None:
    """One UPDATE for many claimed rows (a parameter list), each only while the claim is
    ours: a row another instance re-claimed after our lease ran out keeps its result."""
    if not rows:
        return
    table = OutboxMessage.__table__
    async with sessionmaker() as session:
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"), table.c.attempts == bindparam("row_attempts"))
            .values(**values),
            rows,
        )
        await session.commit()


async def _deliver_claimed(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    claimed: Claimed,
    noted: list[tuple[Claimed, int | None]],
) -> OutboxState | None:
    """Send a claimed row; a sent answer is only noted, for `_record_sent_answers`."""
    try:
        telegram_id = await _send(bot, sessionmaker, claimed)
    except Exception as exc:
        return await _record_failure(sessionmaker, clock, claimed, exc)
    if claimed.method in ANSWER_METHODS:
        noted.append((claimed, telegram_id))
        return OutboxState.SENT
    return await _record(sessionmaker, clock, claimed, OutboxState.SENT, None, None, telegram_id)


async def _record_sent_answers(
    sessionmaker: async_sessionmaker[AsyncSession],
    now: datetime,
    sent: list[tuple[Claimed, int | None]],
) -> None:
    """`_record_sent_answer` for many rows, in one statement."""
    await _update_claimed(
        sessionmaker,
        {
            "state": OutboxState.SENT,
            "leased_until": None,
            "last_error": None,
            "failing_since": None,
            "sent_at": now,
            "sent_message_id": bindparam("telegram_id"),
            "payload": SENT_PAYLOAD,
        },
        [
            {"row_id": c.id, "row_attempts": c.attempts, "telegram_id": telegram_id}
            for c, telegram_id in sent
        ],
    )


KEEP_SENT = timedelta(days=7)


async def prune_sent(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Forget rows finished over a week ago (their message id lives on in the reply)."""
    async with sessionmaker() as session:
        result = await session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.state != OutboxState.PENDING,
                OutboxMessage.created_at < now - KEEP_SENT,
            )
        )
        await session.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
