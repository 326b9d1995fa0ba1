"""HTML pages: login/logout, account, ticket inbox and ticket page. Views stay thin."""

from __future__ import annotations

import csv
import io
import json
import math
import secrets
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import Select, select

from admin import live, ticket_desk
from admin.auth import (
    Permission,
    authenticated,
    has_permission,
    home_route,
    public,
    requires,
    writes,
)
from admin.flash import flash, take_flash
from admin.i18n import LANGUAGES
from admin.keys import CLOCK, DB, LANG, LOGIN_LIMITS, SETTINGS, STAFF_SESSION, TICKETS, USER
from admin.middleware import LOGIN_CSRF_COOKIE, SESSION_COOKIE, https, render
from admin.parsing import parse_duration, parse_id, path_id
from admin.proxies import client_address
from admin.ticket_notify import close_and_tell, reopen_and_tell
from admin.urls import url_for
from storage.models import (
    ApiToken,
    AuditEvent,
    StaffRole,
    StaffUser,
    TicketCategory,
    TicketPriority,
    TicketStatus,
)
from storage.services import access, saved_replies, staff
from storage.services.audit import Actor
from storage.services.errors import (
    N_,
    ContactRestricted,
    InvalidInput,
    ServiceError,
    StaleThread,
    TicketClosed,
)
from storage.services.text import csv_cell
from storage.services.tickets import TicketFilter
from storage.services.unfiled import contacts_waiting

STATIC_DIR = Path(__file__).parent / "static"


def _home_for(request: web.Request, user: StaffUser) -> str:
    return str(url_for(request, home_route(user)))


def _safe_next(value: str) -> str:
    """A path on this site, or "". Browsers drop tabs and newlines from URLs and read a
    backslash as a slash, so "/", a tab, "/evil.example" would become "//evil.example": any
    control character, whitespace or backslash makes the target unsafe, as does a host."""
    if (
        not value.startswith("/")
        or value.startswith("//")
        or any(ch <= " " or ch in "\\\x7f" for ch in value)
    ):
        return ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return ""
    return value


# --- public --------------------------------------------------------------------------------


@public
async def stylesheet(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(
        STATIC_DIR / "admin.css", headers={"Cache-Control": "public, max-age=3600"}
    )


@public
async def set_language(request: web.Request) -> web.StreamResponse:
    code = request.match_info["code"]
    if code not in LANGUAGES:
        raise web.HTTPNotFound()
    back = _safe_next(request.query.get("next", "")) or url_for(request, "login")
    response = web.HTTPSeeOther(back)
    response.set_cookie("lang", code, max_age=365 * 86400, samesite="Lax", httponly=True)
    raise response


def _login_page(
    request: web.Request,
    *,
    error: str = "",
    status: int = 200,
    username: str = "",
    retry_after: int = 0,
) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        "login.html",
        request,
        {
            "login_csrf": token,
            "error": error,
            "username": username,
            "retry_after": retry_after,
            "next": _safe_next(request.query.get("next", "")),
        },
        status=status,
    )
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=https(request)
    )
    return response


@public
async def login_form(request: web.Request) -> web.StreamResponse:
    user = request.get(USER)
    if user is not None:
        raise web.HTTPFound(_home_for(request, user))
    return _login_page(request)


@public
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))[:1024]
    ip = client_address(request)
    db, clock = request[DB], request.config_dict[CLOCK]
    attempt = await access.record_attempt(db, clock, username=username, ip=ip)
    # Committed before the count: parallel tries see each other, so no burst slips through.
    await db.commit()
    wait = await access.login_wait(db, clock, attempt, request.config_dict[LOGIN_LIMITS])
    if wait is not None:
        await access.withdraw_attempt(db, attempt)
        return _login_page(
            request,
            error="login_throttled",
            status=429,
            username=username,
            retry_after=math.ceil(wait.total_seconds()),
        )
    user = await access.authenticate(db, clock, attempt, password)
    if user is None:
        return _login_page(request, error="login_failed", status=401, username=username)
    old = request.get(STAFF_SESSION)
    if old is not None:
        await access.end_session(db, clock, old)
    new = await access.start_session(
        db, clock, user, ip=ip, user_agent=request.headers.get("User-Agent", "")
    )
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", ""))) or _home_for(request, user))
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        httponly=True,
        samesite="Lax",
        secure=https(request),
        path="/",
        max_age=int(access.ABSOLUTE_TIMEOUT.total_seconds()),
    )
    response.del_cookie(LOGIN_CSRF_COOKIE)
    raise response


