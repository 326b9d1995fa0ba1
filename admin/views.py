"""HTML pages: login/logout, account, ticket inbox and ticket page. Views stay thin."""

from __future__ import annotations

import csv
import io
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import Select, select

from admin import ticket_desk
from admin.auth import Permission, authenticated, public, requires, writes
from admin.i18n import LANGUAGES
from admin.keys import CLOCK, DB, LANG, STAFF_SESSION, TICKETS, USER
from admin.middleware import LOGIN_CSRF_COOKIE, SESSION_COOKIE, https, render
from admin.parsing import parse_id, path_id
from storage.models import (
    ApiToken,
    AuditEvent,
    StaffRole,
    StaffUser,
    TicketCategory,
    TicketPriority,
    TicketStatus,
)
from storage.services import access, staff
from storage.services.audit import Actor
from storage.services.errors import (
    ContactRestricted,
    InvalidInput,
    ServiceError,
    StaleThread,
    TicketClosed,
)
from storage.services.text import csv_cell
from storage.services.tickets import TicketFilter

STATIC_DIR = Path(__file__).parent / "static"
routes = web.RouteTableDef()


def _home_for(user: StaffUser) -> str:
    from admin.auth import has_permission

    return "/" if has_permission(user, Permission.TICKETS_VIEW) else "/account"


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


@routes.get("/static/admin.css")
@public
async def stylesheet(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(
        STATIC_DIR / "admin.css", headers={"Cache-Control": "public, max-age=3600"}
    )


@routes.get("/lang/{code}")
@public
async def set_language(request: web.Request) -> web.StreamResponse:
    code = request.match_info["code"]
    if code not in LANGUAGES:
        raise web.HTTPNotFound()
    response = web.HTTPSeeOther(_safe_next(request.query.get("next", "")) or "/login")
    response.set_cookie("lang", code, max_age=365 * 86400, samesite="Lax", httponly=True)
    raise response


def _login_page(
    request: web.Request, *, error: str = "", status: int = 200, username: str = ""
) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        "login.html",
        request,
        {
            "login_csrf": token,
            "error": error,
            "username": username,
            "next": _safe_next(request.query.get("next", "")),
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=https(request)
    )
    return response


@routes.get("/login")
@public
async def login_form(request: web.Request) -> web.StreamResponse:
    user = request.get(USER)
    if user is not None:
        raise web.HTTPFound(_home_for(user))
    return _login_page(request)


@routes.post("/login")
@public
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))[:1024]
    ip = request.remote or ""
    db, clock = request[DB], request.config_dict[CLOCK]
    if await access.is_throttled(db, clock, username, ip):
        return _login_page(request, error="login_throttled", status=429, username=username)
    user = await access.authenticate(db, clock, username=username, password=password, ip=ip)
    if user is None:
        return _login_page(request, error="login_failed", status=401, username=username)
    old = request.get(STAFF_SESSION)
    if old is not None:
        await access.end_session(db, clock, old)
    new = await access.start_session(
        db, clock, user, ip=ip, user_agent=request.headers.get("User-Agent", "")
    )
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", ""))) or _home_for(user))
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


@routes.post("/logout")
@authenticated
async def logout(request: web.Request) -> web.StreamResponse:
    record = request.get(STAFF_SESSION)
    if record is not None:
        await access.end_session(request[DB], request.config_dict[CLOCK], record)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@routes.get("/account")
@authenticated
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
    return render("account.html", request, {"tokens": list(tokens), **context}, status=status)


