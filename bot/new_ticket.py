"""/new: a guided ticket with aiogram's FSM: category -> description -> optional
attachments -> confirm. Whatever the customer sends on the way is kept in the FSM data (JSON
only: it may live in Redis). Leaving the flow (/cancel, its button, /new or /privacy again)
with something written asks first: send it as a ticket (under the chosen category, never
on another open ticket) or discard it. Each flow's buttons carry the flow's number, so a
button of a finished flow answers "no longer valid" instead of acting on a later one."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, StateFilter, or_f
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.attachments import attach_telegram_file, media_ref
from bot.filing import append, clean, open_new_ticket
from bot.filters import Magic, command_like
from bot.media import describe, media_file
from bot.middlewares import RollbackHook
from bot.telegram_text import truncate
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
    leaving = State()  # asked: send what was written as a ticket, or discard it


class NewStep(CallbackData, prefix="new"):
    """category:<value>, or continue / send / cancel / keep / discard; `flow` is the
    number of the /new it belongs to (the message id of the command)."""

    action: str
    category: TicketCategory | None = None
    flow: int = 0


LABELS = {
    "continue": "continue_button",
    "send": "send_button",
    "cancel": "cancel_button",
    "keep": "new_cancel_file_button",
    "discard": "new_cancel_discard_button",
}


def _button(text: str, step: NewStep) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=step.pack())


def _categories(lang: str, flow: int) -> InlineKeyboardMarkup:
    buttons = [
        _button(t(lang, f"category_{c.value}"), NewStep(action="category", category=c, flow=flow))
        for c in TicketCategory
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_button(t(lang, "cancel_button"), NewStep(action="cancel", flow=flow))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _row(lang: str, flow: int, *actions: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(t(lang, LABELS[a]), NewStep(action=a, flow=flow)) for a in actions]
        ]
    )


async def _flow(state: FSMContext) -> int:
    return int((await state.get_data()).get("flow", 0))


async def _current(query: CallbackQuery, step: NewStep, state: FSMContext, lang: str) -> bool:
    """False (and the press answered as stale) when the button is not of the running flow."""
    if await state.get_state() in NewTicket.__all_states_names__ and step.flow == await _flow(
        state
    ):
        return True
    await query.answer(t(lang, "button_stale"), show_alert=True)
    return False


def _written(data: dict[str, Any]) -> bool:
    return bool("description" in data or data.get("extras") or data.get("files"))


def _chat(query: CallbackQuery, contact: ContactPerson) -> int:
    return contact.telegram_chat_id or query.from_user.id


def _piece(message: Message, text: str) -> dict[str, Any]:
    """A kept text with the customer's message id, so a later edit finds it."""
    return {"text": clean(text), "message_id": message.message_id}


async def _keep(message: Message, state: FSMContext, *, as_description: bool) -> str:
    """Keep what the customer sent during /new in the FSM data: the first text (where one
    is asked for) as the description, files as attachments, anything else as an extra text
    or readable note. Returns "description", "file", "text" or "note"."""
    data = await state.get_data()
    extras = list(data.get("extras", []))
    media = media_file(message)
    files = list(data.get("files", []))
    if media is not None and len(files) < MAX_ATTACHMENTS:
        files.append(media_ref(media))
        if message.caption:
            extras.append(_piece(message, describe(message)))
        await state.update_data(files=files, extras=extras)
        return "file"
    if media is not None:  # over the cap: at least the note stays
        note = f"{describe(message)} [not attached: at most {MAX_ATTACHMENTS} attachments]"
        extras.append(_piece(message, note))
        await state.update_data(extras=extras)
        return "note"
    if message.text is not None and as_description and "description" not in data:
        await state.update_data(description=_piece(message, message.text))
        return "description"
    text = message.text if message.text is not None else describe(message)
    extras.append(_piece(message, text))
    await state.update_data(extras=extras)
    return "text" if message.text is not None else "note"


