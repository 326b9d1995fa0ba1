"""The bot runtime's loop for unfiled messages: the customer did not pick a ticket, so the
question is asked once more after SUPPORTDESK_UNFILED_AFTER/2 minutes, and the message is
filed on their most recent open ticket after SUPPORTDESK_UNFILED_AFTER minutes, with the
file it came with (fetched from Telegram then); the service functions are
storage.services.unfiled.remind_waiting and file_waiting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.attachments import attach_telegram_file
from bot.callbacks import ticket_buttons
from bot.middlewares import RollbackHook
from bot.texts import translate
from storage.clock import Clock
from storage.models import Ticket, TicketMessage
from storage.objectstore import ObjectStore
from storage.services.tickets import TicketService
from storage.services.unfiled import FiledNotice, TicketQuestion, file_waiting, remind_waiting

log = logging.getLogger(__name__)

BATCH = 50


class HeldFileFetcher:
    """storage.services.unfiled.HeldFiles: a held message's file, fetched from Telegram into
    the object store as if the customer had picked the ticket (bot/conversation.py). The
    objects stored in a round are removed again if its transaction does not commit
    (`undo`; `committed` forgets them)."""

    def __init__(
        self, bot: Bot, object_store: ObjectStore, clock: Clock, i18n: I18n, limit: int
    ) -> None:
        self.bot, self.object_store, self.clock = bot, object_store, clock
        self.i18n, self.limit = i18n, limit
        self.on_rollback: list[RollbackHook] = []

    async def __call__(
        self,
        session: AsyncSession,
        media: dict[str, Any],
        *,
        ticket: Ticket,
        stored: TicketMessage,
        language: str,
    ) -> str | None:
        mine: list[RollbackHook] = []
        try:
            with self.i18n.context():  # the refusal is in the customer's language
                return await attach_telegram_file(
                    media,
                    ticket=ticket,
                    stored=stored,
                    language=language,
                    bot=self.bot,
                    session=session,
                    object_store=self.object_store,
                    on_rollback=mine,
                    clock=self.clock,
                    limit=self.limit,
                )
        except Exception:  # the caller rolls this message back: so does its object
            await _undo(mine)
            raise
        finally:
            self.on_rollback.extend(mine)

    def committed(self) -> None:
        self.on_rollback.clear()

    async def undo(self) -> None:
        hooks, self.on_rollback = self.on_rollback, []
        await _undo(hooks)


async def _undo(hooks: list[RollbackHook]) -> None:
    for hook in reversed(hooks):
        try:
            await hook()
        except Exception as exc:  # the leftover object is named in the log
            log.error("removing a held file after a rollback failed: %s", type(exc).__name__)


class TicketQuestionAgain:
    """storage.services.unfiled.TicketQuestion: which_ticket_again with the ticket buttons,
    the same buttons as the first question (bot/filing.py)."""

    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    def __call__(
        self,
        language: str,
        chat_id: int,
        held_id: int,
        open_tickets: list[Ticket],
        minutes: int,
    ) -> tuple[str, str]:
        text = translate(
            self.i18n,
            language,
            "which_ticket_again",
            reference=open_tickets[0].reference,  # most recent activity first
            minutes=minutes,
        )
        new_label = translate(self.i18n, language, "new_ticket_button")
        call = SendMessage(
            chat_id=chat_id,
            text=text,
            reply_markup=ticket_buttons(held_id, open_tickets, new_label),
        )
        # Serialised as bot/answers.py does: the outbox worker validates it back.
        return call.__api_method__, call.model_dump_json(exclude_none=True, exclude_defaults=True)


async def unfiled_loop(
    sessionmaker: async_sessionmaker[AsyncSession],
    ticket_service: TicketService,
    clock: Clock,
    notice: FiledNotice,
    question: TicketQuestion,
    *,
    wait: timedelta,
    files: HeldFileFetcher | None = None,
    interval: float = 30.0,
) -> None:
    """Run until cancelled: file what waited longer than `wait` and ask again about what
    waited half of it, a batch per transaction; idle `interval` seconds when nothing is
    left."""
    while True:
        filed = await _round(
            sessionmaker,
            lambda session: file_waiting(
                session,
                ticket_service,
                notice,
                cutoff=clock.now() - wait,
                limit=BATCH,
                files=files,
            ),
            files,
        )
        # Its own transaction: asked even while filing waits for Telegram (a held file).
        asked = await _round(
            sessionmaker,
            lambda session: remind_waiting(
                session, ticket_service, question, wait=wait, remind_after=wait / 2, limit=BATCH
            ),
            None,
        )
        if filed < BATCH and asked < BATCH:
            await asyncio.sleep(interval)


async def _round(
    sessionmaker: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[int]],
    files: HeldFileFetcher | None,
) -> int:
    try:
        async with sessionmaker() as session:
            done = await work(session)
            await session.commit()
    except BaseException as exc:
        if files is not None:
            await files.undo()
        if not isinstance(exc, Exception):
            raise
        log.warning("unfiled messages: round failed; tried again later", exc_info=True)
        return 0
    if files is not None:
        files.committed()
    return done
