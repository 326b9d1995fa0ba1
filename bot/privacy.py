"""/privacy in the bot: a short summary of the privacy statement and a button per right;
a press records the request (the privacy service, channel telegram) and confirms it with
its deadline. A verified requester with a live export gets a button that sends the ZIP.
Texts are a local Dutch/English dict keyed by the contact's language."""

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

from storage.clock import Clock
from storage.config import Settings
from storage.models import ContactPerson, RequestType
from storage.objectstore import ObjectStore
from storage.services.audit import Actor
from storage.services.privacy import PrivacyService, deliverable_export
from storage.services.privacy_export import download_object

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "summary": "Privacy bij Dynamic Telecom BV\n\n"
        "Wij bewaren uw supportvragen (tickets, berichten, bijlagen) 3 jaar na afsluiten, "
        "gespreksopnames 90 dagen (langer alleen bij een training- of bewijsblokkade) en "
        "contactformulieren 1 jaar.\n\n"
        "U heeft recht op inzage, correctie, verwijdering, beperking van de verwerking, "
        "bezwaar, overdracht van uw gegevens en het intrekken van toestemming. Wij reageren "
        "binnen een maand. Kies hieronder een recht om een verzoek in te dienen; wij vragen "
        "u daarna om uw identiteit te bevestigen.\n\n"
        "Vragen: privacy@dynamictelcom.nl{link}",
        "link": "\nPrivacyverklaring: {url}",
        "confirmed": "Uw verzoek ({right}) is ontvangen onder nummer P-{id}. Wij reageren "
        "uiterlijk op {deadline}. Wij nemen contact met u op om uw identiteit te bevestigen.",
        "download": "Uw gegevens downloaden (ZIP)",
        "delivered": "Hier zijn uw gegevens. De export wordt na 7 dagen verwijderd.",
        "no_export": "Er staat geen export meer voor u klaar.",
        "access": "Inzage",
        "correction": "Correctie",
        "erasure": "Verwijdering",
        "restriction": "Beperking",
        "objection": "Bezwaar",
        "portability": "Overdracht",
        "consent_withdrawal": "Toestemming intrekken",
    },
    "en": {
        "summary": "Privacy at Dynamic Telecom BV\n\n"
        "We keep your support questions (tickets, messages, attachments) 3 years after "
        "closing, call recordings 90 days (longer only under a training or evidence hold) "
        "and contact-form messages 1 year.\n\n"
        "You have the right of access, correction, erasure, restriction of processing, "
        "objection, portability of your data and withdrawing consent. We answer within one "
        "month. Choose a right below to make a request; we will then ask you to confirm "
        "your identity.\n\n"
        "Questions: privacy@dynamictelcom.nl{link}",
        "link": "\nPrivacy statement: {url}",
        "confirmed": "Your request ({right}) was received as number P-{id}. We will answer "
        "by {deadline} at the latest. We will contact you to confirm your identity.",
        "download": "Download your data (ZIP)",
        "delivered": "Here is your data. The export is deleted after 7 days.",
        "no_export": "No export is waiting for you any more.",
        "access": "Access",
        "correction": "Correction",
        "erasure": "Erasure",
        "restriction": "Restriction",
        "objection": "Objection",
        "portability": "Portability",
        "consent_withdrawal": "Withdraw consent",
    },
}


class PrivacyRight(CallbackData, prefix="privacy"):
    right: RequestType


class PrivacyDownload(CallbackData, prefix="privacy-zip"):
    document_id: int


def _texts(contact: ContactPerson) -> dict[str, str]:
    return TEXTS["en" if contact.language == "en" else "nl"]


def keyboard(texts: dict[str, str], export_id: int | None = None) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=texts[r.value], callback_data=PrivacyRight(right=r).pack())
        for r in RequestType
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if export_id is not None:
        data = PrivacyDownload(document_id=export_id).pack()
        rows.insert(0, [InlineKeyboardButton(text=texts["download"], callback_data=data)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def create_router() -> Router:
    router = Router(name="privacy")

    @router.message(Command("privacy"))
    async def privacy(
        message: Message, contact: ContactPerson, settings: Settings, session: AsyncSession
    ) -> None:
        texts = _texts(contact)
        url = settings.privacy_statement_url
        link = texts["link"].format(url=url) if url else ""
        export = await deliverable_export(session, contact.id)
        markup = keyboard(texts, export.id if export is not None else None)
        await message.answer(texts["summary"].format(link=link), reply_markup=markup)

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
        texts = _texts(contact)
        await query.answer()
        export = await deliverable_export(session, contact.id)
        if export is None or export.id != callback_data.document_id:
            await bot.send_message(query.from_user.id, texts["no_export"])
            return
        service = PrivacyService(clock, object_store)
        workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="sd-botzip-"))
        try:
            path = workdir / "gegevens.zip"
            await download_object(object_store, export.object_key, path)
            await bot.send_document(
                query.from_user.id,
                FSInputFile(path, filename="gegevens.zip"),
                caption=texts["delivered"],
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
        texts = _texts(contact)
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
            texts["confirmed"].format(
                right=texts[callback_data.right.value],
                id=request.id,
                deadline=f"{deadline:%d-%m-%Y}",
            ),
        )

    return router
