"""/start (greeting, privacy notice, link code), /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message

from bot.texts import t
from storage.models import ContactPerson


def create_router() -> Router:
    router = Router(name="start")

    @router.message(CommandStart())
    async def start(message: Message, command: CommandObject, contact: ContactPerson) -> None:
        lang = contact.language
        await message.answer(t(lang, "start"))
        if command.args:
            # Link codes are not stored yet: every code is refused with the same answer,
            # which never reveals whether an organisation exists.
            await message.answer(t(lang, "code_invalid"))

    @router.message(Command("help"))
    async def help_(message: Message, contact: ContactPerson) -> None:
        await message.answer(t(contact.language, "help"))

    return router
