"""The bot desk for tests: the real dispatcher from create_dispatcher, a recording Bot API
session at the edge, the real database underneath, a frozen clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Bot, Dispatcher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dispatcher import create_dispatcher
from bot.new_ticket import NewStep
from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import ContactPerson, Ticket, TicketCategory, TicketMessage
from storage.objectstore.local import LocalObjectStore
from storage.services.tickets import TicketService
from tests.telegram_fake import TOKEN, RecordingSession

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
USER = 5001
OTHER = 5002


class Desk:
    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        api: RecordingSession,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: FrozenClock,
    ) -> None:
        self.dp, self.bot, self.api, self.sessionmaker, self.clock = (
            dp,
            bot,
            api,
            sessionmaker,
            clock,
        )

    async def feed(self, update) -> None:  # type: ignore[no-untyped-def]
        await self.dp.feed_update(self.bot, update)

    async def tickets(self, user_id: int = USER) -> list[Ticket]:
        async with self.sessionmaker() as s:
            rows = await s.scalars(
                select(Ticket)
                .join(ContactPerson, Ticket.contact_id == ContactPerson.id)
                .where(ContactPerson.telegram_user_id == user_id)
                .order_by(Ticket.id)
            )
            return list(rows)

    async def texts(self, ticket_id: int) -> list[str]:
        async with self.sessionmaker() as s:
            rows = await s.scalars(
                select(TicketMessage.text)
                .where(TicketMessage.ticket_id == ticket_id)
                .order_by(TicketMessage.id)
            )
            return list(rows)

    def new_step(self, action: str, category: TicketCategory | None = None) -> str:
        """The callback data of the latest /new button for `action` the bot sent (buttons
        carry their flow's number, so tests press what was shown)."""
        for call in reversed(self.api.calls("sendMessage")):
            markup = call.reply_markup  # type: ignore[attr-defined]
            for row in markup.inline_keyboard if markup is not None else []:
                for button in row:
                    data = button.callback_data or ""
                    if not data.startswith(f"{NewStep.__prefix__}:"):
                        continue
                    step = NewStep.unpack(data)
                    if step.action == action and step.category == category:
                        return data
        raise AssertionError(f"no /new button {action} {category} was sent")

    async def contact(self, user_id: int = USER) -> ContactPerson | None:
        async with self.sessionmaker() as s:
            return await s.scalar(
                select(ContactPerson).where(ContactPerson.telegram_user_id == user_id)
            )


@asynccontextmanager
async def open_desk(
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    settings: Settings,
    api: RecordingSession | None = None,
) -> AsyncIterator[Desk]:
    """A desk for one test; the test fails if the bot made an API call the fake refuses."""
    clock = FrozenClock(START)
    dp = create_dispatcher(
        sessionmaker=session_factory,
        ticket_service=TicketService(clock),
        object_store=LocalObjectStore(tmp_path / "objects"),
        settings=settings,
        clock=clock,
    )
    api = api or RecordingSession()
    bot = Bot(TOKEN, session=api)
    yield Desk(dp, bot, api, session_factory, clock)
    assert api.unexpected == [], f"unexpected Bot API calls: {api.unexpected}"
