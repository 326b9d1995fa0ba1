"""The bot runtime's loop for unfiled messages: the customer did not pick a ticket, so the
question is asked once more after SUPPORTDESK_UNFILED_AFTER/2 minutes, and the message is
filed on their most recent open ticket after SUPPORTDESK_UNFILED_AFTER minutes; the service
functions are storage.services.unfiled.remind_waiting and file_waiting."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from aiogram.methods import SendMessage
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.callbacks import ticket_buttons
from bot.texts import translate
from storage.clock import Clock
from storage.models import Ticket
from storage.services.tickets import TicketService
from storage.services.unfiled import FiledNotice, TicketQuestion, file_waiting, remind_waiting

log = logging.getLogger(__name__)

BATCH = 50


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
    interval: float = 30.0,
) -> None:
    """Run until cancelled: file what waited longer than `wait` and ask again about what
    waited half of it, a batch per transaction; idle `interval` seconds when nothing is
    left."""
    while True:
        try:
            async with sessionmaker() as session:
                filed = await file_waiting(
                    session, ticket_service, notice, cutoff=clock.now() - wait, limit=BATCH
                )
                asked = await remind_waiting(
                    session, ticket_service, question, wait=wait, remind_after=wait / 2, limit=BATCH
                )
                await session.commit()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("filing unfiled messages failed")
            filed = asked = 0
        if filed < BATCH and asked < BATCH:
            await asyncio.sleep(interval)
