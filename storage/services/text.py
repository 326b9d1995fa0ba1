"""Text helpers shared by the services: message-text checks, LIKE patterns, CSV cells."""

from __future__ import annotations

from typing import Any

from storage.services.errors import N_, InvalidInput

MAX_TEXT = 100_000


def clean_text(text: str, *, allow_empty: bool = False) -> str:
    """A message text, stripped; empty (unless allowed) or over MAX_TEXT is refused."""
    text = (text or "").strip()
    if not text and not allow_empty:
        raise InvalidInput(N_("message text is empty"))
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            N_("message text is longer than {limit} characters"),
            limit=MAX_TEXT,
        )
    return text


def escape_like(value: str) -> str:
    """`value` matched literally by LIKE ... ESCAPE '\\' (no % or _ wildcards from users)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# What a spreadsheet may read as the start of a formula (CSV injection); tab and carriage
# return too, because some spreadsheets skip them and read the formula behind.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a string that could start a formula gets a
    leading apostrophe. Other values (numbers, None) stay as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
