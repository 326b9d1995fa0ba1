"""Office hours: Mon-Fri 9:00-17:30 in SUPPORTDESK_TIMEZONE, closed on the configured
public holidays (SUPPORTDESK_OFFICE_HOLIDAYS)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

OPENS = time(9, 0)
CLOSES = time(17, 30)
_PATTERN = {"nl": "EEEE d MMMM 'om' H:mm", "en": "EEEE d MMMM 'at' H:mm"}


def _workday(day: date, holidays: frozenset[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def next_opening(moment: datetime, zone: ZoneInfo, holidays: Iterable[date]) -> datetime | None:
    """None while the office is open; otherwise the (local) moment it opens next."""
    closed_days = frozenset(holidays)
    local = moment.astimezone(zone)
    day = local.date()
    if _workday(day, closed_days):
        if OPENS <= local.time() < CLOSES:
            return None
        if local.time() < OPENS:
            return datetime.combine(day, OPENS, tzinfo=zone)
    day += timedelta(days=1)
    while not _workday(day, closed_days):
        day += timedelta(days=1)
    return datetime.combine(day, OPENS, tzinfo=zone)


def describe_moment(moment: datetime, language: str) -> str:
    """E.g. 'maandag 7 december om 9:00' / 'Monday 7 December at 9:00'."""
    return format_datetime(moment, _PATTERN.get(language, _PATTERN["nl"]), locale=language)
