"""Inline-button payloads of the conversation (each well under Telegram's 64 bytes)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import t
from storage.models import Ticket, TicketCategory


class PickTicket(CallbackData, prefix="pick"):
    """File held message `held_id` on ticket `ticket_id` (0: on a new ticket)."""

    held_id: int
    ticket_id: int


class SetCategory(CallbackData, prefix="cat"):
    ticket_id: int
    category: TicketCategory


def category_keyboard(lang: str, ticket_id: int) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            text=t(lang, f"category_{category.value}"),
            callback_data=SetCategory(ticket_id=ticket_id, category=category).pack(),
        )
        for category in TicketCategory
    ]
    return InlineKeyboardMarkup(
        inline_keyboard=[buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    )


def pick_keyboard(lang: str, held_id: int, tickets: list[Ticket]) -> InlineKeyboardMarkup:
    return ticket_buttons(held_id, tickets, t(lang, "new_ticket_button"))


def ticket_buttons(held_id: int, tickets: list[Ticket], new_label: str) -> InlineKeyboardMarkup:
    """A button per open ticket and one for a new ticket (labelled `new_label`)."""
    rows = [
        [
            InlineKeyboardButton(
                text=f"{ticket.reference} {ticket.subject[:40]}",
                callback_data=PickTicket(held_id=held_id, ticket_id=ticket.id).pack(),
            )
        ]
        for ticket in tickets
    ]
    new = PickTicket(held_id=held_id, ticket_id=0).pack()
    rows.append([InlineKeyboardButton(text=new_label, callback_data=new)])
    return InlineKeyboardMarkup(inline_keyboard=rows)
