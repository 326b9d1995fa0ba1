"""Request parsing shared by the admin pages and the JSON API: path ids and JSON bodies.

Bad input raises the services' InvalidInput, which errors_middleware renders as
{"error": {"code", "message"}} with status 422 on the API (and as the error page elsewhere);
a path id that cannot name a row is a plain 404.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from aiohttp import web

from storage.services.errors import N_, InvalidInput

_DURATION = re.compile(r"([0-9]{1,6})([hdw])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
LONGEST_DURATION = timedelta(days=3660)  # ten years: longer is "no expiry" in disguise

# Ids are signed 64-bit columns on both databases; a bigger number cannot name a row (and
# SQLite's driver raises OverflowError on it, which would surface as a 500).
MAX_ID = 2**63 - 1


def parse_id(raw: str) -> int | None:
    """A row id written in decimal (ASCII digits, at most MAX_ID), else None."""
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= MAX_ID else None


def path_id(request: web.Request, name: str = "id") -> int:
    ident = parse_id(request.match_info[name])
    if ident is None:
        raise web.HTTPNotFound()
    return ident


def json_id(data: dict[str, Any], key: str, default: int | None = None) -> int | None:
    """An optional id from a JSON body: absent -> default, null -> None, else 1..MAX_ID."""
    if key not in data:
        return default
    value = data[key]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InvalidInput(N_("'{key}' must be an id (a positive integer) or null"), key=key)
    return value


async def json_body(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; no body at all counts as {}."""
    if not request.body_exists:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise InvalidInput(N_("request body is not valid JSON")) from None
    if not isinstance(data, dict):
        raise InvalidInput(N_("request body must be a JSON object"))
    return data


def parse_duration(raw: str) -> timedelta:
    """A span written as a number and a unit: "12h", "90d", "4w" (hours, days, weeks);
    InvalidInput for anything else, for 0 and for more than ten years."""
    match = _DURATION.fullmatch(raw.strip().lower())
    span = int(match.group(1)) * _UNITS[match.group(2)] if match else None
    if span is None or not timedelta(0) < span <= LONGEST_DURATION:
        raise InvalidInput(
            N_("{raw!r} is not a duration such as 12h, 90d or 4w (at most ten years)"), raw=raw
        )
    return span