def _review(lang: str, data: dict[str, Any]) -> str:
    pieces = [data["description"], *data.get("extras", [])]
    # the whole review must fit one Telegram message (4096 UTF-16 units with the frame)
    text = truncate("\n".join(piece["text"] for piece in pieces), 3000)
    return t(
        lang,
        "new_confirm",
        category=t(lang, f"category_{data['category']}"),
        description=text,
        count=len(data.get("files", [])),
    )


async def file_kept(
    answer_to: Message,
    data: dict[str, Any],
    *,
    bot: Bot,
    session: AsyncSession,
    contact: ContactPerson,
    ticket_service: TicketService,
    object_store: ObjectStore,
    settings: Settings,
    clock: Clock,
    on_rollback: list[RollbackHook],
) -> None:
    """Open the ticket of what /new collected: under the chosen category (none chosen: the
    categories are offered), with every text and file - the customer asked for a new
    ticket, so it never lands on another open one."""
    pieces = [data["description"]] if "description" in data else []
    pieces += data.get("extras", [])
    files = data.get("files", [])
    first = pieces[0] if pieces else {"text": "", "message_id": None}
    text = first["text"] or " ".join(f"[attachment {f['filename']}]" for f in files)
    category = data.get("category")
    ticket, stored = await open_new_ticket(
        answer_to,
        text,
        session=session,
        contact=contact,
        ticket_service=ticket_service,
        settings=settings,
        category=TicketCategory(category) if category else None,
        # the customer's message, not a button's: so an edit of it is found
        telegram_message_id=first["message_id"],
    )
    for piece in pieces[1:]:
        await append(
            answer_to,
            piece["text"],
            ticket,
            contact,
            session,
            ticket_service,
            telegram_message_id=piece["message_id"],
        )
    for number, ref in enumerate(files, start=1):
        refusal = await attach_telegram_file(
            ref,
            ticket=ticket,
            stored=stored,
            language=contact.language,
            bot=bot,
            session=session,
            object_store=object_store,
            on_rollback=on_rollback,
            clock=clock,
            limit=settings.bot_media_max_bytes,
            suffix=f"-{number}",
            named=True,  # the first text need not describe the file
        )
        if refusal is not None:
            await bot.send_message(answer_to.chat.id, refusal)


async def ask_before_leaving(
    chat_id: int, bot: Bot, state: FSMContext, contact: ContactPerson, *, then: str | None
) -> bool:
    """Leaving /new with something written: ask to send or discard it (then `then`, a
    command, is suggested again). True if asked; False (state cleared) otherwise."""
    if await state.get_state() not in NewTicket.__all_states_names__:
        return False
    data = await state.get_data()
    if not _written(data):
        await state.clear()
        return False
    await state.set_state(NewTicket.leaving)
    await state.update_data(then=then)
    await _ask_leaving(chat_id, bot, contact.language, data)
    return True


async def _ask_leaving(chat_id: int, bot: Bot, lang: str, data: dict[str, Any]) -> None:
    category = data.get("category")
    named = t(lang, f"category_{category}") if category else t(lang, "category_ask_later")
    await bot.send_message(
        chat_id,
        t(lang, "new_cancel_ask", category=named),
        reply_markup=_row(lang, int(data.get("flow", 0)), "keep", "discard"),
    )


async def _begin(message: Message, state: FSMContext, contact: ContactPerson) -> None:
    await state.clear()
    await state.set_state(NewTicket.category)
    await state.update_data(flow=message.message_id)
    lang = contact.language
    await message.answer(
        t(lang, "new_category"), reply_markup=_categories(lang, message.message_id)
    )


