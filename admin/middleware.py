"""Middlewares: errors, one DB session per request, access control + CSRF, security headers."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from sqlalchemy.ext.asyncio import AsyncSession

from admin.auth import (
    Access,
    has_permission,
    home_route,
    is_csrf_exempt,
    is_read_only,
    requirement_of,
)
from admin.i18n import pick_language, texts
from admin.keys import (
    CLOCK,
    DB,
    DB_WRITES,
    LANG,
    READ_SESSIONMAKER,
    SESSIONMAKER,
    SETTINGS,
    STAFF_SESSION,
    USER,
)
from admin.urls import url_for
from storage.models import StaffUser
from storage.services import access
from storage.services.errors import ServiceError

log = logging.getLogger(__name__)

SESSION_COOKIE = "sd_session"
LOGIN_CSRF_COOKIE = "sd_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def wants_event_stream(request: web.Request) -> bool:
    return "text/event-stream" in request.headers.get(hdrs.ACCEPT, "")


def https(request: web.Request) -> bool:
    return request.config_dict[SETTINGS].public_url.startswith("https://")


def api_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, object] | None = None,
    **headers: str,
) -> web.Response:
    error: dict[str, object] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=status, headers=headers or None)


def error_page(request: web.Request, status: int, key: str, message: str = "") -> web.Response:
    return render(
        "error.html", request, {"status": status, "key": key, "message": message}, status=status
    )


def render(
    template: str, request: web.Request, context: dict[str, object], *, status: int = 200
) -> web.Response:
    """Render a page with the per-request context (user, CSRF token, labels)."""
    return aiohttp_jinja2.render_template(
        template, request, {**template_context(request), **context}, status=status
    )


_STATUS_KEYS = {403: "forbidden", 404: "not_found"}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[LANG] = pick_language(
        request.cookies.get("lang"), request.headers.get("Accept-Language", "")
    )
    try:
        return await handler(request)
    except ServiceError as exc:
        if is_api(request):
            return api_error(exc.status, exc.code, exc.message, exc.details)
        key = _STATUS_KEYS.get(exc.status, "error")
        return error_page(request, exc.status, key, exc.text(request[LANG]))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if is_api(request):
            code = (exc.reason or "error").lower().replace(" ", "_")
            return api_error(exc.status, code, exc.reason or "error")
        if exc.status in _STATUS_KEYS:
            return error_page(request, exc.status, _STATUS_KEYS[exc.status])
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        if is_api(request):
            return api_error(500, "internal", "internal server error")
        return error_page(request, 500, "error")


@web.middleware
async def db_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One AsyncSession per request, committed when the handler succeeds (redirects too).
    GET/HEAD get a read-only one (no write lock on SQLite) unless the handler is `writes`."""
    read_only = is_read_only(request.method, request.match_info.handler)
    sessionmaker = request.config_dict[READ_SESSIONMAKER if read_only else SESSIONMAKER]
    async with sessionmaker() as session:
        request[DB] = session
        request[DB_WRITES] = not read_only
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                await session.commit()
            raise
        await session.commit()
        return response


async def _write_aside(
    request: web.Request, write: Callable[[AsyncSession], Awaitable[None]]
) -> None:
    """A small write for a read-only request (its session touch): in the request's own
    session when that one writes, else in a short transaction of its own."""
    if request[DB_WRITES]:
        await write(request[DB])
        return
    async with request.config_dict[SESSIONMAKER]() as session:
        await write(session)
        await session.commit()


async def _identify(request: web.Request) -> StaffUser | None:
    db = request[DB]
    clock = request.config_dict[CLOCK]
    if is_api(request):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        found = await access.user_for_token(db, clock, token.strip())
        if found is None:
            return None
        record, user = found
        if access.token_touch_due(clock, record):
            await _write_aside(request, lambda s: access.touch_token(s, clock, record))
        return user
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    resumed = await access.resume_session(db, clock, token)
    if resumed is None:
        return None
    if resumed.needs_write:
        await _write_aside(request, lambda s: access.settle_session(s, clock, resumed))
    if resumed.user is None:
        return None
    request[STAFF_SESSION] = resumed.record
    return resumed.user


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Enforce the route's declared requirement, then CSRF on state-changing page requests."""
    match_info = request.match_info
    if match_info.http_exception is not None:
        return await handler(request)
    requirement = requirement_of(match_info.handler)
    if requirement is None:
        log.error("route %s %s declares no permission; refused", request.method, request.path)
        raise web.HTTPForbidden()
    user = await _identify(request)
    if user is not None:
        request[USER] = user
    if not has_permission(user, requirement):
        if user is None:
            if wants_event_stream(request):
                raise web.HTTPUnauthorized()  # EventSource cannot follow a login page
            if is_api(request):
                return api_error(
                    401,
                    "unauthorized",
                    "a valid bearer token is required",
                    **{"WWW-Authenticate": "Bearer"},
                )
            home = str(url_for(request, "inbox"))
            target = request.path_qs if request.method in SAFE_METHODS else home
            login = str(url_for(request, "login"))
            raise web.HTTPFound(login + "?next=" + quote(target, safe=""))
        raise web.HTTPForbidden()
    exempt = is_csrf_exempt(match_info.handler)
    if request.method not in SAFE_METHODS and not is_api(request) and not exempt:
        await _check_csrf(request, requirement)
    return await handler(request)


async def _check_csrf(request: web.Request, requirement: object) -> None:
    record = request.get(STAFF_SESSION)
    if record is not None:
        expected = record.csrf_token
    elif requirement == Access.PUBLIC:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    else:
        expected = ""
    given = request.headers.get("X-CSRF-Token", "")
    if not given and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get("csrf_token", "")
        given = value if isinstance(value, str) else ""
    if not expected or not given or not secrets.compare_digest(expected, given):
        raise web.HTTPForbidden(reason="CSRF token missing or invalid")


SERVER = "supportdesk"  # no versions: aiohttp's default names Python's and its own


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers[hdrs.SERVER] = SERVER
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"
    if https(request):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def template_context(request: web.Request) -> dict[str, object]:
    lang = request.get(LANG) or "nl"
    user = request.get(USER)
    record = request.get(STAFF_SESSION)

    def can(permission: str) -> bool:
        return user is not None and has_permission(user, permission)  # type: ignore[arg-type]

    return {
        "request": request,
        "lang": lang,
        "texts": texts(request),  # read by `_`, ngettext and `label` (admin.i18n)
        "user": user,
        "csrf_token": record.csrf_token if record is not None else "",
        "can": can,
        "home": home_route(user),  # the logo's target: the role's own start page
    }