@authenticated
async def logout(request: web.Request) -> web.StreamResponse:
    record = request.get(STAFF_SESSION)
    if record is not None:
        await access.end_session(request[DB], request.config_dict[CLOCK], record)
    response = web.HTTPSeeOther(url_for(request, "login"))
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@authenticated
@writes  # reads and clears the one-time token
async def account(request: web.Request) -> web.Response:
    return await _render_account(request, {})


async def _render_account(
    request: web.Request, context: dict[str, object], *, status: int = 200
) -> web.Response:
    tokens = await request[DB].scalars(
        select(ApiToken)
        .where(ApiToken.user_id == request[USER].id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.id)
    )
    context = {
        "tokens": list(tokens),
        "now": request.config_dict[CLOCK].now(),
        "new_token": await take_flash(request, "api_token"),
        "saved": request.query.get("saved") == "1",
        **context,
    }
    return render("account.html", request, context, status=status)


@authenticated
async def create_token(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    user, clock = request[USER], request.config_dict[CLOCK]
    expires_in = str(form.get("expires_in", ""))
    _, token = await access.create_api_token(
        request[DB],
        clock,
        username=user.username,
        name=str(form.get("name", ""))[:100],
        actor=Actor.staff(user),
        expires_at=clock.now() + parse_duration(expires_in) if expires_in else None,
    )
    await flash(request, "api_token", token)  # shown once by the page the redirect leads to
    raise web.HTTPSeeOther(url_for(request, "account"))


@authenticated
async def revoke_token(request: web.Request) -> web.StreamResponse:
    token_id = parse_id(request.match_info["id"])
    record = await request[DB].get(ApiToken, token_id) if token_id is not None else None
    if record is None or record.user_id != request[USER].id:
        raise web.HTTPNotFound()
    await access.revoke_api_token(
        request[DB], request.config_dict[CLOCK], record.id, Actor.staff(request[USER])
    )
    raise web.HTTPSeeOther(url_for(request, "account"))


@authenticated
async def change_password(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        await access.change_password(
            request[DB],
            request.config_dict[CLOCK],
            request[USER],
            current=str(form.get("current", ""))[:1024],
            new=str(form.get("new", ""))[:1024],
            keep_session=request.get(STAFF_SESSION),
        )
    except ServiceError as exc:
        return await _render_account(request, {"error": exc.text(request[LANG])}, status=exc.status)
    raise web.HTTPSeeOther(url_for(request, "account").with_query(saved="1"))


# --- users (admins) ------------------------------------------------------------------------


@requires(Permission.USERS_MANAGE)
async def users_page(request: web.Request) -> web.Response:
    return await _render_users(request)


async def _render_users(
    request: web.Request, *, error: str = "", status: int = 200
) -> web.Response:
    users = list(await request[DB].scalars(select(StaffUser).order_by(StaffUser.username)))
    return render(
        "users.html",
        request,
        {"users": users, "roles": list(StaffRole), "error": error},
        status=status,
    )


@requires(Permission.USERS_MANAGE)
async def create_user(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    db = request[DB]
    try:
        role = _enum_or_none(StaffRole, str(form.get("role", "")))
        if role is None:
            raise InvalidInput(N_("choose a role"))
        await staff.create_user(
            db,
            request.config_dict[CLOCK],
            username=str(form.get("username", ""))[:64],
            password=str(form.get("password", ""))[:1024],
            role=role,  # type: ignore[arg-type]
            actor=Actor.staff(request[USER]),
            display_name=str(form.get("display_name", ""))[:200],
        )
    except ServiceError as exc:  # raised before anything is written
        return await _render_users(request, error=exc.text(request[LANG]), status=exc.status)
    raise web.HTTPSeeOther(url_for(request, "users"))


@requires(Permission.USERS_MANAGE)
async def set_user_active(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    user_id = path_id(request)
    if user_id == request[USER].id:
        raise InvalidInput(N_("you cannot disable yourself"))
    await access.set_active(
        request[DB],
        request.config_dict[CLOCK],
        user_id,
        active=form.get("active") == "1",
        actor=Actor.staff(request[USER]),
    )
    raise web.HTTPSeeOther(url_for(request, "users"))


@requires(Permission.USERS_MANAGE)
async def set_user_role(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    role = _enum_or_none(StaffRole, str(form.get("role", "")))
    if role is None:
        raise InvalidInput(N_("choose a role"))
    try:
        await access.change_role(
            request[DB],
            request.config_dict[CLOCK],
            path_id(request),
            role=role,  # type: ignore[arg-type]
            actor=Actor.staff(request[USER]),
        )
    except ServiceError as exc:  # raised before anything is written
        return await _render_users(request, error=exc.text(request[LANG]), status=exc.status)
    raise web.HTTPSeeOther(url_for(request, "users"))


# --- tickets -------------------------------------------------------------------------------


def _enum_or_none(enum_cls: type, value: str) -> object:
    if not value:
        return None
    try:
        return enum_cls(value)
    except ValueError:
        raise InvalidInput(N_("unknown value {value!r}"), value=value) from None


def inbox_filter(query: dict[str, str] | object, user: StaffUser) -> TicketFilter:
    q = query  # a MultiDictProxy
    assignee = q.get("assignee", "")  # type: ignore[attr-defined]
    assignee_id: int | None = None
    if assignee == "me":
        assignee_id = user.id
    else:
        assignee_id = parse_id(assignee)
    return TicketFilter(
        status=_enum_or_none(TicketStatus, q.get("status", "")),  # type: ignore[arg-type, attr-defined]
        category=_enum_or_none(TicketCategory, q.get("category", "")),  # type: ignore[arg-type, attr-defined]
        organisation_id=parse_id(q.get("organisation", "")),  # type: ignore[attr-defined]
        assignee_id=assignee_id,
        unassigned=assignee == "none",
        unverified=q.get("unverified") == "1",  # type: ignore[attr-defined]
        query=q.get("q", "")[:200],  # type: ignore[attr-defined]
    )


# Status badges count up to this many ("1000+"): bounded work at a million tickets.
INBOX_COUNT_CAP = 1000
INBOX_SEARCH_COUNT_CAP = 100


@requires(Permission.TICKETS_VIEW)
async def inbox(request: web.Request) -> web.Response:
    filters = inbox_filter(request.query, request[USER])
    tickets = request.config_dict[TICKETS]
    # Text search checks every row it counts: count less far (an indexed search is exact).
    cap = INBOX_SEARCH_COUNT_CAP if filters.query else INBOX_COUNT_CAP
    found = await tickets.inbox(request[DB], filters, cursor=request.query.get("cursor"), cap=cap)
    params = {k: v for k, v in request.query.items() if k != "cursor"}
    context = {
        "page": found.page,
        # A capped count reads "1000+" and says "more than 1000" on hover.
        "counts": {
            s: n if found.cap is None or n <= found.cap else f"{found.cap}+"
            for s, n in found.counts.items()
        },
        "count_cap": found.cap,
        "waiting": await tickets.waiting_since(request[DB], found.page.items),
        "now": request.config_dict[CLOCK].now(),
        "params": params,
        "statuses": list(TicketStatus),
        "categories": list(TicketCategory),
        **await live.page_context(request),
        # Customers whose messages wait for their ticket choice: not on any ticket yet.
        "unfiled": await contacts_waiting(request[DB]),
        "unfiled_after": request.config_dict[SETTINGS].unfiled_after,
    }
    return render("inbox.html", request, context)


async def _render_ticket(
    request: web.Request, *, warning: str = "", draft: str = "", status: int = 200
) -> web.Response:
    ticket = await request.config_dict[TICKETS].get_thread(request[DB], path_id(request))
    return render(
        "ticket.html",
        request,
        {
            "ticket": ticket,
            "warning": warning,
            "draft": draft,
            "categories": list(TicketCategory),
            "priorities": list(TicketPriority),
            **await ticket_desk.ticket_context(request, ticket),
        },
        status=status,
    )


@requires(Permission.TICKETS_VIEW)
@writes  # presence on the ticket
async def ticket_page(request: web.Request) -> web.StreamResponse:
    return await _render_ticket(request, draft=await _saved_reply_draft(request))


async def _saved_reply_draft(request: web.Request) -> str:
    """The reply box prefilled with a saved reply (?saved_reply=ID): the picker's way
    without JavaScript. Only for staff who may reply."""
    raw = request.query.get("saved_reply", "")
    if not raw or not has_permission(request[USER], Permission.TICKETS_WRITE):
        return ""
    reply_id = parse_id(raw)
    if reply_id is None:
        raise web.HTTPNotFound()
    db = request[DB]
    ticket = await request.config_dict[TICKETS].get(db, path_id(request))
    try:
        return await saved_replies.text_for_ticket(db, request[USER], reply_id, ticket)
    except ContactRestricted:
        return ""  # the page's restriction notice says why the reply box stays empty


def _back(request: web.Request, ticket_id: int) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(url_for(request, "ticket", id=ticket_id))


@requires(Permission.TICKETS_WRITE)
async def reply(request: web.Request) -> web.StreamResponse:
    ticket_id = path_id(request)
    form = await request.post()
    text = str(form.get("text", ""))
    version = str(form.get("thread_version", ""))
    try:
        await request.config_dict[TICKETS].add_agent_reply(
            request[DB],
            ticket_id,
            staff=request[USER],
            text=text,
            expected_version=parse_id(version),
        )
    except StaleThread:
        return await _render_ticket(request, warning="stale", draft=text, status=409)
    except TicketClosed:
        return await _render_ticket(request, warning="closed_ticket", draft=text, status=409)
    except ContactRestricted:  # the page's restriction notice says why
        return await _render_ticket(request, draft=text, status=409)
    raise _back(request, ticket_id)


@requires(Permission.TICKETS_WRITE)
async def edit_reply(request: web.Request) -> web.StreamResponse:
    ticket_id = path_id(request)
    form = await request.post()
    await request.config_dict[TICKETS].edit_reply(
        request[DB],
        path_id(request, "reply_id"),
        staff=request[USER],
        text=str(form.get("text", "")),
        ticket_id=ticket_id,
    )
    raise _back(request, ticket_id)


@requires(Permission.TICKETS_WRITE)
async def note(request: web.Request) -> web.StreamResponse:
    ticket_id = path_id(request)
    form = await request.post()
    await request.config_dict[TICKETS].add_internal_note(
        request[DB], ticket_id, staff=request[USER], text=str(form.get("text", ""))
    )
    raise _back(request, ticket_id)


@requires(Permission.TICKETS_WRITE)
async def assign(request: web.Request) -> web.StreamResponse:
    ticket_id = path_id(request)
    form = await request.post()
    user = request[USER]
    target = str(form.get("assignee", "me"))
    assignee_id = user.id if target == "me" else parse_id(target)
    await request.config_dict[TICKETS].assign(
        request[DB], ticket_id, actor=Actor.staff(user), assignee_id=assignee_id
    )
    raise _back(request, ticket_id)


@requires(Permission.TICKETS_WRITE)
async def close(request: web.Request) -> web.StreamResponse:
    ticket_id = path_id(request)
    await close_and_tell(request, request[DB], ticket_id, Actor.staff(request[USER]))
    raise _back(request, ticket_id)


@requires(Permission.TICKETS_WRITE)
async def reopen(request: web.Request) -> web.StreamResponse:
    ticket_id = path_id(request)
    await reopen_and_tell(request, request[DB], ticket_id, Actor.staff(request[USER]))
    raise _back(request, ticket_id)


@requires(Permission.TICKETS_WRITE)
async def change_meta(request: web.Request) -> web.StreamResponse:
    ticket_id = path_id(request)
    form = await request.post()
    tickets, db, actor = request.config_dict[TICKETS], request[DB], Actor.staff(request[USER])
    ticket = await tickets.get(db, ticket_id)
    category = _enum_or_none(TicketCategory, str(form.get("category", "")))
    priority = _enum_or_none(TicketPriority, str(form.get("priority", "")))
    if category is not None and category != ticket.category:
        await tickets.set_category(db, ticket_id, actor=actor, category=category)  # type: ignore[arg-type]
    if priority is not None and priority != ticket.priority:
        await tickets.set_priority(db, ticket_id, actor=actor, priority=priority)  # type: ignore[arg-type]
    raise _back(request, ticket_id)


# --- audit ---------------------------------------------------------------------------------

AUDIT_PAGE = 100


def _audit_query(request: web.Request) -> Select[tuple[AuditEvent]]:
    q = request.query
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if q.get("actor"):
        stmt = stmt.where(AuditEvent.actor_label == q["actor"][:200])
    if q.get("action"):
        stmt = stmt.where(AuditEvent.action == q["action"][:64])
    if q.get("subject_type"):
        stmt = stmt.where(AuditEvent.subject_type == q["subject_type"][:32])
    if q.get("subject_id"):
        stmt = stmt.where(AuditEvent.subject_id == q["subject_id"][:64])
    for name, op in (
        (N_("since"), AuditEvent.occurred_at.__ge__),
        (N_("until"), AuditEvent.occurred_at.__lt__),
    ):
        if q.get(name):
            try:
                moment = datetime.fromisoformat(q[name])
            except ValueError:
                raise InvalidInput(
                    N_("{field}: use YYYY-MM-DD or an ISO timestamp"),
                    field=name,
                ) from None
            stmt = stmt.where(op(moment if moment.tzinfo else moment.replace(tzinfo=UTC)))
    return stmt


@requires(Permission.AUDIT_VIEW)
async def audit_page(request: web.Request) -> web.Response:
    stmt = _audit_query(request)
    before = parse_id(request.query.get("before", ""))
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    rows = list(await request[DB].scalars(stmt.limit(AUDIT_PAGE + 1)))
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    params = {k: v for k, v in request.query.items() if k != "before"}
    return render(
        "audit.html",
        request,
        {"events": rows, "params": params, "before": rows[-1].id if more else None},
    )


@requires(Permission.AUDIT_VIEW)
async def audit_csv(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="audit.csv"',
        }
    )
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "id",
            "occurred_at",
            "actor_type",
            "actor_id",
            "actor",
            "action",
            "subject_type",
            "subject_id",
            "details",
        ]
    )
    result = await request[DB].stream_scalars(_audit_query(request).limit(1_000_000))
    async for e in result:
        cells = [
            e.id,
            e.occurred_at.isoformat(),
            e.actor_type,
            e.actor_id or "",
            e.actor_label,
            e.action,
            e.subject_type,
            e.subject_id or "",
            json.dumps(e.details),
        ]
        writer.writerow([csv_cell(c) for c in cells])  # no spreadsheet formulas (injection)
        if buffer.tell() > 64_000:
            await response.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response
