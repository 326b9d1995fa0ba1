"""/start (greeting, privacy notice, language choice, link code or deep link), /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import command_like
from bot.texts import t
from bot.tickets import language_keyboard
from storage.config import Settings
from storage.models import ContactPerson
from storage.services.audit import Actor
from storage.services.errors import InvalidInput
from storage.services.linking import LinkCodeService


def create_router() -> Router:
    router = Router(name="start")
    router.message.filter(command_like())

    @router.message(CommandStart())
    async def start(
        message: Message,
        command: CommandObject,
        session: AsyncSession,
        contact: ContactPerson,
        link_codes: LinkCodeService,
        settings: Settings,
    ) -> None:
        lang = contact.language
        # The privacy notice (with the statement's address) and the language choice belong to
        # every first contact, deep link or not.
        url = settings.privacy_statement_url
        link = t(lang, "privacy_link", url=url) if url else ""
        await message.answer(t(lang, "start") + link, reply_markup=language_keyboard())
        if not command.args:
            return
        user_id = message.from_user.id if message.from_user else message.chat.id
        actor = Actor.customer(contact.id, contact.name)
        try:
            # A savepoint: a refused code leaves nothing behind, not even a half move.
            async with session.begin_nested():
                linked = await link_codes.redeem(
                    session,
                    command.args.strip(),
                    telegram_user_id=user_id,
                    telegram_chat_id=message.chat.id,
                    actor=actor,
                )
        except InvalidInput:
            await message.answer(t(lang, "code_invalid"))
            return
        await message.answer(t(linked.language, "linked"))

    @router.message(Command("help"))
    async def help_(message: Message, contact: ContactPerson) -> None:
        await message.answer(t(contact.language, "help"))

    return router
