"""The running bot as the admin app sees it (returned by BotRuntime.start, in webhook and
polling mode): the webhook route and the privacy notices use it."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot

from bot.processor import UpdateProcessor


@dataclass(frozen=True)
class BotTransport:
    bot: Bot
    processor: UpdateProcessor
    secret: str  # the webhook's; empty in polling mode (the webhook route then refuses all)
