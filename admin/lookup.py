"""Lookups for the forms that ask for an id: JSON suggestions while the agent types
(admin/static/lookup.js fills the input's <datalist>). Each kind needs the permission of
the pages that show those rows; the searching is storage/services/lookup.py's."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from admin.auth import Permission, public, requires
from admin.keys import DB, SETTINGS
from storage.services import lookup
from storage.services.lookup import Suggestion

STATIC = Path(__file__).parent / "static"


def _answer(found: list[Suggestion]) -> web.Response:
    return web.json_response({"results": [{"id": s.id, "label": s.label} for s in found]})


def _query(request: web.Request) -> str:
    return request.query.get("q", "")


@requires(Permission.CUSTOMERS_MANAGE)
async def contacts(request: web.Request) -> web.Response:
    return _answer(await lookup.contacts(request[DB], _query(request)))


@requires(Permission.CUSTOMERS_MANAGE)
async def organisations(request: web.Request) -> web.Response:
    return _answer(await lookup.organisations(request[DB], _query(request)))


@requires(Permission.TICKETS_VIEW)
async def tickets(request: web.Request) -> web.Response:
    return _answer(await lookup.tickets(request[DB], _query(request)))


@requires(Permission.RECORDINGS_VIEW)
async def recordings(request: web.Request) -> web.Response:
    zone = request.config_dict[SETTINGS].zone
    return _answer(await lookup.recordings(request[DB], _query(request), zone))


@public
async def lookup_script(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "lookup.js", headers={"Cache-Control": "public, max-age=3600"})
