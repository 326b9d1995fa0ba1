"""Text helpers shared by the services: message-text checks and LIKE patterns."""

from __future__ import annotations

from storage.services.errors import InvalidInput

MAX_TEXT = 100_000


def clean_text(text: str, *, allow_empty: bool = False) -> str:
    """A message text, stripped; empty (unless allowed) or over MAX_TEXT is refused."""
    text = (text or "").strip()
    if not text and not allow_empty:
        raise InvalidInput("message text is empty")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"message text is longer than {MAX_TEXT} characters")
    return text


def escape_like(value: str) -> str:
    """`value` matched literally by LIKE ... ESCAPE '\\' (no % or _ wildcards from users)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
