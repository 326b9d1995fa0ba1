"""Links from the route names of admin.routes, so no view writes a path down twice."""

from __future__ import annotations

from aiohttp import web
from yarl import URL


def url_for(request: web.Request, name: str, /, **parts: object) -> URL:
    """The URL of the named route of the app serving `request` (ids may be ints)."""
    return request.app.router[name].url_for(**{key: str(value) for key, value in parts.items()})
