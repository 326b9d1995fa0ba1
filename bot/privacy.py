"""/privacy in the bot: a short summary of the privacy statement and a button per right;
a press records the request (the privacy service, channel telegram) and confirms it with
its deadline. Correction and objection first ask what it is about (an FSM state): the
customer's next text becomes the request's details, never a ticket message; /cancel stops.
A verified requester with a live export gets a button that sends the ZIP.
Texts are in the bot's gettext catalogs (bot/texts.py, keys privacy_*)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter, or_f
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import Magic, command_like
from bot.new_ticket import ask_before_leaving
from bot.texts import day_text, t
from storage.clock import Clock
from storage.config import Settings
from storage.models import ContactPerson, RequestType
from storage.objectstore import ObjectStore
from storage.services.audit import Actor
from storage.services.privacy import PrivacyService, deliverable_export
from storage.services.privacy_export import download_object


class PrivacyRight(CallbackData, prefix="privacy"):
    right: RequestType


class PrivacyConfirm(CallbackData, prefix="privacy-yes"):
    """The second tap: a request is made only when the customer confirms the right."""

    right: RequestType


class PrivacyDownload(CallbackData, prefix="privacy-zip"):
    document_id: int


class PrivacyDetails(StatesGroup):
    """Waiting for what a correction/objection is about (state data: the right)."""

    details = State()


DETAILS_MAX = 4000  # what PrivacyService.create_request accepts

# Rights the officer cannot handle without the customer's own words.
ASK_DETAILS = {
    RequestType.CORRECTION: "privacy_ask_correction",
    RequestType.OBJECTION: "privacy_ask_objection",
}


def _right(language: str, right: RequestType) -> str:
    return t(language, f"privacy_right_{right.value}")


def keyboard(language: str, export_id: int | None = None) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=_right(language, r), callback_data=PrivacyRight(right=r).pack())
        for r in RequestType
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if export_id is not None:
        data = PrivacyDownload(document_id=export_id).pack()
        label = t(language, "privacy_download")
        rows.insert(0, [InlineKeyboardButton(text=label, callback_data=data)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def create_router() -> Router:
    router = Router(name="privacy")
    router.message.filter(or_f(command_like(), StateFilter(PrivacyDetails)))

    @router.message(Command("privacy"))
    async def privacy(
        message: Message,
        contact: ContactPerson,
        settings: Settings,
        session: AsyncSession,
        state: FSMContext,
        bot: Bot,
    ) -> None:
        if await ask_before_leaving(message.chat.id, bot, state, contact, then="/privacy"):
            return  # what the customer wrote in /new is neither filed nor dropped unasked
        await state.clear()  # /privacy starts over: a pending privacy question is dropped
        language = contact.language
        url = settings.privacy_statement_url
        link = t(language, "privacy_link", url=url) if url else ""
        export = await deliverable_export(session, contact.id)
        markup = keyboard(language, export.id if export is not None else None)
        await message.answer(t(language, "privacy_summary", link=link), reply_markup=markup)

    @router.callback_query(PrivacyDownload.filter())
    async def download(
        query: CallbackQuery,
        bot: Bot,
        callback_data: PrivacyDownload,
        session: AsyncSession,
        contact: ContactPerson,
        object_store: ObjectStore,
        clock: Clock,
    ) -> None:
        await query.answer()
        export = await deliverable_export(session, contact.id)
        if export is None or export.id != callback_data.document_id:
            await bot.send_message(query.from_user.id, t(contact.language, "privacy_no_export"))
            return
        service = PrivacyService(clock, object_store)
        workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="sd-botzip-"))
        try:
            path = workdir / "gegevens.zip"
            await download_object(object_store, export.object_key, path)
            await bot.send_document(
                query.from_user.id,
                FSInputFile(path, filename="gegevens.zip"),
                caption=t(contact.language, "privacy_delivered"),
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)
        await service.record_delivery(session, export, actor=Actor.customer(contact.id))

    @router.callback_query(PrivacyRight.filter())
    async def ask_confirmation(
        query: CallbackQuery, bot: Bot, callback_data: PrivacyRight, contact: ContactPerson
    ) -> None:
        await query.answer()
        right, lang = callback_data.right, contact.language
        button = InlineKeyboardButton(
            text=t(lang, "privacy_confirm_button"),
            callback_data=PrivacyConfirm(right=right).pack(),
        )
        # A private chat's id is the user's id (support happens in private chats only).
        await bot.send_message(
            query.from_user.id,
            t(lang, "privacy_confirm_ask", right=_right(lang, right)),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
        )

    @router.callback_query(PrivacyConfirm.filter())
    async def request_right(
        query: CallbackQuery,
        bot: Bot,
        callback_data: PrivacyConfirm,
        session: AsyncSession,
        contact: ContactPerson,
        object_store: ObjectStore,
        clock: Clock,
        settings: Settings,
        state: FSMContext,
    ) -> None:
        await query.answer()
        await state.clear()
        right = callback_data.right
        if right in ASK_DETAILS:
            await state.set_state(PrivacyDetails.details)
            await state.update_data(right=right.value)
            await bot.send_message(query.from_user.id, t(contact.language, ASK_DETAILS[right]))
            return
        text = await _record(session, contact, object_store, clock, settings, right, "")
        await bot.send_message(query.from_user.id, text)

    @router.message(Command("cancel"), StateFilter(PrivacyDetails.details))
    async def cancel(message: Message, state: FSMContext, contact: ContactPerson) -> None:
        await state.clear()
        await message.answer(t(contact.language, "privacy_cancelled"))

    @router.message(StateFilter(PrivacyDetails.details), Magic(F.text & ~F.text.startswith("/")))
    async def details(
        message: Message,
        state: FSMContext,
        session: AsyncSession,
        contact: ContactPerson,
        object_store: ObjectStore,
        clock: Clock,
        settings: Settings,
    ) -> None:
        text = (message.text or "").strip()
        if not text or len(text) > DETAILS_MAX:
            await message.answer(t(contact.language, "privacy_need_text"))
            return
        right = RequestType((await state.get_data())["right"])
        await state.clear()
        answer = await _record(session, contact, object_store, clock, settings, right, text)
        await message.answer(answer)

    @router.message(StateFilter(PrivacyDetails.details), Magic(~F.text.startswith("/")))
    async def details_not_text(message: Message, contact: ContactPerson) -> None:
        # A photo or file is not the details (and must not become a ticket either).
        await message.answer(t(contact.language, "privacy_need_text"))

    return router


async def _record(
    session: AsyncSession,
    contact: ContactPerson,
    object_store: ObjectStore,
    clock: Clock,
    settings: Settings,
    right: RequestType,
    details: str,
) -> str:
    """Record the request; the confirmation with its number and deadline. A button
    pressed again while the same right is being handled does not start a second one."""
    service = PrivacyService(clock, object_store)
    running = (
        None if details else await service.open_request(session, contact_id=contact.id, type=right)
    )
    if running is not None:
        deadline = running.deadline_at.astimezone(ZoneInfo(settings.timezone))
        return t(
            contact.language,
            "privacy_already_open",
            right=_right(contact.language, right),
            id=running.id,
            deadline=day_text(contact.language, deadline),
        )
    request = await service.create_request(
        session,
        type=right,
        contact_id=contact.id,
        channel="telegram",
        details=details,
        actor=Actor.customer(contact.id),
    )
    deadline = request.deadline_at.astimezone(ZoneInfo(settings.timezone))
    return t(
        contact.language,
        "privacy_confirmed",
        right=_right(contact.language, right),
        id=request.id,
        deadline=day_text(contact.language, deadline),
    )
