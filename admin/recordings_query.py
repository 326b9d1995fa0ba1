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
from storage.services.errors import InvalidInput

# The fields' names in a Dutch refusal, as the Dutch page labels them.
_NAMES_NL = {
    "from": "vanaf",
    "until": "tot",
    "review date": "herbeoordelingsdatum",
    "ticket": "ticket",
    "expiring": "verloopt binnen",
}


def _name_nl(name: str) -> str:
    return _NAMES_NL.get(name, name)


def parse_day(value: str, name: str, zone: ZoneInfo, *, end: bool = False) -> datetime | None:
    """A YYYY-MM-DD field as the start of that day in the office zone (or of the next day)."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(
            f"{name}: use a date like 2026-01-31",
            nl=f"{_name_nl(name)}: gebruik een datum zoals 2026-01-31",
        ) from None
    try:
        start = datetime.combine(day, time.min, tzinfo=zone)
        return (start + timedelta(days=1) if end else start).astimezone(UTC)
    except OverflowError:  # 0001-01-01 / 9999-12-31 fall off the calendar in UTC
        raise InvalidInput(
            f"{name}: {value} is out of range; use a date between 0002-01-01 and 9998-12-31",
            nl=(
                f"{_name_nl(name)}: {value} valt buiten het bereik; gebruik een datum tussen "
                "0002-01-01 en 9998-12-31"
            ),
        ) from None


def _int(value: str, name: str) -> int | None:
    if not value:
        return None
    number = parse_id(value)
    if number is None:
        raise InvalidInput(f"{name} must be a number", nl=f"{_name_nl(name)}: moet een getal zijn")
    return number


MAX_EXPIRING_DAYS = 36_500  # a century: beyond it a date overflows, and means "all" anyway


def _expiring(value: str) -> int | None:
    days = _int(value, "expiring")
    if days is not None and days > MAX_EXPIRING_DAYS:
        raise InvalidInput(
            f"expiring must be at most {MAX_EXPIRING_DAYS} days",
            nl=f"'verloopt binnen' mag hoogstens {MAX_EXPIRING_DAYS} dagen zijn",
        )
    return days


def list_filter(query: MultiDictProxy[str], role: object, zone: ZoneInfo) -> RecordingFilter:
    return RecordingFilter(
        tag=query.get("tag", "").strip(),
        # A clear 422 for anything but true/false, on the page as on the API.
        held=parse_bool(query.get("held", ""), "held"),
        since=parse_day(query.get("from", ""), "from", zone),
        until=parse_day(query.get("until", ""), "until", zone, end=True),
        number=number_filter(query.get("number", "")),
        ticket_id=_int(query.get("ticket", ""), "ticket"),
        expiring_days=_expiring(query.get("expiring", "")),
        see_withheld=role in SEE_WITHHELD_ROLES,
    )
