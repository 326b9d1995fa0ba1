"""The public contact form at /contact: no login, Dutch/English, CSRF, honeypot, per-IP
rate limit, length limits, a clear error per field and a confirmation with the reference."""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp import web

from admin.auth import public
from admin.keys import CLOCK, DB, LANG, SETTINGS, STAFF_SESSION, TICKETS
from admin.middleware import LOGIN_CSRF_COOKIE, https, render
from admin.proxies import client_address
from admin.urls import url_for
from storage.models import TicketCategory
from storage.services.contact_form import (
    CATEGORY,
    LIMITS,
    ContactFormService,
    FormInvalid,
    RateLimited,
    ip_hash,
)

HONEYPOT = "website"
REFERENCE = re.compile(r"T-\d{4}-\d{6,}")


def _page(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> web.Response:
    # Anonymous visitors get a double-submit token in a cookie (as on the login page);
    # a logged-in staff member posts with their session's token.
    record = request.get(STAFF_SESSION)
    token = (
        record.csrf_token
        if record is not None
        else request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    )
    context: dict[str, Any] = {
        "form_csrf": token,
        "values": values or {},
        "errors": errors or {},
        "notice": notice,
        "limits": LIMITS,
        "categories": list(TicketCategory),
        "honeypot": HONEYPOT,
    }
    response = render("contact_form.html", request, context, status=status)
    if record is None:
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=https(request)
        )
    return response


@public
async def contact_form(request: web.Request) -> web.Response:
    return _page(request)


@public
async def submit_contact_form(request: web.Request) -> web.Response:
    form = await request.post()
    values = {name: str(form.get(name, "")) for name in (*LIMITS, CATEGORY)}
    if form.get(HONEYPOT):
        # A bot filled the invisible field: thank it and keep nothing.
        raise web.HTTPSeeOther(url_for(request, "contact_form_sent"))
    settings = request.config_dict[SETTINGS]
    service = ContactFormService(request.config_dict[CLOCK], request.config_dict[TICKETS])
    try:
        receipt = await service.submit(
            request[DB],
            values,
            sender=ip_hash(settings.effective_secret_key(), client_address(request)),
            language=request[LANG],
        )
    except FormInvalid as exc:
        return _page(request, values=values, errors=exc.errors, status=422)
    except RateLimited:
        return _page(request, values=values, notice="form_rate_limited", status=429)
    # Post/redirect/get: reloading the confirmation must not send the form again.
    sent = url_for(request, "contact_form_sent")
    raise web.HTTPSeeOther(sent.with_query(reference=receipt.reference))


@public
async def contact_form_sent(request: web.Request) -> web.Response:
    reference = request.query.get("reference", "")
    # Only something shaped like a reference is echoed: the page is not a billboard.
    if not REFERENCE.fullmatch(reference):
        reference = ""
    return render("contact_form_done.html", request, {"reference": reference})
