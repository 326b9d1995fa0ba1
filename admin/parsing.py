"""Request parsing shared by the admin pages and the JSON API: path ids and JSON bodies.

Bad input raises the services' InvalidInput, which errors_middleware renders as
{"error": {"code", "message"}} with status 422 on the API (and as the error page elsewhere);
a path id that cannot name a row is a plain 404.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from storage.services.errors import N_, InvalidInput

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
