"""A Telegram user is a ContactPerson keyed by telegram_user_id (created on first contact)."""

from __future__ import annotations

from aiogram.types import Chat, User
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.texts import language_of
from storage.clock import Clock
from storage.models import ContactPerson


async def resolve_contact(
    session: AsyncSession, clock: Clock, user: User, chat: Chat | None
) -> ContactPerson:
    """The contact for this Telegram user; new contacts are unverified (no organisation)."""
    contact = await session.scalar(
        select(ContactPerson).where(ContactPerson.telegram_user_id == user.id)
    )
    now = clock.now()
    chat_id = chat.id if chat is not None and chat.type == "private" else None
    if contact is None:
        contact = ContactPerson(
            name=user.full_name[:200],
            telegram_user_id=user.id,
            telegram_chat_id=chat_id if chat_id is not None else user.id,
            telegram_username=user.username,
            language=language_of(user.language_code),
            created_at=now,
            updated_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(contact)
        except IntegrityError:
            # Another update of the same user created it first.
            contact = await session.scalar(
                select(ContactPerson).where(ContactPerson.telegram_user_id == user.id)
            )
            if contact is None:  # pragma: no cover - the conflict must be this user
                raise
        else:
            return contact
    if chat_id is not None and contact.telegram_chat_id != chat_id:
        contact.telegram_chat_id = chat_id
        contact.updated_at = now
    if user.username != contact.telegram_username:
        contact.telegram_username = user.username
        contact.updated_at = now
    return contact
