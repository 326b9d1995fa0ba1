"""/privacy in the bot: a short summary of the privacy statement and a button per right;
a press records the request (the privacy service, channel telegram) and confirms it with
its deadline. A verified requester with a live export gets a button that sends the ZIP.
Texts are in the bot's gettext catalogs (bot/texts.py, keys privacy_*)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.texts import t
from storage.clock import Clock
from storage.config import Settings
from storage.models import ContactPerson, RequestType
from storage.objectstore import ObjectStore
from storage.services.audit import Actor
from storage.services.privacy import PrivacyService, deliverable_export
from storage.services.privacy_export import download_object


class PrivacyRight(CallbackData, prefix="privacy"):
    right: RequestType


class PrivacyDownload(CallbackData, prefix="privacy-zip"):
    document_id: int


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

    @router.message(Command("privacy"))
    async def privacy(
        message: Message, contact: ContactPerson, settings: Settings, session: AsyncSession
    ) -> None:
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
    async def request_right(
        query: CallbackQuery,
        bot: Bot,
        callback_data: PrivacyRight,
        session: AsyncSession,
        contact: ContactPerson,
        object_store: ObjectStore,
        clock: Clock,
        settings: Settings,
    ) -> None:
        request = await PrivacyService(clock, object_store).create_request(
            session,
            type=callback_data.right,
            contact_id=contact.id,
            channel="telegram",
            actor=Actor.customer(contact.id),
        )
        deadline = request.deadline_at.astimezone(ZoneInfo(settings.timezone))
        await query.answer()
        # A private chat's id is the user's id (support happens in private chats only).
        await bot.send_message(
            query.from_user.id,
            t(
                contact.language,
                "privacy_confirmed",
                right=_right(contact.language, callback_data.right),
                id=request.id,
                deadline=f"{deadline:%d-%m-%Y}",
            ),
        )

    return router
