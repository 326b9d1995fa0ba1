"""The recordings part of the JSON API (/api/v1/recordings...)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from admin.auth import Permission, requires, writes
from admin.keys import CLOCK, DB, RECORDINGS, SETTINGS, USER
from admin.parsing import json_body, path_id
from admin.recordings_http import (
    hold_json,
    ingest_upload,
    recording_json,
    serve_audio,
)
from admin.recordings_query import list_filter, parse_day
from recordings.queries import list_recordings
from recordings.service import (
    RecordingHeld,
    may_delete_recording,
)
from storage.models import HoldKind
from storage.services.audit import Actor
from storage.services.errors import N_, InvalidInput

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _reason(data: dict[str, Any]) -> str:
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput(N_("'reason' (a non-empty string) is required"))
    return reason


@requires(Permission.RECORDINGS_INGEST)
async def create_recording(request: web.Request) -> web.Response:
    result = await ingest_upload(request, csrf=False)
    ident = result.recording.id
    recording = await request.config_dict[RECORDINGS].get(request[DB], ident)
    body = recording_json(recording, request[USER])
    body["created"] = result.created
    return web.json_response(body, status=201 if result.created else 200)


@requires(Permission.RECORDINGS_VIEW)
async def list_all(request: web.Request) -> web.Response:
    query = request.query
    limit = query.get("limit", "50")
    page = await list_recordings(
        request[DB],
        # The admin list's filters: tag, held, from, until, number, ticket, expiring.
        list_filter(query, request[USER].role, request.config_dict[SETTINGS].zone),
        now=request.config_dict[CLOCK].now(),
        cursor=query.get("cursor") or None,
        limit=int(limit) if limit.isdigit() else 50,
    )
    user = request[USER]
    return web.json_response(
        {"items": [recording_json(r, user) for r in page.items], "next_cursor": page.next_cursor}
    )


@requires(Permission.RECORDINGS_VIEW)
async def get_one(request: web.Request) -> web.Response:
    recording = await request.config_dict[RECORDINGS].get(request[DB], path_id(request))
    return web.json_response(recording_json(recording, request[USER]))


@requires(Permission.RECORDINGS_TAG)
async def put_tags(request: web.Request) -> web.Response:
    data = await json_body(request)
    tags = data.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput(N_("'tags' must be a list of strings"))
    service = request.config_dict[RECORDINGS]
    ident = path_id(request)
    await service.set_tags(request[DB], ident, tags, actor=Actor.staff(request[USER]))
    recording = await service.get(request[DB], ident)
    return web.json_response(recording_json(recording, request[USER]))


def _review_at(data: dict[str, Any], zone: ZoneInfo) -> datetime | None:
    """An ISO date/time with a zone, or a date alone: the start of that day in the office
    zone (as the admin form's review date)."""
    raw = data.get("review_at")
    if raw is None:
        return None
    if isinstance(raw, str) and _DATE.fullmatch(raw.strip()):
        return parse_day(raw.strip(), N_("review_at"), zone)
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput(
            N_("'review_at' must be a date (YYYY-MM-DD) or an ISO date/time with a time zone"),
        )
    return moment


@requires(Permission.RECORDINGS_HOLD)
async def place_hold(request: web.Request) -> web.Response:
    data = await json_body(request)
    try:
        kind = HoldKind(data.get("kind"))
    except ValueError:
        raise InvalidInput(N_("'kind' must be 'training' or 'evidence'")) from None
    service = request.config_dict[RECORDINGS]
    # A retry of a placement returns the hold placed before (200), not a second one.
    hold, created = await service.place_hold_once(
        request[DB],
        path_id(request),
        kind=kind,
        reason=_reason(data),
        actor=Actor.staff(request[USER]),
        review_at=_review_at(data, request.config_dict[SETTINGS].zone),
    )
    return web.json_response(hold_json(hold), status=201 if created else 200)


@requires(Permission.RECORDINGS_HOLD)
async def release_hold(request: web.Request) -> web.Response:
    data = await json_body(request)
    reason = data.get("reason")
    released = await request.config_dict[RECORDINGS].release_hold(
        request[DB],
        path_id(request),
        path_id(request, "hold_id"),
        reason=reason if isinstance(reason, str) else "",
        actor=Actor.staff(request[USER]),
        role=request[USER].role,
    )
    return web.json_response(hold_json(released))


@requires(Permission.RECORDINGS_HOLD)
async def renew_hold(request: web.Request) -> web.Response:
    recording_id, hold_id = path_id(request), path_id(request, "hold_id")
    data = await json_body(request)
    review = _review_at(data, request.config_dict[SETTINGS].zone)
    if review is None:
        raise InvalidInput(N_("'review_at' (the new review date) is required"))
    renewed = await request.config_dict[RECORDINGS].renew_hold(
        request[DB],
        recording_id,
        hold_id,
        review_at=review,
        actor=Actor.staff(request[USER]),
        role=request[USER].role,
    )
    return web.json_response(hold_json(renewed))


@requires(Permission.RECORDINGS_DELETE)
async def delete(request: web.Request) -> web.Response:
    if not may_delete_recording(request[USER].role):
        raise web.HTTPForbidden()
    data = await json_body(request)
    reason = data.get("reason", "")
    try:
        await request.config_dict[RECORDINGS].delete_recording(
            request[DB],
            path_id(request),
            actor=Actor.staff(request[USER]),
            reason=reason if isinstance(reason, str) else "",
        )
    except RecordingHeld as exc:
        return web.json_response(
            {
                "error": {
                    "code": exc.code,
                    "message": exc.message,
                    "holds": [
                        {"id": h.id, "kind": h.kind.value, "reason": h.reason} for h in exc.holds
                    ],
                }
            },
            status=409,
        )
    return web.Response(status=204)


@requires(Permission.RECORDINGS_VIEW)
@writes  # audit of a play or download
async def audio(request: web.Request) -> web.StreamResponse:
    recording = await request.config_dict[RECORDINGS].get(request[DB], path_id(request))
    return await serve_audio(request, recording, via="api")


def _op(summary: str, permission: str, status: str = "200", **extra: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        "x-permission": permission,
        "security": [{"bearer": []}],
        "responses": {
            status: {"description": "OK"},
            "401": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
        },
        **extra,
    }


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
_HOLD = {"name": "hold_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_JSON = {"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}
_Q = [
    {"name": n, "in": "query", "schema": {"type": "string"}}
    for n in ("tag", "held", "cursor", "from", "until", "number", "ticket", "expiring", "limit")
]
_UPLOAD = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        **{
                            n: {"type": "string"}
                            for n in ("caller", "callee", "agent", "started_at", "ticket_id")
                        },
                        "caller_withheld": {
                            "type": "string",
                            "enum": [
                                "true",
                                "false",
                                "1",
                                "0",
                                "yes",
                                "no",
                                "on",
                                "off",
                                "ja",
                                "nee",
                            ],
                            "description": "the caller's number is shielded (CLIR): stored, "
                            "shown only to the privacy officer",
                        },
                    },
                }
            }
        }
    }
}

