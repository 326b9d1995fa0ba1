"""Answers to the conversation's buttons: which ticket a held message is for, and the
category of an auto-opened ticket."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.attachments import NotStored, attach_telegram_file, refusal_text
from bot.callbacks import PickTicket, SetCategory
from bot.filing import open_new_ticket
from bot.middlewares import RollbackHook
from bot.texts import t
from storage.clock import Clock
from storage.config import Settings
from storage.models import ContactPerson, Ticket, UnfiledMessage
from storage.objectstore import ObjectStore
from storage.services.audit import Actor
from storage.services.errors import NotFound
from storage.services.tickets import TicketService


async def _own_ticket(
    session: AsyncSession, ticket_service: TicketService, ticket_id: int, contact: ContactPerson
) -> Ticket | None:
    try:
        ticket = await ticket_service.get(session, ticket_id)
    except NotFound:
        return None
    return ticket if ticket.contact_id == contact.id else None


def create_router() -> Router:
    router = Router(name="conversation")

    @router.callback_query(PickTicket.filter())
    async def pick(
        query: CallbackQuery,
        callback_data: PickTicket,
        bot: Bot,
        session: AsyncSession,
        contact: ContactPerson,
        ticket_service: TicketService,
        object_store: ObjectStore,
        settings: Settings,
        clock: Clock,
        on_rollback: list[RollbackHook],
    ) -> None:
        lang = contact.language
        held = await session.get(UnfiledMessage, callback_data.held_id)
        if held is None or held.contact_id != contact.id:
            await query.answer(t(lang, "held_gone"), show_alert=True)
            return
        ticket = None
        if callback_data.ticket_id:
            ticket = await _own_ticket(session, ticket_service, callback_data.ticket_id, contact)
            if ticket is None:
                await query.answer(t(lang, "not_yours"), show_alert=True)
                return
        await query.answer()
        text, chat_id, message_id, media = (
            held.text,
            held.telegram_chat_id,
            held.telegram_message_id,
            held.media,
        )
        await session.delete(held)
        chat = contact.telegram_chat_id or query.from_user.id
        if ticket is not None and ticket.is_open:
            stored = await ticket_service.add_customer_message(
                session,
                ticket.id,
                text=text,
                contact_id=contact.id,
                telegram_chat_id=chat_id,
                telegram_message_id=message_id,
            )
            await bot.send_message(chat, t(lang, "added_to", reference=ticket.reference))
        else:
            # A new ticket was asked for, or the chosen one was closed meanwhile.
            if not isinstance(query.message, Message):  # pragma: no cover - always sent here
                return
            ticket, stored = await open_new_ticket(
                query.message,
                text,
                session=session,
                contact=contact,
                ticket_service=ticket_service,
                settings=settings,
                telegram_message_id=message_id,
            )
        if media is None:
            return
        if "not_stored" in media:  # over the limit on arrival: noted in the text already
            over = NotStored(media["not_stored"])
            await bot.send_message(chat, refusal_text(lang, over, media["limit"], ticket.reference))
            return
        refusal = await attach_telegram_file(
            media,
            ticket=ticket,
            stored=stored,
            language=lang,
            bot=bot,
            session=session,
            object_store=object_store,
            on_rollback=on_rollback,
            clock=clock,
            limit=settings.bot_media_max_bytes,
        )
        if refusal is not None:
            await bot.send_message(chat, refusal)

    @router.callback_query(SetCategory.filter())
    async def set_category(
        query: CallbackQuery,
        callback_data: SetCategory,
        bot: Bot,
        session: AsyncSession,
        contact: ContactPerson,
        ticket_service: TicketService,
    ) -> None:
        lang = contact.language
        ticket = await _own_ticket(session, ticket_service, callback_data.ticket_id, contact)
        if ticket is None:
            await query.answer(t(lang, "not_yours"), show_alert=True)
            return
        if not ticket.is_open:  # a closed ticket keeps the category it was closed with
            await query.answer(t(lang, "button_stale"), show_alert=True)
            return
        await ticket_service.set_category(
            session,
            ticket.id,
            actor=Actor.customer(contact.id, contact.name),
            category=callback_data.category,
        )
        await query.answer()
        await bot.send_message(
            contact.telegram_chat_id or query.from_user.id,
            t(
                lang,
                "category_set",
                reference=ticket.reference,
                category=t(lang, f"category_{callback_data.category.value}"),
            ),
        )

    return router
