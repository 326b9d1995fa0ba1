"""Edited messages: a customer's edit updates the stored ticket message (the history keeps
every earlier text); an edit of a message still waiting for its ticket updates the held text."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filing import clean
from bot.filters import Magic
from bot.media import describe
from storage.models import ContactPerson, UnfiledMessage
from storage.services.message_edits import MessageEditService


def create_router() -> Router:
    router = Router(name="edits")
    # Like new messages: only private chats are support conversations.
    router.edited_message.filter(Magic(F.chat.type == "private"))

    @router.edited_message()
    async def edited(
        message: Message,
        session: AsyncSession,
        contact: ContactPerson,
        message_edits: MessageEditService,
    ) -> None:
        text = clean(message.text if message.text is not None else describe(message))
        held = await session.scalar(
            select(UnfiledMessage).where(
                UnfiledMessage.contact_id == contact.id,
                UnfiledMessage.telegram_chat_id == message.chat.id,
                UnfiledMessage.telegram_message_id == message.message_id,
            )
        )
        if held is not None:
            held.text = text
            return
        # Edits of commands or of messages we never stored have nothing to update.
        await message_edits.edit_customer_message(
            session,
            contact_id=contact.id,
            telegram_chat_id=message.chat.id,
            telegram_message_id=message.message_id,
            text=text,
        )

    return router
