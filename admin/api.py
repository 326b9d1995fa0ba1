"""JSON API sub-app mounted at /api/v1 (bearer tokens; errors as {"error": {code, message}})."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web
from sqlalchemy import select

from admin import customers_api, privacy_api, recordings_api
from admin.auth import Permission, public, requires
from admin.keys import CLOCK, DB, TICKETS, USER
from admin.parsing import json_body, json_id, parse_id, path_id
from admin.ticket_desk import send_attachment
from admin.ticket_notify import close_and_tell, reopen_and_tell
from admin.views import inbox_filter
from storage.models import (
    Attachment,
    AuditEvent,
    DeliveryState,
    MessageDirection,
    MessageEdit,
    StaffUser,
    Ticket,
    TicketMessage,
)
from storage.services.audit import Actor
from storage.services.contact_form import ContactFormService
from storage.services.errors import N_, InvalidInput
from storage.services.message_edits import history as edit_history

PREFIX = "/api/v1"
AUDIT_PAGE = 100


def ticket_json(ticket: Ticket, *, with_org: bool = True) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "reference": ticket.reference,
        "subject": ticket.subject,
        "status": ticket.status.value,
        "category": ticket.category.value,
        "priority": ticket.priority.value,
        "channel": ticket.channel.value,
        "organisation": (
            {"id": ticket.organisation.id, "name": ticket.organisation.name}
            if with_org and ticket.organisation is not None
            else None
        ),
        "assignee_id": ticket.assignee_id,
        "thread_version": ticket.thread_version,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "last_activity_at": ticket.last_activity_at.isoformat(),
    }


def staff_name(user: StaffUser) -> str:
    return user.display_name or user.username


def attachment_json(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "media_type": attachment.media_type,
        "size": attachment.size,
        # Served by this API to the same bearer token (tickets.view), like the page's link.
        "url": f"{PREFIX}/attachments/{attachment.id}",
    }


def delivery_word(message: TicketMessage) -> str:
    """sent, pending (not tried yet), retrying (failed at least once, tried again),
    failed (no more attempts), undeliverable, n/a."""
    if message.delivery_state == DeliveryState.PENDING and message.delivery_failing_since:
        return "retrying"
    return message.delivery_state.value


def delivery_detail(message: TicketMessage) -> dict[str, Any] | None:
    """Attempts and the last error, from the first failed attempt on (None: not sent)."""
    if message.delivery_state == DeliveryState.NOT_APPLICABLE:
        return None
    since = message.delivery_failing_since
    retry = message.next_attempt_at if message.delivery_state == DeliveryState.PENDING else None
    return {
        "state": delivery_word(message),
        "attempts": message.delivery_attempts,
        "retrying_since": since.isoformat() if since else None,
        "next_attempt_at": retry.isoformat() if retry and since else None,
        "last_error": message.delivery_error,
    }


def message_json(
    message: TicketMessage,
    author: str | None,
    *,
    attachments: bool = True,
    edits: list[MessageEdit] | None = None,
) -> dict[str, Any]:
    body = {
        "id": message.id,
        "direction": message.direction.value,
        "text": message.text,
        "author": author,
        "author_staff_id": message.author_staff_id,
        "created_at": message.created_at.isoformat(),
        "delivery": delivery_word(message),
        "delivery_detail": delivery_detail(message),
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
    }
    if edits is not None:  # the thread lists earlier versions; single-message answers don't
        body["edits"] = [
            {"previous_text": e.previous_text, "edited_at": e.edited_at.isoformat()} for e in edits
        ]
    # A new reply or note has none (and its relationship is not loaded).
    body["attachments"] = [attachment_json(a) for a in message.attachments] if attachments else []
    return body


def _thread_author(message: TicketMessage, ticket: Ticket, submitter: str | None) -> str | None:
    """Staff: their name. Customer: the contact person, else the contact-form submitter."""
    if message.author_staff is not None:
        return staff_name(message.author_staff)
    if message.direction == MessageDirection.IN:
        return ticket.contact.name if ticket.contact is not None else submitter
    return None


@requires(Permission.TICKETS_VIEW)
async def list_tickets(request: web.Request) -> web.Response:
    filters = inbox_filter(request.query, request[USER])
    limit = request.query.get("limit", "50")
    page = await request.config_dict[TICKETS].list_tickets(
        request[DB],
        filters,
        cursor=request.query.get("cursor") or None,
        limit=int(limit) if limit.isdigit() else 50,
    )
    return web.json_response(
        {"items": [ticket_json(t) for t in page.items], "next_cursor": page.next_cursor}
    )


@requires(Permission.TICKETS_VIEW)
async def get_ticket(request: web.Request) -> web.Response:
    ticket = await request.config_dict[TICKETS].get_thread(request[DB], path_id(request))
    body = ticket_json(ticket)
    body["contact"] = (
        {"id": ticket.contact.id, "name": ticket.contact.name} if ticket.contact else None
    )
    forms = ContactFormService(request.config_dict[CLOCK], request.config_dict[TICKETS])
    submission = await forms.for_ticket(request[DB], ticket)
    submitter = submission.name if submission is not None else None
    edits = await edit_history(request[DB], [m.id for m in ticket.messages if m.edited_at])
    body["messages"] = [
        message_json(m, _thread_author(m, ticket, submitter), edits=edits.get(m.id, []))
        for m in ticket.messages
    ]
    return web.json_response(body)


def _text(data: dict[str, Any]) -> str:
    text = data.get("text")
    if not isinstance(text, str):
        raise InvalidInput(N_("'text' (a string) is required"))
    return text


@requires(Permission.TICKETS_WRITE)
async def post_reply(request: web.Request) -> web.Response:
    data = await json_body(request)
    version = json_id(data, "thread_version")  # a version is counted like an id: 1, 2, ...
    message = await request.config_dict[TICKETS].add_agent_reply(
        request[DB],
        path_id(request),
        staff=request[USER],
        text=_text(data),
        expected_version=version,
    )
    author = staff_name(request[USER])
    return web.json_response(message_json(message, author, attachments=False), status=201)


@requires(Permission.TICKETS_WRITE)
async def edit_reply(request: web.Request) -> web.Response:
    """Change a reply's text; one already in the customer's chat is edited there too."""
    data = await json_body(request)
    message = await request.config_dict[TICKETS].edit_reply(
        request[DB],
        path_id(request, "reply_id"),
        staff=request[USER],
        text=_text(data),
        ticket_id=path_id(request),
    )
    author = staff_name(request[USER]) if message.author_staff_id == request[USER].id else None
    return web.json_response(message_json(message, author, attachments=False))


@requires(Permission.TICKETS_WRITE)
async def post_note(request: web.Request) -> web.Response:
    data = await json_body(request)
    message = await request.config_dict[TICKETS].add_internal_note(
        request[DB], path_id(request), staff=request[USER], text=_text(data)
    )
    author = staff_name(request[USER])
    return web.json_response(message_json(message, author, attachments=False), status=201)


@requires(Permission.TICKETS_WRITE)
async def post_assign(request: web.Request) -> web.Response:
    data = await json_body(request)
    user = request[USER]
    assignee = json_id(data, "assignee_id", user.id)
    ticket = await request.config_dict[TICKETS].assign(
        request[DB], path_id(request), actor=Actor.staff(user), assignee_id=assignee
    )
    return web.json_response(ticket_json(ticket, with_org=False))


@requires(Permission.TICKETS_WRITE)
async def post_close(request: web.Request) -> web.Response:
    actor = Actor.staff(request[USER])
    ticket = await close_and_tell(request, request[DB], path_id(request), actor)
    body = ticket_json(ticket, with_org=False)
    return web.json_response(body)


@requires(Permission.TICKETS_WRITE)
async def post_reopen(request: web.Request) -> web.Response:
    actor = Actor.staff(request[USER])
    ticket = await reopen_and_tell(request, request[DB], path_id(request), actor)
    body = ticket_json(ticket, with_org=False)
    return web.json_response(body)


@requires(Permission.TICKETS_VIEW)
async def download_attachment(request: web.Request) -> web.StreamResponse:
    return await send_attachment(request, inline=False)


def _audit_cursor(raw: str) -> int | None:
    if not raw:
        return None
    try:
        ident = parse_id(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode())
    except ValueError:
        ident = None
    if ident is None:
        raise InvalidInput(N_("invalid cursor"))
    return ident


@requires(Permission.AUDIT_VIEW)
async def list_audit(request: web.Request) -> web.Response:
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(AUDIT_PAGE + 1)
    before = _audit_cursor(request.query.get("cursor", ""))
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    rows = list(await request[DB].scalars(stmt))
    next_cursor = None
    if len(rows) > AUDIT_PAGE:
        rows = rows[:AUDIT_PAGE]
        next_cursor = base64.urlsafe_b64encode(str(rows[-1].id).encode()).decode().rstrip("=")
    items = [
        {
            "id": e.id,
            "occurred_at": e.occurred_at.isoformat(),
            "actor": {"type": e.actor_type, "id": e.actor_id, "label": e.actor_label},
            "action": e.action,
            "subject": {"type": e.subject_type, "id": e.subject_id},
            "details": e.details,
        }
        for e in rows
    ]
    return web.json_response({"items": items, "next_cursor": next_cursor})


def _op(summary: str, permission: str, *, status: str = "200", body: bool = False) -> dict:
    op: dict[str, Any] = {
        "summary": summary,
        "x-permission": permission,
        "responses": {
            status: {"description": "OK"},
            "401": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
        },
    }
    if permission != "public":
        op["security"] = [{"bearer": []}]
    else:
        op["security"] = []
    if body:
        op["requestBody"] = {
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return op


_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
_CURSOR = {"name": "cursor", "in": "query", "schema": {"type": "string"}}
_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_ATTACHMENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "filename": _STRING,
        "media_type": _STRING,
        "size": {"type": "integer"},
        "url": {**_STRING, "description": "GET with the same token: the file's bytes"},
    },
}
_MESSAGE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "direction": {"type": "string", "enum": ["in", "out", "note"]},
        "text": _STRING,
        "author": {
            **_NULLABLE_STRING,
            "description": "Staff member's name; customer: contact person or contact-form sender",
        },
        "author_staff_id": {"type": "integer", "nullable": True},
        "created_at": {**_STRING, "format": "date-time"},
        "delivery": {
            "type": "string",
            "enum": ["n/a", "pending", "retrying", "sent", "failed", "undeliverable"],
            "description": "retrying: an attempt failed and it is tried again (see detail)",
        },
        "delivery_detail": {
            "type": "object",
            "nullable": True,
            "properties": {
                "state": _STRING,
                "attempts": {"type": "integer"},
                "retrying_since": {**_NULLABLE_STRING, "format": "date-time"},
                "next_attempt_at": {**_NULLABLE_STRING, "format": "date-time"},
                "last_error": _NULLABLE_STRING,
            },
        },
        "edited_at": {**_NULLABLE_STRING, "format": "date-time"},
        "edits": {
            "type": "array",
            "description": "Earlier versions, oldest first (thread only)",
            "items": {
                "type": "object",
                "properties": {
                    "previous_text": _STRING,
                    "edited_at": {**_STRING, "format": "date-time"},
                },
            },
        },
        "attachments": {"type": "array", "items": _ATTACHMENT},
    },
}
_THREAD = {
    "description": "The ticket, its contact and its messages (oldest first)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"messages": {"type": "array", "items": _MESSAGE}},
            }
        }
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "supportdesk API", "version": "1"},
    "servers": [{"url": PREFIX}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "responses": {
            "Error": {
                "description": 'Error: {"error": {"code", "message"}}',
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    },
    "paths": {
        "/tickets": {
            "get": {
                **_op("List tickets (newest activity first)", "tickets.view"),
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                    _CURSOR,
                ],
            }
        },
        "/tickets/{id}": {
            "get": {
                **_op("A ticket with its messages", "tickets.view"),
                "parameters": _ID,
                "responses": {**_op("", "tickets.view")["responses"], "200": _THREAD},
            }
        },
        "/tickets/{id}/replies": {
            "post": {
                **_op("Reply to the customer", "tickets.write", status="201", body=True),
                "parameters": _ID,
            }
        },
        "/tickets/{id}/replies/{reply_id}": {
            "patch": {
                **_op(
                    "Edit a reply (its author or an admin); a sent one is edited in the chat",
                    "tickets.write",
                    body=True,
                ),
                "parameters": [
                    *_ID,
                    {
                        "name": "reply_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                ],
            }
        },
        "/tickets/{id}/notes": {
            "post": {
                **_op("Add an internal note", "tickets.write", status="201", body=True),
                "parameters": _ID,
            }
        },
        "/tickets/{id}/assign": {
            "post": {**_op("Assign (default: me)", "tickets.write", body=True), "parameters": _ID}
        },
        "/tickets/{id}/close": {
            "post": {**_op("Close the ticket", "tickets.write"), "parameters": _ID}
        },
        "/tickets/{id}/reopen": {
            "post": {**_op("Reopen the ticket", "tickets.write"), "parameters": _ID}
        },
        "/attachments/{id}": {
            "get": {
                **_op("An attachment's bytes (the URL in a message's attachments)", "tickets.view"),
                "parameters": _ID,
            }
        },
        "/audit": {
            "get": {**_op("Audit events, newest first", "audit.view"), "parameters": [_CURSOR]}
        },
        "/openapi.json": {"get": _op("This document", "public")},
        **recordings_api.OPENAPI_PATHS,
        **customers_api.OPENAPI_PATHS,
        **privacy_api.OPENAPI_PATHS,
    },
}


@public
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)
