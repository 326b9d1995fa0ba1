"""One-time values for the next page of the same login (post/redirect/get): a new API
token or link code is shown once after the redirect, never put in a URL or re-rendered on
the POST. Kept server-side, in this process, keyed by the staff session; unread values
expire after FLASH_TTL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web

from admin.keys import CLOCK, STAFF_SESSION

FLASH_TTL = timedelta(minutes=5)


@dataclass
class FlashStore:
    _values: dict[tuple[str, str], tuple[datetime, str]] = field(default_factory=dict)

    def put(self, session_id: str, name: str, value: str, now: datetime) -> None:
        self._forget_expired(now)
        self._values[(session_id, name)] = (now + FLASH_TTL, value)

    def pop(self, session_id: str, name: str, now: datetime) -> str:
        expires, value = self._values.pop((session_id, name), (now, ""))
        return value if expires > now else ""

    def _forget_expired(self, now: datetime) -> None:
        for key in [k for k, (expires, _) in self._values.items() if expires <= now]:
            del self._values[key]


FLASH = web.AppKey("flash", FlashStore)


def flash(request: web.Request, name: str, value: str) -> None:
    request.config_dict[FLASH].put(
        request[STAFF_SESSION].id, name, value, request.config_dict[CLOCK].now()
    )


def take_flash(request: web.Request, name: str) -> str:
    record = request.get(STAFF_SESSION)
    if record is None:
        return ""
    return request.config_dict[FLASH].pop(record.id, name, request.config_dict[CLOCK].now())