@routes.post("/account/tokens")
@authenticated
async def create_token(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    user = request[USER]
    _, token = await access.create_api_token(
        request[DB],
        request.config_dict[CLOCK],
        username=user.username,
        name=str(form.get("name", ""))[:100],
        actor=Actor.staff(user),
    )
    return await _render_account(request, {"new_token": token})


@routes.post("/account/tokens/{id}/revoke")
@authenticated
async def revoke_token(request: web.Request) -> web.StreamResponse:
    token_id = parse_id(request.match_info["id"])
    record = await request[DB].get(ApiToken, token_id) if token_id is not None else None
    if record is None or record.user_id != request[USER].id:
        raise web.HTTPNotFound()
    await access.revoke_api_token(
        request[DB], request.config_dict[CLOCK], record.id, Actor.staff(request[USER])
    )
    raise web.HTTPSeeOther("/account")


@routes.post("/account/password")
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
    return await _render_account(request, {"saved": True})


# --- users (admins) ------------------------------------------------------------------------


@routes.get("/users")
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


@routes.post("/users")
@requires(Permission.USERS_MANAGE)
async def create_user(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    db = request[DB]
    try:
        role = _enum_or_none(StaffRole, str(form.get("role", "")))
        if role is None:
            raise InvalidInput("choose a role", nl="kies een rol")
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
    raise web.HTTPSeeOther("/users")


@routes.post("/users/{id}/active")
@requires(Permission.USERS_MANAGE)
async def set_user_active(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    user_id = path_id(request)
    if user_id == request[USER].id:
        raise InvalidInput("you cannot disable yourself", nl="je kunt jezelf niet uitschakelen")
    await access.set_active(
        request[DB],
        request.config_dict[CLOCK],
        user_id,
        active=form.get("active") == "1",
        actor=Actor.staff(request[USER]),
    )
    raise web.HTTPSeeOther("/users")


@routes.post("/users/{id}/role")
@requires(Permission.USERS_MANAGE)
async def set_user_role(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    role = _enum_or_none(StaffRole, str(form.get("role", "")))
    if role is None:
        raise InvalidInput("choose a role", nl="kies een rol")
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
    raise web.HTTPSeeOther("/users")


# --- tickets -------------------------------------------------------------------------------


def _enum_or_none(enum_cls: type, value: str) -> object:
    if not value:
        return None
    try:
        return enum_cls(value)
    except ValueError:
        raise InvalidInput(f"unknown value {value!r}", nl=f"onbekende waarde {value!r}") from None


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


@routes.get("/")
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
        "params": params,
        "statuses": list(TicketStatus),
        "categories": list(TicketCategory),
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


@routes.get("/tickets/{id}")
@requires(Permission.TICKETS_VIEW)
@writes  # presence on the ticket
async def ticket_page(request: web.Request) -> web.StreamResponse:
    return await _render_ticket(request)


def _back(ticket_id: int) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/tickets/{ticket_id}")


@routes.post("/tickets/{id}/reply")
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
    raise _back(ticket_id)


@routes.post("/tickets/{id}/replies/{reply_id}/edit")
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
    raise _back(ticket_id)


@routes.post("/tickets/{id}/note")
@requires(Permission.TICKETS_WRITE)
async def note(request: web.Request) -> web.StreamResponse:
    ticket_id = path_id(request)
    form = await request.post()
    await request.config_dict[TICKETS].add_internal_note(
        request[DB], ticket_id, staff=request[USER], text=str(form.get("text", ""))
    )
    raise _back(ticket_id)


@routes.post("/tickets/{id}/assign")
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
    raise _back(ticket_id)


@routes.post("/tickets/{id}/close")
@requires(Permission.TICKETS_WRITE)
async def close(request: web.Request) -> web.StreamResponse:
    ticket_id = path_id(request)
    await request.config_dict[TICKETS].close(
        request[DB], ticket_id, actor=Actor.staff(request[USER])
    )
    raise _back(ticket_id)


@routes.post("/tickets/{id}/reopen")
@requires(Permission.TICKETS_WRITE)
async def reopen(request: web.Request) -> web.StreamResponse:
    ticket_id = path_id(request)
    await request.config_dict[TICKETS].reopen(
        request[DB], ticket_id, actor=Actor.staff(request[USER])
    )
    raise _back(ticket_id)


@routes.post("/tickets/{id}/meta")
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
    raise _back(ticket_id)


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
    for name, name_nl, op in (
        ("since", "vanaf", AuditEvent.occurred_at.__ge__),
        ("until", "tot", AuditEvent.occurred_at.__lt__),
    ):
        if q.get(name):
            try:
                moment = datetime.fromisoformat(q[name])
            except ValueError:
                raise InvalidInput(
                    f"{name}: use YYYY-MM-DD or an ISO timestamp",
                    nl=f"{name_nl}: gebruik JJJJ-MM-DD of een ISO-tijdstip",
                ) from None
            stmt = stmt.where(op(moment if moment.tzinfo else moment.replace(tzinfo=UTC)))
    return stmt


@routes.get("/audit")
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


@routes.get("/audit.csv")
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
