"""Filters checked on the event loop.

aiogram runs a plain synchronous filter (a magic filter such as F.text, an FSM State
passed as a filter) through asyncio.to_thread: a worker-thread round trip per check, about
nine per customer message. These checks are attribute comparisons, so the routers use
aiogram's async filter classes instead: `Magic(F....)` here and aiogram's StateFilter."""

from __future__ import annotations

from typing import Any

from aiogram import F
from aiogram.filters import Filter
from aiogram.types import TelegramObject
from aiogram.utils.magic_filter import MagicFilter


class Magic(Filter):
    """A magic filter resolved against the event, inline."""

    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: TelegramObject) -> Any:
        return self.magic.resolve(event)

    def __str__(self) -> str:
        return self._signature_to_string(magic=self.magic)


def command_like() -> Magic:
    """A message that could be a command (its text or caption starts with "/"): checked
    once per router that only takes commands outside its own states, so a customer's plain
    text skips that router's Command parses."""
    return Magic(F.text.startswith("/") | F.caption.startswith("/"))
