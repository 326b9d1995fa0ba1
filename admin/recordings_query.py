"""The recording list's query (tag, held, dates, number, ticket, expiring) and date fields,
parsed the same way for the admin pages and the JSON API; refusals name the field."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from multidict import MultiDictProxy

from admin.parsing import parse_id
from admin.recordings_http import parse_bool
from recordings.queries import RecordingFilter, number_filter
from recordings.service import SEE_WITHHELD_ROLES
from storage.services.errors import N_, InvalidInput, Msgid


def parse_day(value: str, name: Msgid, zone: ZoneInfo, *, end: bool = False) -> datetime | None:
    """A YYYY-MM-DD field as the start of that day in the office zone (or of the next day).
    `name` is an N_ word: a refusal names the field as the page in its language labels it."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(N_("{field}: use a date like 2026-01-31"), field=name) from None
    try:
        start = datetime.combine(day, time.min, tzinfo=zone)
        return (start + timedelta(days=1) if end else start).astimezone(UTC)
    except OverflowError:  # 0001-01-01 / 9999-12-31 fall off the calendar in UTC
        raise InvalidInput(
            N_("{field}: {value} is out of range; use a date between 0002-01-01 and 9998-12-31"),
            field=name,
            value=value,
        ) from None


def _int(value: str, name: Msgid) -> int | None:
    if not value:
        return None
    number = parse_id(value)
    if number is None:
        raise InvalidInput(N_("{field} must be a number"), field=name)
    return number


MAX_EXPIRING_DAYS = 36_500  # a century: beyond it a date overflows, and means "all" anyway


def _expiring(value: str) -> int | None:
    days = _int(value, N_("expiring"))
    if days is not None and days > MAX_EXPIRING_DAYS:
        raise InvalidInput(
            N_("expiring must be at most {max_days} days"),
            max_days=MAX_EXPIRING_DAYS,
        )
    return days


def list_filter(query: MultiDictProxy[str], role: object, zone: ZoneInfo) -> RecordingFilter:
    return RecordingFilter(
        tag=query.get("tag", "").strip(),
        # A clear 422 for anything but true/false, on the page as on the API.
        held=parse_bool(query.get("held", ""), "held"),
        since=parse_day(query.get("from", ""), N_("from"), zone),
        until=parse_day(query.get("until", ""), N_("until"), zone, end=True),
        number=number_filter(query.get("number", "")),
        ticket_id=_int(query.get("ticket", ""), N_("ticket")),
        expiring_days=_expiring(query.get("expiring", "")),
        see_withheld=role in SEE_WITHHELD_ROLES,
    )
