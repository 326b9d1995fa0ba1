"""Update-level middlewares: one database session per update, then the contact."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import answers, outbox
from bot.contacts import Known, resolve_contact
from bot.inbox import AlreadyHandled, mark_handled
from storage.clock import Clock
from storage.models import OutboxMessage
from storage.services.tickets import prefetched_open_tickets

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
RollbackHook = Callable[[], Awaitable[object]]

log = logging.getLogger(__name__)


@dataclass
class InboxBatch:
    """Several queued updates handled in one transaction (bot/processor.py):
    the processor owns the session and commits once; each update's answers and undo steps
    wait here until that commit, or its rollback."""

    session: AsyncSession
    marked: set[int] = field(default_factory=set)  # marked handled in this transaction
    # Each user's contact and open tickets, read for all of them at once, then handed
    # from each of the user's updates to the next while the ticket service keeps the
    # tickets current (a change it cannot follow makes the next update read again).
    contacts: dict[int, Known] = field(default_factory=dict)
    # Only between updates handled in moments: a file's download would widen the time in
    # which a change by staff goes unseen.
    hand_off: bool = True
    queued: list[OutboxMessage] = field(default_factory=list)  # their answers, in order
    on_rollback: list[RollbackHook] = field(default_factory=list)

    async def undo(self) -> None:
        await _undo(self.on_rollback)


class DbSessionMiddleware(BaseMiddleware):
    """Opens one AsyncSession per update; commits after the handler, rolls back on error.

    An update from the inbox is marked handled first, in the same transaction, so its
    effects and 'handled' commit together and a second instance handling the same update
    waits on the row and then skips it (bot/inbox.py). Handlers register undo steps for work
    outside the database (an object put into the store) in `on_rollback`; they run when the
    transaction fails. What the handler tells the customer goes into the outbox in the same
    transaction (bot/answers.py) and is sent after the commit, never for one rolled back.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        batch: InboxBatch | None = data.get("inbox_batch")
        if batch is not None:
            return await self._in_batch(batch, handler, event, data)
        on_rollback: list[RollbackHook] = []
        outcome = data.get("inbox_outcome")
        bot: Bot = data["bot"]
        answers.install(bot)
        async with self.sessionmaker() as session:
            data["session"] = session
            data["on_rollback"] = on_rollback
            try:
                update_id = data.get("inbox_update_id")
                if update_id is not None:
                    clock: Clock = data["clock"]
                    await mark_handled(session, update_id, clock.now())
                with answers.deferred() as said:
                    result = await handler(event, data)
                queued = _queue_answers(session, said, data)
                await session.commit()
            except AlreadyHandled:
                await session.rollback()
                log.info("bot update %s was handled elsewhere; skipped", update_id)
                result, queued = None, []
            except BaseException as exc:
                if outcome is not None:
                    outcome.error = type(exc).__name__
                await session.rollback()
                await _undo(on_rollback)
                raise
        if outcome is not None:
            outcome.handled = True
        # Sent now; what fails (or waits behind an earlier row) goes with the outbox worker.
        await outbox.deliver_now(bot, self.sessionmaker, data["clock"], queued)
        return result

    async def _in_batch(
        self, batch: InboxBatch, handler: Handler, event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        """As above, in the batch's transaction: nothing is committed, rolled back or sent
        here; a failure propagates and the processor rolls the whole batch back."""
        outcome = data.get("inbox_outcome")
        answers.install(data["bot"])
        data["session"] = batch.session
        data["on_rollback"] = batch.on_rollback
        update_id = data["inbox_update_id"]
        # The processor marked the batch handled up front; an update it could not mark was
        # handled elsewhere and changed nothing, so the batch goes on without it.
        if update_id not in batch.marked:
            log.info("bot update %s was handled elsewhere; skipped", update_id)
            result = None
        else:
            try:
                with answers.deferred() as said:
                    result = await handler(event, data)
            except BaseException as exc:
                if outcome is not None:
                    outcome.error = type(exc).__name__
                raise
            batch.queued.extend(_queue_answers(batch.session, said, data))
        if outcome is not None:
            outcome.handled = True
        return result


def _queue_answers(
    session: AsyncSession, said: list[Any], data: dict[str, Any]
) -> list[OutboxMessage]:
    """The handler's answers into the outbox, in its transaction."""
    if not said:
        return []
    chat = data.get("event_chat")
    user = data.get("event_from_user")
    chat_id = chat.id if chat is not None else user.id if user is not None else None
    if chat_id is None:
        chat_id = getattr(said[0], "chat_id", None)
    if not isinstance(chat_id, int):
        log.warning("bot answers without a chat dropped: %s", said[0].__api_method__)
        return []
    clock: Clock = data["clock"]
    return answers.enqueue(session, chat_id, said, clock.now())


async def _undo(hooks: list[RollbackHook]) -> None:
    for hook in reversed(hooks):
        try:
            await hook()
        except Exception as exc:  # keep undoing the rest; the leftover is named in the log
            log.error("undo after a failed bot update failed: %s", type(exc).__name__)


class ContactMiddleware(BaseMiddleware):
    """Resolves (creates on first contact) the ContactPerson of the update's user."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        chat = data.get("event_chat")
        private = chat is None or chat.type == "private"
        if user is not None and not user.is_bot and private:
            clock: Clock = data["clock"]
            batch: InboxBatch | None = data.get("inbox_batch")
            known = batch.contacts.pop(user.id, None) if batch is not None else None
            session: AsyncSession = data["session"]
            contact = await resolve_contact(session, clock, user, data.get("event_chat"), known)
            data["contact"] = contact
            data["lang"] = contact.language
            result = await handler(event, data)
            if batch is not None and batch.hand_off:
                tickets = prefetched_open_tickets(session, contact.id)
                if tickets is not None:
                    batch.contacts[user.id] = (contact, tickets)
            return result
        return await handler(event, data)
