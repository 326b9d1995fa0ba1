"""/new: a guided ticket with aiogram's FSM: category -> description -> optional
attachments -> confirm. /cancel (or the button) stops it without leaving anything behind."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.attachments import media_ref, store_telegram_file
from bot.filing import clean, open_new_ticket
from bot.media import media_file
from bot.middlewares import RollbackHook
from bot.texts import t
from storage.clock import Clock
from storage.config import Settings
from storage.models import ContactPerson, TicketCategory
from storage.objectstore import ObjectStore
from storage.services.tickets import TicketService

MAX_ATTACHMENTS = 10


class NewTicket(StatesGroup):
    category = State()
    description = State()
    attachments = State()
    confirm = State()


class NewStep(CallbackData, prefix="new"):
    """category:<value>, or continue / send / cancel."""

    action: str
    category: TicketCategory | None = None


def _button(text: str, step: NewStep) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=step.pack())


def _categories(lang: str) -> InlineKeyboardMarkup:
    buttons = [
        _button(t(lang, f"category_{c.value}"), NewStep(action="category", category=c))
        for c in TicketCategory
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_button(t(lang, "cancel_button"), NewStep(action="cancel"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _row(lang: str, *actions: str) -> InlineKeyboardMarkup:
    labels = {"continue": "continue_button", "send": "send_button", "cancel": "cancel_button"}
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(t(lang, labels[a]), NewStep(action=a)) for a in actions]]
    )


def _chat(query: CallbackQuery, contact: ContactPerson) -> int:
    return contact.telegram_chat_id or query.from_user.id


def create_router() -> Router:
    router = Router(name="new_ticket")

    @router.message(Command("new"))
    async def start(message: Message, state: FSMContext, contact: ContactPerson) -> None:
        await state.clear()
        await state.set_state(NewTicket.category)
        await message.answer(
            t(contact.language, "new_category"), reply_markup=_categories(contact.language)
        )

    @router.message(Command("cancel"))
    async def cancel_command(message: Message, state: FSMContext, contact: ContactPerson) -> None:
        key = "new_cancelled" if await state.get_state() is not None else "nothing_to_cancel"
        await state.clear()
        await message.answer(t(contact.language, key))

    @router.callback_query(NewStep.filter(F.action == "cancel"))
    async def cancel_button(
        query: CallbackQuery, bot: Bot, state: FSMContext, contact: ContactPerson
    ) -> None:
        await state.clear()
        await query.answer()
        await bot.send_message(_chat(query, contact), t(contact.language, "new_cancelled"))

    @router.callback_query(NewTicket.category, NewStep.filter(F.action == "category"))
    async def category(
        query: CallbackQuery,
        callback_data: NewStep,
        bot: Bot,
        state: FSMContext,
        contact: ContactPerson,
    ) -> None:
        assert callback_data.category is not None
        await state.update_data(category=callback_data.category.value, files=[])
        await state.set_state(NewTicket.description)
        await query.answer()
        await bot.send_message(_chat(query, contact), t(contact.language, "new_describe"))

    @router.message(NewTicket.description, F.text & ~F.text.startswith("/"))
    async def description(message: Message, state: FSMContext, contact: ContactPerson) -> None:
        await state.update_data(description=clean(message.text or ""))
        await state.set_state(NewTicket.attachments)
        lang = contact.language
        await message.answer(t(lang, "new_attach"), reply_markup=_row(lang, "continue", "cancel"))

    @router.message(NewTicket.description, ~F.text.startswith("/"))
    async def description_not_text(message: Message, contact: ContactPerson) -> None:
        await message.answer(t(contact.language, "new_need_text"))

    @router.message(NewTicket.attachments, F.photo | F.document)
    async def attachment(message: Message, state: FSMContext, contact: ContactPerson) -> None:
        media = media_file(message)
        assert media is not None
        data = await state.get_data()
        files = list(data.get("files", []))[: MAX_ATTACHMENTS - 1]
        files.append(media_ref(media))
        await state.update_data(files=files)
        lang = contact.language
        await message.answer(
            t(lang, "new_attached", count=len(files)), reply_markup=_row(lang, "continue", "cancel")
        )

    @router.message(NewTicket.attachments, ~F.text.startswith("/"))
    async def attachment_expected(message: Message, contact: ContactPerson) -> None:
        lang = contact.language
        await message.answer(
            t(lang, "new_attach_only"), reply_markup=_row(lang, "continue", "cancel")
        )

    @router.message(NewTicket.category, ~F.text.startswith("/"))
    @router.message(NewTicket.confirm, ~F.text.startswith("/"))
    async def use_buttons(message: Message, contact: ContactPerson) -> None:
        # Inside the flow nothing typed becomes a ticket behind the customer's back.
        await message.answer(t(contact.language, "new_use_buttons"))

    @router.callback_query(NewTicket.attachments, NewStep.filter(F.action == "continue"))
    async def review(
        query: CallbackQuery, bot: Bot, state: FSMContext, contact: ContactPerson
    ) -> None:
        data = await state.get_data()
        await state.set_state(NewTicket.confirm)
        await query.answer()
        lang = contact.language
        await bot.send_message(
            _chat(query, contact),
            t(
                lang,
                "new_confirm",
                category=t(lang, f"category_{data['category']}"),
                description=data["description"],
                count=len(data.get("files", [])),
            ),
            reply_markup=_row(lang, "send", "cancel"),
        )

    @router.callback_query(NewTicket.confirm, NewStep.filter(F.action == "send"))
    async def send(
        query: CallbackQuery,
        bot: Bot,
        state: FSMContext,
        session: AsyncSession,
        contact: ContactPerson,
        ticket_service: TicketService,
        object_store: ObjectStore,
        settings: Settings,
        clock: Clock,
        on_rollback: list[RollbackHook],
    ) -> None:
        data = await state.get_data()
        await query.answer()
        assert query.message is not None
        ticket, stored = await open_new_ticket(
            query.message,  # type: ignore[arg-type]
            data["description"],
            session=session,
            contact=contact,
            ticket_service=ticket_service,
            settings=settings,
            category=TicketCategory(data["category"]),
        )
        for number, ref in enumerate(data.get("files", []), start=1):
            attached = await store_telegram_file(
                ref,
                ticket_id=ticket.id,
                message_id=stored.id,
                bot=bot,
                session=session,
                object_store=object_store,
                on_rollback=on_rollback,
                clock=clock,
                limit=settings.bot_media_max_bytes,
                suffix=f"-{number}",
            )
            if attached is None:
                limit_mb = settings.bot_media_max_bytes // (1024 * 1024)
                await bot.send_message(
                    _chat(query, contact),
                    t(
                        contact.language,
                        "media_too_large",
                        limit=limit_mb,
                        reference=ticket.reference,
                    ),
                )
        await state.clear()

    return router
