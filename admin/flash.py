"""One-time values for the next page of the same login (post/redirect/get): a new API
token or link code is shown once after the redirect, never put in a URL or re-rendered on
the POST. Kept server-side on the staff session row, so whichever instance serves the
redirected GET finds it; that GET reads and clears it (its handler is `@writes`). An unread
value expires after FLASH_TTL. The row holds it sealed (storage/sealing.py), never readable."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from admin.keys import CLOCK, DB, FLASH_SEALER, STAFF_SESSION
from storage.services import access

FLASH_TTL = timedelta(minutes=5)


async def flash(request: web.Request, name: str, value: str) -> None:
    """In the request's transaction: the value is there once the POST commits."""
    expires_at = request.config_dict[CLOCK].now() + FLASH_TTL
    await access.put_flash(
        request[DB],
        request.config_dict[FLASH_SEALER],
        request[STAFF_SESSION].id,
        name,
        value,
        expires_at,
    )


async def take_flash(request: web.Request, name: str) -> str:
    record = request.get(STAFF_SESSION)
    if record is None:
        return ""
    return await access.take_flash(
        request[DB],
        request.config_dict[FLASH_SEALER],
        record.id,
        name,
        request.config_dict[CLOCK].now(),
    )
