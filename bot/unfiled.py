"""The bot runtime's loop for unfiled messages: the customer did not pick a ticket, so the
question is asked once more after SUPPORTDESK_UNFILED_AFTER/2 minutes, and the message is
filed on their most recent open ticket after SUPPORTDESK_UNFILED_AFTER minutes, with the
file it came with (fetched from Telegram then); the service functions are
storage.services.unfiled.remind_waiting and file_waiting_each."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.attachments import (
    MediaFile,
    NotStored,
    not_stored_note,
    put_telegram_file,
    refusal_text,
)
from bot.callbacks import ticket_buttons
from bot.texts import translate
from storage.clock import Clock
from storage.models import Ticket
from storage.objectstore import ObjectStore, ObjectStoreError
from storage.retention.pending import clear_pending, record_pending
from storage.services.tickets import TicketService
from storage.services.unfiled import (
    FiledNotice,
    HeldFile,
    TicketQuestion,
    file_waiting_each,
    remind_waiting,
)

log = logging.getLogger(__name__)

BATCH = 50


class HeldFileFetcher:
    """storage.services.unfiled.HeldFiles: a held message's file, fetched from Telegram into
    the object store as if the customer had picked the ticket (bot/conversation.py), with no
    transaction open. Its key is committed to pending_objects before the write, so a file
    whose filing never commits is removed by `discard` or, failing that, by the sweep."""

    def __init__(
        self, bot: Bot, object_store: ObjectStore, clock: Clock, i18n: I18n, limit: int
    ) -> None:
        self.bot, self.object_store, self.clock = bot, object_store, clock
        self.i18n, self.limit = i18n, limit

    async def fetch(
        self, sessions: async_sessionmaker[AsyncSession], held_id: int, media: dict[str, Any]
    ) -> HeldFile:
        ref = MediaFile(**media)
        # Unique per attempt: two instances fetching one message never share an object.
        key = f"attachments/held/{held_id}/{ref.unique_id}-{uuid.uuid4().hex}"
        async with sessions() as session:
            record_pending(session, key, self.clock.now())
            await session.commit()
        try:
            put = await put_telegram_file(
                ref, key, bot=self.bot, object_store=self.object_store, limit=self.limit
            )
        except ObjectStoreError:  # the write may still land: the record stays for the sweep
            raise
        except Exception:  # Telegram away: nothing was written
            await _forget(sessions, key)
            raise
        filename, media_type = str(ref.filename), str(ref.media_type)
        if isinstance(put, NotStored):
            await _forget(sessions, key)  # nothing was written
            return HeldFile(filename, media_type, not_stored=not_stored_note(put), detail=put)
        return HeldFile(filename, media_type, stored=put)

    async def discard(self, sessions: async_sessionmaker[AsyncSession], held: HeldFile) -> None:
        assert held.stored is not None
        try:
            await self.object_store.delete(held.stored.key, version_id=held.stored.version_id)
        except Exception as exc:  # the pending record stays: the sweep removes it
            log.error("removing an unfiled held file failed: %s", type(exc).__name__)
            return
        await _forget(sessions, held.stored.key)

    def refusal(self, language: str, held: HeldFile, reference: str) -> str | None:
        if not isinstance(held.detail, NotStored):
            return None
        with self.i18n.context():  # the refusal is in the customer's language
            return refusal_text(language, held.detail, self.limit, reference)


async def _forget(sessions: async_sessionmaker[AsyncSession], key: str) -> None:
    async with sessions() as session:
        await clear_pending(session, key)
        await session.commit()


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
    """Run until cancelled: file what waited longer than `wait` (a transaction per message)
    and ask again about what waited half of it (a batch per transaction); idle `interval`
    seconds when nothing is left."""
    while True:
        # Each message in its own transaction, its file fetched before it.
        filed = await _guarded(
            file_waiting_each(
                sessionmaker,
                ticket_service,
                notice,
                files,
                cutoff=clock.now() - wait,
                limit=BATCH,
            )
        )
        asked = await _guarded(_remind(sessionmaker, ticket_service, question, wait))
        if filed < BATCH and asked < BATCH:
            await asyncio.sleep(interval)


async def _remind(
    sessionmaker: async_sessionmaker[AsyncSession],
    ticket_service: TicketService,
    question: TicketQuestion,
    wait: timedelta,
) -> int:
    async with sessionmaker() as session:
        asked = await remind_waiting(
            session, ticket_service, question, wait=wait, remind_after=wait / 2, limit=BATCH
        )
        await session.commit()
    return asked


async def _guarded(work: Awaitable[int]) -> int:
    try:
        return await work
    except Exception:
        log.warning("unfiled messages: round failed; tried again later", exc_info=True)
        return 0
