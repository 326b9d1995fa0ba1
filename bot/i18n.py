"""Picks each update's language: the contact's stored one (set with /language)."""

from __future__ import annotations

from typing import Any

from aiogram.types import TelegramObject
from aiogram.utils.i18n import I18nMiddleware

from bot.texts import DEFAULT_LANGUAGE, LANGUAGES, language_of


class ContactI18nMiddleware(I18nMiddleware):
    """Runs after ContactMiddleware; before a contact exists the client's language counts."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        contact = data.get("contact")
        if contact is not None and contact.language in LANGUAGES:
            return str(contact.language)
        user = data.get("event_from_user")
        return language_of(user.language_code) if user is not None else DEFAULT_LANGUAGE
