"""Saved replies: the pages that manage them (list, create, edit, delete) and the ticket
page's picker, which asks for a reply's text filled in for its ticket. The rules (who may
change what, the placeholders) are storage/services/saved_replies.py's."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from admin.auth import Permission, public, requires
from admin.keys import CLOCK, DB, LANG, TICKETS, USER
from admin.middleware import render
from admin.parsing import path_id
from admin.urls import url_for
from storage.models import SavedReply, StaffRole
from storage.services import saved_replies
from storage.services.errors import InvalidInput, ServiceError

STATIC = Path(__file__).parent / "static"
TITLE = "title"
BODY = "body"


def _list_url(request: web.Request) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(url_for(request, "saved_replies"))


async def _render_list(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    user = request[USER]
    replies = await saved_replies.visible(request[DB], user)
    return render(
        "saved_replies.html",
        request,
        {
            "replies": replies,
            "changeable": {r.id for r in replies if saved_replies.may_change(user, r)},
            "may_share": user.role == StaffRole.ADMIN,
            "placeholders": saved_replies.PLACEHOLDERS,
            "values": values or {},
            "error": error,
        },
        status=status,
    )


@requires(Permission.TICKETS_WRITE)
async def saved_replies_page(request: web.Request) -> web.Response:
    return await _render_list(request)


@requires(Permission.TICKETS_WRITE)
async def create_saved_reply(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values = {TITLE: str(form.get(TITLE, "")), BODY: str(form.get(BODY, ""))}
    try:
        await saved_replies.create(
            request[DB],
            request.config_dict[CLOCK],
            request[USER],
            title=values[TITLE],
            body=values[BODY],
            shared=form.get("shared") == "1",
        )
    except ServiceError as exc:  # raised before anything is written
        return await _render_list(
            request, values=values, error=exc.text(request[LANG]), status=exc.status
        )
    raise _list_url(request)


async def _render_edit(
    request: web.Request,
    reply: SavedReply,
    *,
    values: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    return render(
        "saved_reply.html",
        request,
        {
            "reply": reply,
            "values": values or {TITLE: reply.title, BODY: reply.body},
            "placeholders": saved_replies.PLACEHOLDERS,
            "error": error,
        },
        status=status,
    )


@requires(Permission.TICKETS_WRITE)
async def edit_form(request: web.Request) -> web.Response:
    reply = await saved_replies.get_changeable(request[DB], request[USER], path_id(request))
    return await _render_edit(request, reply)


@requires(Permission.TICKETS_WRITE)
async def update_saved_reply(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values = {TITLE: str(form.get(TITLE, "")), BODY: str(form.get(BODY, ""))}
    db, user, reply_id = request[DB], request[USER], path_id(request)
    try:
        await saved_replies.update(
            db, request.config_dict[CLOCK], user, reply_id, title=values[TITLE], body=values[BODY]
        )
    except InvalidInput as exc:  # checked before the row changes; 404/403 stay error pages
        reply = await saved_replies.get_changeable(db, user, reply_id)
        return await _render_edit(
            request, reply, values=values, error=exc.text(request[LANG]), status=exc.status
        )
    raise _list_url(request)


@requires(Permission.TICKETS_WRITE)
async def delete_saved_reply(request: web.Request) -> web.StreamResponse:
    await saved_replies.delete(request[DB], request[USER], path_id(request))
    raise _list_url(request)


@requires(Permission.TICKETS_WRITE)
async def ticket_saved_reply(request: web.Request) -> web.Response:
    """The picker's question: this reply's text for this ticket (read-only)."""
    db = request[DB]
    ticket = await request.config_dict[TICKETS].get(db, path_id(request))
    text = await saved_replies.text_for_ticket(
        db, request[USER], path_id(request, "saved_id"), ticket
    )
    return web.json_response({"text": text})


@public
async def picker_script(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(
        STATIC / "saved_replies.js", headers={"Cache-Control": "public, max-age=3600"}
    )
