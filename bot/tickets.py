"""Customer text into tickets; /tickets, /close, /language and their buttons."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filing import file_text
from bot.filters import Magic
from bot.telegram_text import split_text
from bot.texts import LANGUAGES, moment_text, t
from storage.clock import Clock
from storage.config import Settings
from storage.models import ContactPerson, Ticket
from storage.services.audit import Actor
from storage.services.errors import NotFound
from storage.services.tickets import TicketService


class CloseTicket(CallbackData, prefix="close"):
    ticket_id: int


class SetLanguage(CallbackData, prefix="lang"):
    language: str


def language_keyboard() -> InlineKeyboardMarkup:
    """Each language named in itself: the choice must be readable before it is made."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="Nederlands", callback_data=SetLanguage(language="nl").pack()
                ),
                InlineKeyboardButton(
                    text="English", callback_data=SetLanguage(language="en").pack()
                ),
            ]
        ]
    )


def closed_text(lang: str, ticket: Ticket, remaining: list[Ticket]) -> str:
    """What closing `ticket` leaves open, and where the customer's next message goes."""
    if not remaining:
        return t(lang, "closed", reference=ticket.reference)
    names = ", ".join(f"{x.reference} ({x.subject[:40]})" for x in remaining)
    key = "closed_one_left" if len(remaining) == 1 else "closed_several_left"
    return t(lang, key, reference=ticket.reference, remaining=names)


def create_router() -> Router:
    router = Router(name="tickets")

    @router.message(Command("tickets"))
    async def list_tickets(
        message: Message,
        session: AsyncSession,
        contact: ContactPerson,
        ticket_service: TicketService,
        settings: Settings,
    ) -> None:
        lang = contact.language
        tickets = await ticket_service.open_tickets_of(session, contact.id)
        if not tickets:
            await message.answer(t(lang, "no_open"))
            return
        lines = [t(lang, "tickets_header")]
        for ticket in tickets:
            activity = ticket.last_activity_at.astimezone(settings.zone)
            lines.append(
                t(
                    lang,
                    "ticket_line",
                    reference=ticket.reference,
                    status=t(lang, f"status_{ticket.status.value}"),
                    activity=moment_text(lang, activity),
                    subject=ticket.subject[:80],
                )
            )
        for part in split_text("\n".join(lines)):  # many tickets: more than one message
            await message.answer(part)

    @router.message(Command("close"))
    async def close_choose(
        message: Message,
        session: AsyncSession,
        contact: ContactPerson,
        ticket_service: TicketService,
    ) -> None:
        lang = contact.language
        tickets = await ticket_service.open_tickets_of(session, contact.id)
        if not tickets:
            await message.answer(t(lang, "no_open"))
            return
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=f"{ticket.reference} {ticket.subject[:40]}",
                        callback_data=CloseTicket(ticket_id=ticket.id).pack(),
                    )
                ]
                for ticket in tickets
            ]
        )
        await message.answer(t(lang, "close_choose"), reply_markup=keyboard)

    @router.callback_query(CloseTicket.filter())
    async def close(
        query: CallbackQuery,
        callback_data: CloseTicket,
        bot: Bot,
        session: AsyncSession,
        contact: ContactPerson,
        ticket_service: TicketService,
    ) -> None:
        lang = contact.language
        try:
            ticket = await ticket_service.get(session, callback_data.ticket_id)
        except NotFound:
            ticket = None
        if ticket is None or ticket.contact_id != contact.id:
            await query.answer(t(lang, "not_yours"), show_alert=True)
            return
        if not ticket.is_open:  # closed already: this button's moment has passed
            await query.answer(t(lang, "button_stale"), show_alert=True)
            return
        await ticket_service.close(
            session, ticket.id, actor=Actor.customer(contact.id, contact.name)
        )
        await query.answer()
        remaining = await ticket_service.open_tickets_of(session, contact.id)
        await bot.send_message(
            contact.telegram_chat_id or query.from_user.id, closed_text(lang, ticket, remaining)
        )

    @router.message(Command("language"))
    async def language_choose(message: Message, contact: ContactPerson) -> None:
        await message.answer(
            t(contact.language, "language_choose"), reply_markup=language_keyboard()
        )

    @router.callback_query(SetLanguage.filter(F.language.in_(LANGUAGES)))
    async def language_set(
        query: CallbackQuery,
        callback_data: SetLanguage,
        bot: Bot,
        contact: ContactPerson,
        clock: Clock,
    ) -> None:
        contact.language = callback_data.language
        contact.updated_at = clock.now()
        await query.answer()
        await bot.send_message(
            contact.telegram_chat_id or query.from_user.id, t(contact.language, "language_set")
        )

    @router.callback_query()
    async def stale_button(query: CallbackQuery, contact: ContactPerson) -> None:
        # Buttons of a finished flow or tampered data: answer, so no spinner is left hanging.
        await query.answer(t(contact.language, "button_stale"), show_alert=True)

    @router.message(Magic(F.text.startswith("/")))
    async def unknown_command(message: Message, contact: ContactPerson) -> None:
        await message.answer(t(contact.language, "unknown_command"))

    @router.message(Magic(F.text))
    async def customer_text(
        message: Message,
        bot: Bot,
        session: AsyncSession,
        contact: ContactPerson,
        ticket_service: TicketService,
        settings: Settings,
    ) -> None:
        await file_text(
            message,
            message.text or "",
            bot=bot,
            session=session,
            contact=contact,
            ticket_service=ticket_service,
            settings=settings,
        )

    return router
