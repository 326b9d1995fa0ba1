"""Ticket-page additions: presence (heartbeat + "also open by"), attachment preview and
download streamed from the object store, assign to a colleague, link a recording."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select

from admin import live
from admin.auth import Permission, has_permission, public, requires
from admin.keys import CLOCK, DB, OBJECT_STORE, TICKETS, USER
from admin.parsing import parse_id, path_id
from admin.urls import url_for
from storage.models import Attachment, StaffUser, Ticket
from storage.objectstore.base import ObjectNotFound
from storage.services import saved_replies
from storage.services.audit import Actor
from storage.services.contact_form import ContactFormService
from storage.services.desk import PresenceService, link_recording, recordings_of
from storage.services.errors import N_, InvalidInput
from storage.services.message_edits import history as edit_history
from storage.services.tickets import TICKET_WORKER_ROLES

STATIC = Path(__file__).parent / "static"
# Shown inline only for raster types a browser cannot run script from (never SVG/HTML).
PREVIEW_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


async def ticket_context(request: web.Request, ticket: Ticket) -> dict[str, Any]:
    """Extra context for ticket.html; viewing the page counts as a heartbeat."""
    db, user = request[DB], request[USER]
    presence = PresenceService(request.config_dict[CLOCK])
    await presence.beat(db, ticket.id, user.id)
    agents = await db.scalars(
        select(StaffUser)
        .where(StaffUser.is_active.is_(True), StaffUser.role.in_(TICKET_WORKER_ROLES))
        .order_by(StaffUser.username)
    )
    service = ContactFormService(request.config_dict[CLOCK], request.config_dict[TICKETS])
    may_reply = has_permission(user, Permission.TICKETS_WRITE)
    return {
        "saved_replies": await saved_replies.visible(db, user) if may_reply else [],
        "others_present": await presence.others(db, ticket.id, user.id),
        "agents": list(agents),
        "linked_recordings": await recordings_of(db, ticket.id),
        "submission": await service.for_ticket(db, ticket),
        "preview_types": PREVIEW_TYPES,
        # Customers' earlier versions of edited messages, in one query.
        "edits": await edit_history(db, [m.id for m in ticket.messages if m.edited_at]),
        "reply_restricted": await request.config_dict[TICKETS].replies_restricted(db, ticket),
        **await live.page_context(request),
    }


@public
async def presence_script(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(
        STATIC / "presence.js", headers={"Cache-Control": "public, max-age=3600"}
    )


@requires(Permission.TICKETS_VIEW)
async def heartbeat(request: web.Request) -> web.Response:
    ticket_id = path_id(request)
    ticket = await request.config_dict[TICKETS].get(request[DB], ticket_id)  # 404 if unknown
    version = ticket.thread_version
    presence = PresenceService(request.config_dict[CLOCK])
    await presence.beat(request[DB], ticket_id, request[USER].id)
    others = await presence.others(request[DB], ticket_id, request[USER].id)
    # The page compares this with its own version to warn before a stale reply is sent.
    return web.json_response({"others": others, "thread_version": version})


@requires(Permission.TICKETS_WRITE)
async def link_recording_view(request: web.Request) -> web.StreamResponse:
    ticket_id = path_id(request)
    form = await request.post()
    recording_id = parse_id(str(form.get("recording_id", "")).strip().lstrip("#"))
    if recording_id is None:
        raise InvalidInput(N_("recording_id: give the number of the recording"))
    await link_recording(
        request[DB],
        request.config_dict[CLOCK],
        ticket_id,
        recording_id,
        actor=Actor.staff(request[USER]),
    )
    raise web.HTTPSeeOther(url_for(request, "ticket", id=ticket_id))


async def send_attachment(request: web.Request, *, inline: bool) -> web.StreamResponse:
    """The attachment {id} of the path (the ticket page's links and the JSON API's URLs)."""
    record = await request[DB].get(Attachment, path_id(request))
    if record is None or (inline and record.media_type not in PREVIEW_TYPES):
        raise web.HTTPNotFound()
    key, version = record.object_key, record.version_id
    media_type = record.media_type if inline else "application/octet-stream"
    filename = record.filename or f"attachment-{record.id}"
    # An ASCII fallback for old clients plus the exact UTF-8 name (RFC 6266).
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    disposition = (
        f'{"inline" if inline else "attachment"}; filename="{fallback}"; '
        f"filename*=UTF-8''{quote(filename, safe='')}"
    )
    # Release the DB connection before streaming a possibly large object.
    await request[DB].commit()
    try:
        stream = await request.config_dict[OBJECT_STORE].get(key, version_id=version)
    except ObjectNotFound:
        raise web.HTTPNotFound() from None
    async with stream:
        response = web.StreamResponse(
            headers={
                "Content-Type": media_type,
                "Content-Length": str(stream.length),
                "Content-Disposition": disposition,
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            }
        )
        await response.prepare(request)
        async for chunk in stream:
            await response.write(chunk)
        await response.write_eof()
    return response


@requires(Permission.TICKETS_VIEW)
async def download_attachment(request: web.Request) -> web.StreamResponse:
    return await send_attachment(request, inline=False)


@requires(Permission.TICKETS_VIEW)
async def preview_attachment(request: web.Request) -> web.StreamResponse:
    return await send_attachment(request, inline=True)
