"""Office hours: Mon-Fri 9:00-17:30 in SUPPORTDESK_TIMEZONE, closed on Dutch public holidays
(computed for any year, SUPPORTDESK_OFFICE_PUBLIC_HOLIDAYS) and on the extra closed days of
SUPPORTDESK_OFFICE_HOLIDAYS."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

OPENS = time(9, 0)
CLOSES = time(17, 30)
_PATTERN = {"nl": "EEEE d MMMM 'om' H:mm", "en": "EEEE d MMMM 'at' H:mm"}


def easter_sunday(year: int) -> date:
    """Gregorian Easter (the anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


def dutch_public_holidays(year: int) -> frozenset[date]:
    """Nieuwjaarsdag, Goede Vrijdag, Pasen, Koningsdag (26 April when the 27th is a Sunday),
    Bevrijdingsdag, Hemelvaartsdag, Pinksteren and Kerstmis."""
    easter = easter_sunday(year)
    kings_day = date(year, 4, 27)
    if kings_day.weekday() == 6:
        kings_day = date(year, 4, 26)
    return frozenset(
        {
            date(year, 1, 1),
            *(easter + timedelta(days=n) for n in (-2, 0, 1, 39, 49, 50)),
            kings_day,
            date(year, 5, 5),
            date(year, 12, 25),
            date(year, 12, 26),
        }
    )


def _workday(day: date, extra_closed: frozenset[date], public_holidays: bool) -> bool:
    if day.weekday() >= 5 or day in extra_closed:
        return False
    return not (public_holidays and day in dutch_public_holidays(day.year))


def next_opening(
    moment: datetime,
    zone: ZoneInfo,
    holidays: Iterable[date] = (),
    *,
    public_holidays: bool = True,
) -> datetime | None:
    """None while the office is open; otherwise the (local) moment it opens next.
    `holidays` are extra closed days besides weekends (and Dutch public holidays)."""
    extra = frozenset(holidays)

    def open_on(day: date) -> bool:
        return _workday(day, extra, public_holidays)

    local = moment.astimezone(zone)
    day = local.date()
    if open_on(day):
        if OPENS <= local.time() < CLOSES:
            return None
        if local.time() < OPENS:
            return datetime.combine(day, OPENS, tzinfo=zone)
    day += timedelta(days=1)
    while not open_on(day):
        day += timedelta(days=1)
    return datetime.combine(day, OPENS, tzinfo=zone)


def describe_moment(moment: datetime, language: str) -> str:
    """E.g. 'maandag 7 december om 9:00' / 'Monday 7 December at 9:00'."""
    return format_datetime(moment, _PATTERN.get(language, _PATTERN["nl"]), locale=language)
