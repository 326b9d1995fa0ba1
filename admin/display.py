"""Jinja filters for showing stored values to staff: local times and delivery reasons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

# Telegram's error texts (as the delivery worker stores them) -> a key of the
# "delivery_reason" label table (admin/labels.py).
_DELIVERY_REASONS = (
    ("bot was blocked by the user", "blocked"),
    ("user is deactivated", "deactivated"),
    ("chat not found", "chat_not_found"),
    ("has no telegram chat", "no_chat"),
)


def local_time(zone: ZoneInfo) -> Callable[..., str]:
    """The `local` filter: a stored (UTC) datetime shown in the desk's time zone."""

    def fmt(value: datetime | date | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            # The UTCDateTime column type returns aware values; a naive one is UTC too.
            aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            return aware.astimezone(zone).strftime(pattern)
        return value.strftime(pattern)  # a plain date has no zone to convert

    return fmt


def delivery_reason(error: str | None) -> str | None:
    """The label key for a known delivery error, else None (show the stored text)."""
    lowered = (error or "").lower()
    return next((key for needle, key in _DELIVERY_REASONS if needle in lowered), None)


def minutes_between(since: datetime, now: datetime) -> int:
    """Whole minutes from `since` to `now` (naive values are UTC), never negative."""
    since = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return max(0, int((now - since).total_seconds() // 60))