def create_router() -> Router:
    router = Router(name="new_ticket")
    router.message.filter(or_f(command_like(), StateFilter(NewTicket)))

    @router.message(Command("new"))
    async def start(message: Message, bot: Bot, state: FSMContext, contact: ContactPerson) -> None:
        if await ask_before_leaving(message.chat.id, bot, state, contact, then="/new"):
            return  # what the earlier /new collected is neither filed nor dropped unasked
        await _begin(message, state, contact)

    @router.message(Command("cancel"), StateFilter(NewTicket))
    async def cancel_command(
        message: Message, bot: Bot, state: FSMContext, contact: ContactPerson
    ) -> None:
        if not await ask_before_leaving(message.chat.id, bot, state, contact, then=None):
            await message.answer(t(contact.language, "new_cancelled"))

    @router.message(Command("cancel"))
    async def nothing_to_cancel(message: Message, contact: ContactPerson) -> None:
        await message.answer(t(contact.language, "nothing_to_cancel"))

    @router.callback_query(NewStep.filter(F.action == "cancel"))
    async def cancel_button(
        query: CallbackQuery,
        callback_data: NewStep,
        bot: Bot,
        state: FSMContext,
        contact: ContactPerson,
    ) -> None:
        if not await _current(query, callback_data, state, contact.language):
            return
        await query.answer()
        chat = _chat(query, contact)
        if await state.get_state() == NewTicket.leaving.state:  # asked already: ask again
            await _ask_leaving(chat, bot, contact.language, await state.get_data())
            return
        if not await ask_before_leaving(chat, bot, state, contact, then=None):
            await bot.send_message(chat, t(contact.language, "new_cancelled"))

    @router.callback_query(StateFilter(NewTicket.leaving), NewStep.filter(F.action == "keep"))
    async def keep(
        query: CallbackQuery,
        callback_data: NewStep,
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
        if not await _current(query, callback_data, state, contact.language):
            return
        await query.answer()
        assert query.message is not None
        data = await state.get_data()
        # Filed before the state is cleared: if filing fails, the question stays.
        await file_kept(
            query.message,  # type: ignore[arg-type]
            data,
            bot=bot,
            session=session,
            contact=contact,
            ticket_service=ticket_service,
            object_store=object_store,
            settings=settings,
            clock=clock,
            on_rollback=on_rollback,
        )
        await state.clear()
        await _then(query, bot, contact, data)

    @router.callback_query(StateFilter(NewTicket.leaving), NewStep.filter(F.action == "discard"))
    async def discard(
        query: CallbackQuery,
        callback_data: NewStep,
        bot: Bot,
        state: FSMContext,
        contact: ContactPerson,
    ) -> None:
        if not await _current(query, callback_data, state, contact.language):
            return
        await query.answer()
        data = await state.get_data()
        await state.clear()
        await bot.send_message(_chat(query, contact), t(contact.language, "new_discarded"))
        await _then(query, bot, contact, data)

    @router.callback_query(StateFilter(NewTicket.category), NewStep.filter(F.action == "category"))
    async def category(
        query: CallbackQuery,
        callback_data: NewStep,
        bot: Bot,
        state: FSMContext,
        contact: ContactPerson,
    ) -> None:
        lang = contact.language
        if not await _current(query, callback_data, state, lang):
            return
        assert callback_data.category is not None
        await state.update_data(category=callback_data.category.value)
        await query.answer()
        flow = callback_data.flow
        if "description" in await state.get_data():  # written before choosing: not asked again
            await state.set_state(NewTicket.attachments)
            await bot.send_message(
                _chat(query, contact),
                t(lang, "new_attach_described"),
                reply_markup=_row(lang, flow, "continue", "cancel"),
            )
            return
        await state.set_state(NewTicket.description)
        await bot.send_message(_chat(query, contact), t(lang, "new_describe"))

    @router.message(StateFilter(NewTicket.category), Magic(~F.text.startswith("/")))
    async def before_category(message: Message, state: FSMContext, contact: ContactPerson) -> None:
        await _keep(message, state, as_description=True)
        lang = contact.language
        await message.answer(
            t(lang, "new_kept_choose"), reply_markup=_categories(lang, await _flow(state))
        )

    @router.message(StateFilter(NewTicket.description), Magic(~F.text.startswith("/")))
    async def description(message: Message, state: FSMContext, contact: ContactPerson) -> None:
        lang = contact.language
        if await _keep(message, state, as_description=True) != "description":
            await message.answer(t(lang, "new_need_text"))
            return
        await state.set_state(NewTicket.attachments)
        await message.answer(
            t(lang, "new_attach"), reply_markup=_row(lang, await _flow(state), "continue", "cancel")
        )

    @router.message(StateFilter(NewTicket.attachments), Magic(~F.text.startswith("/")))
    async def attachment(message: Message, state: FSMContext, contact: ContactPerson) -> None:
        kept = await _keep(message, state, as_description=False)
        lang = contact.language
        data = await state.get_data()
        count = len(data.get("files", []))
        text = t(lang, "new_attached", count=count) if kept == "file" else t(lang, "new_added")
        await message.answer(
            text, reply_markup=_row(lang, int(data.get("flow", 0)), "continue", "cancel")
        )

    @router.message(StateFilter(NewTicket.confirm), Magic(~F.text.startswith("/")))
    async def before_sending(message: Message, state: FSMContext, contact: ContactPerson) -> None:
        # Still part of this ticket: kept, and the updated ticket is shown for confirmation.
        await _keep(message, state, as_description=False)
        lang = contact.language
        data = await state.get_data()
        await message.answer(
            _review(lang, data), reply_markup=_row(lang, int(data["flow"]), "send", "cancel")
        )

    @router.message(StateFilter(NewTicket.leaving), Magic(~F.text.startswith("/")))
    async def while_asked(
        message: Message, bot: Bot, state: FSMContext, contact: ContactPerson
    ) -> None:
        # Kept with the rest (nothing is dropped unasked), and the question asked again.
        await _keep(message, state, as_description=True)
        await _ask_leaving(message.chat.id, bot, contact.language, await state.get_data())

    @router.edited_message(StateFilter(NewTicket), Magic(F.chat.type == "private"))
    async def edited_before_sending(message: Message, state: FSMContext) -> None:
        """An edit of a text kept for /new changes what will be sent."""
        data = await state.get_data()
        text = clean(message.text if message.text is not None else describe(message))
        description = data.get("description")
        if description is not None and description["message_id"] == message.message_id:
            await state.update_data(description={**description, "text": text})
            return
        extras = list(data.get("extras", []))
        for number, piece in enumerate(extras):
            if piece["message_id"] == message.message_id:
                extras[number] = {**piece, "text": text}
                await state.update_data(extras=extras)
                return
        raise SkipHandler  # not part of /new: an edit of a message already on a ticket

    @router.callback_query(
        StateFilter(NewTicket.attachments), NewStep.filter(F.action == "continue")
    )
    async def review(
        query: CallbackQuery,
        callback_data: NewStep,
        bot: Bot,
        state: FSMContext,
        contact: ContactPerson,
    ) -> None:
        lang = contact.language
        if not await _current(query, callback_data, state, lang):
            return
        data = await state.get_data()
        await state.set_state(NewTicket.confirm)
        await query.answer()
        await bot.send_message(
            _chat(query, contact),
            _review(lang, data),
            reply_markup=_row(lang, callback_data.flow, "send", "cancel"),
        )

    @router.callback_query(StateFilter(NewTicket.confirm), NewStep.filter(F.action == "send"))
    async def send(
        query: CallbackQuery,
        callback_data: NewStep,
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
        if not await _current(query, callback_data, state, contact.language):
            return
        await query.answer()
        assert query.message is not None
        await file_kept(
            query.message,  # type: ignore[arg-type]
            await state.get_data(),
            bot=bot,
            session=session,
            contact=contact,
            ticket_service=ticket_service,
            object_store=object_store,
            settings=settings,
            clock=clock,
            on_rollback=on_rollback,
        )
        await state.clear()

    return router


async def _then(
    query: CallbackQuery, bot: Bot, contact: ContactPerson, data: dict[str, Any]
) -> None:
    """After the send-or-discard answer: suggest the command that interrupted /new."""
    then = data.get("then")
    if then:
        await bot.send_message(
            _chat(query, contact), t(contact.language, "continue_with", command=then)
        )
