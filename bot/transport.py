"""What the webhook route needs from the running bot (set by bot.runtime at start-up)."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot

from bot.processor import UpdateProcessor


@dataclass(frozen=True)
class BotTransport:
    bot: Bot
    processor: UpdateProcessor
    secret: str