OPENAPI_PATHS: dict[str, Any] = {
    "/recordings": {
        "post": _op("Ingest a recording (multipart)", "recordings.ingest", "201", **_UPLOAD),
        "get": _op("Recordings, newest call first", "recordings.view", parameters=_Q),
    },
    "/recordings/{id}": {
        "get": _op("A recording with tags and holds", "recordings.view", parameters=[_ID]),
        "delete": _op(
            "Delete (409 naming the holds while held)",
            "recordings.delete",
            "204",
            parameters=[_ID],
        ),
    },
    "/recordings/{id}/tags": {
        "put": _op("Replace the tags", "recordings.tag", parameters=[_ID], **_JSON)
    },
    "/recordings/{id}/holds": {
        "post": _op(
            "Place a hold {kind, reason, review_at?}; review_at: an ISO date/time with a zone,"
            " or a date (YYYY-MM-DD: that day's start in the office time zone). Date/times"
            " come back in UTC. A training hold's review date is at most 12 months ahead"
            " (default: 12 months) and the hold ends on it unless renewed; an evidence"
            " hold's (default 2 years) is reviewed by a person (422 beyond the limit)",
            "recordings.hold",
            "201",
            parameters=[_ID],
            **_JSON,
        )
    },
    "/recordings/{id}/holds/{hold_id}/release": {
        "post": _op("Release a hold", "recordings.hold", parameters=[_ID, _HOLD], **_JSON)
    },
    "/recordings/{id}/holds/{hold_id}/renew": {
        "post": _op(
            "Renew an active hold {review_at}: a new review date (a training hold's at most"
            " 12 months ahead); whoever may release the hold may renew it",
            "recordings.hold",
            parameters=[_ID, _HOLD],
            **_JSON,
        )
    },
    "/recordings/{id}/audio": {
        "get": _op(
            "The archived audio (Range; ?download=1 for an attachment)",
            "recordings.view",
            parameters=[_ID, {"name": "download", "in": "query", "schema": {"type": "string"}}],
        )
    },
}
