"""Privacy requests in the JSON API (/api/v1/privacy-requests): record, ID copy, verify,
export, erase, read. Same roles and rules as the desk (admin/privacy.py): privacy officer
and admin only. Handlers parse, call the privacy service, answer; a refusal is a JSON error
and, as the request's session is not committed then, leaves nothing stored."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from admin.auth import Permission, requires
from admin.keys import CLOCK, DB, DISK_CLEANUP, OBJECT_STORE, RECORDINGS, SETTINGS, USER
from admin.parsing import json_body, path_id
from admin.uploads import receive_upload
from storage.models import DocumentKind, PrivacyDocument, PrivacyRequest, RequestType
from storage.objectstore import ObjectNotFound
from storage.services.audit import Actor
from storage.services.errors import N_, InvalidInput, NotFound
from storage.services.privacy import (
    ID_COPY_MAX_BYTES,
    ErasureReport,
    PrivacyService,
    erasure_report,
)
from storage.services.privacy_erasure import ErasureResult, erase_request
from storage.services.privacy_export import export_request

BASE = "/privacy-requests"
# The API's channel names and the desk's (storage.services.privacy.CHANNELS).
CHANNELS = {"email": "email", "letter": "letter", "phone": "phone", "bot": "telegram"}
API_CHANNEL = {desk: api for api, desk in CHANNELS.items()}


def _service(request: web.Request) -> PrivacyService:
    config = request.config_dict
    return PrivacyService(config[CLOCK], config[OBJECT_STORE], config[DISK_CLEANUP])


def _actor(request: web.Request) -> Actor:
    return Actor.staff(request[USER])


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def request_json(item: PrivacyRequest, report: ErasureReport | None = None) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.type.value,
        "status": item.status.value,
        "channel": API_CHANNEL.get(item.channel, item.channel),
        "contact_id": item.contact_id,
        "received_at": _iso(item.received_at),
        "deadline_at": _iso(item.deadline_at),
        "verified_at": _iso(item.verified_at),
        "closed_at": _iso(item.closed_at),
        "outcome": item.outcome,
        "erasure": report.status if report is not None else None,
        "items": report.items if report is not None else [],
    }


def document_json(document: PrivacyDocument) -> dict[str, Any]:
    return {
        "id": document.id,
        "kind": document.kind.value,
        "size": document.size,
        "created_at": _iso(document.created_at),
        "expires_at": _iso(document.expires_at),
    }


def erasure_json(result: ErasureResult) -> ErasureReport:
    return erasure_report(result.status, result.as_json())


@requires(Permission.PRIVACY_MANAGE)
async def create(request: web.Request) -> web.Response:
    data = await json_body(request)
    contact_id = data.get("contact_id")
    if isinstance(contact_id, bool) or not isinstance(contact_id, int) or contact_id <= 0:
        raise InvalidInput(N_("'contact_id' (a contact person's id) is required"))
    kind = data.get("kind")
    if kind not in {k.value for k in RequestType}:
        raise InvalidInput(
            N_("'kind' must be one of {kinds}"), kinds=", ".join(k.value for k in RequestType)
        )
    channel = data.get("channel")
    if channel not in CHANNELS:
        raise InvalidInput(N_("'channel' must be one of {channels}"), channels=", ".join(CHANNELS))
    details = data.get("details", "")
    created = await _service(request).create_request(
        request[DB],
        type=kind,
        contact_id=contact_id,
        channel=CHANNELS[channel],
        details=details if isinstance(details, str) else "",
        actor=_actor(request),
    )
    return web.json_response(request_json(created), status=201)


@requires(Permission.PRIVACY_MANAGE)
async def get_one(request: web.Request) -> web.Response:
    service = _service(request)
    item = await service.get(request[DB], path_id(request))
    return web.json_response(request_json(item, await service.erasure_report(request[DB], item.id)))


@requires(Permission.PRIVACY_MANAGE)
async def id_copy(request: web.Request) -> web.Response:
    request_id = path_id(request)
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="sd-idcopy-"))
    try:
        upload = await receive_upload(request, workdir, ID_COPY_MAX_BYTES, fields=())
        assert upload.path is not None
        document = await _service(request).upload_id_copy(
            request[DB],
            request_id,
            upload.path,
            size=upload.size,
            actor=_actor(request),
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    return web.json_response(document_json(document), status=201)


@requires(Permission.PRIVACY_MANAGE)
async def verify(request: web.Request) -> web.Response:
    data = await json_body(request)
    note = data.get("note", "")
    item = await _service(request).verify_identity(
        request[DB],
        path_id(request),
        actor=_actor(request),
        note=note if isinstance(note, str) else "",
        require_id_copy=True,
    )
    return web.json_response(request_json(item))


@requires(Permission.PRIVACY_MANAGE)
async def make_export(request: web.Request) -> web.Response:
    document = await export_request(
        _service(request), request[DB], path_id(request), actor=_actor(request)
    )
    return web.json_response(document_json(document), status=201)


@requires(Permission.PRIVACY_MANAGE)
async def download_export(request: web.Request) -> web.StreamResponse:
    document = await _service(request).request_export(request[DB], path_id(request))
    assert document.kind == DocumentKind.EXPORT
    # End the transaction before a long download (SQLite would keep its lock meanwhile).
    await request[DB].commit()
    try:
        stream = await request.config_dict[OBJECT_STORE].get(document.object_key)
    except ObjectNotFound:
        raise NotFound(N_("the file is no longer stored")) from None
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/zip",
            "Content-Length": str(stream.length),
            "Content-Disposition": f'attachment; filename="export-{document.id}.zip"',
        }
    )
    async with stream:
        await response.prepare(request)
        async for chunk in stream:
            await response.write(chunk)
    await response.write_eof()
    return response


@requires(Permission.PRIVACY_MANAGE)
async def erase(request: web.Request) -> web.Response:
    service = _service(request)
    item = await service.get(request[DB], path_id(request))
    service.require_kind(item, RequestType.ERASURE)
    # By request, not by contact: a re-run finishes even after the contact row is gone.
    result = await erase_request(
        service,
        request.config_dict[RECORDINGS],
        request[DB],
        item.id,
        actor=_actor(request),
        ticket_mode=request.config_dict[SETTINGS].privacy_erasure_tickets,
    )
    report = erasure_json(result)
    return web.json_response({"id": item.id, "status": report.status, "items": report.items})


_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
_ITEM = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "id": {"type": "integer", "nullable": True},
        "outcome": {"type": "string", "enum": ["erased", "anonymised", "kept", "waiting"]},
        "ground": {"type": "string", "description": "Why it was kept (kept items only)"},
        "count": {"type": "integer", "description": "Items of this type (no id)"},
    },
}


def _op(summary: str, *, status: str = "200", body: dict | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {
        status: {"description": "OK"},
        **{
            code: {"$ref": "#/components/responses/Error"}
            for code in ("401", "403", "404", "409", "422")
        },
    }
    op: dict[str, Any] = {
        "summary": summary,
        "x-permission": Permission.PRIVACY_MANAGE.value,
        "security": [{"bearer": []}],
        "responses": responses,
    }
    if body is not None:
        op["requestBody"] = body
    return op


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


OPENAPI_PATHS: dict[str, Any] = {
    BASE: {
        "post": _op(
            "Record a privacy request",
            status="201",
            body=_json(
                {
                    "type": "object",
                    "required": ["contact_id", "kind", "channel"],
                    "properties": {
                        "contact_id": {"type": "integer"},
                        "kind": {"type": "string", "enum": [k.value for k in RequestType]},
                        "channel": {"type": "string", "enum": list(CHANNELS)},
                        "details": {"type": "string"},
                    },
                }
            ),
        )
    },
    BASE + "/{id}": {
        "get": {
            **_op("The request with its status and, once erased, its items"),
            "parameters": _ID,
        }
    },
    BASE + "/{id}/id-copy": {
        "post": {
            **_op(
                "Upload a copy of the requester's ID (multipart 'file': JPEG, PNG or PDF); "
                "deleted at verification, at the latest after 7 days",
                status="201",
                body={
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"file": {"type": "string", "format": "binary"}},
                            }
                        }
                    }
                },
            ),
            "parameters": _ID,
        }
    },
    BASE + "/{id}/verify": {
        "post": {
            **_op(
                "Identity verified (409 until an ID copy was uploaded); the ID copy is deleted",
                body=_json({"type": "object", "properties": {"note": {"type": "string"}}}),
            ),
            "parameters": _ID,
        }
    },
    BASE + "/{id}/export": {
        "post": {
            **_op(
                "Build the export ZIP (kept 7 days; access and portability requests only, "
                "409 otherwise)",
                status="201",
            ),
            "parameters": _ID,
        },
        "get": {
            **_op("The export ZIP (application/zip), once the identity is verified"),
            "parameters": _ID,
        },
    },
    BASE + "/{id}/erase": {
        "post": {
            **_op(
                "Erase the subject (erasure requests only, 409 otherwise; identity verified "
                "first). status: completed, or waiting while a hold keeps items"
            ),
            "parameters": _ID,
            "responses": {
                **_op("")["responses"],
                "200": {
                    "description": "What became of each item",
                    **_json(
                        {
                            "type": "object",
                            "properties": {
                                "status": {"type": "string", "enum": ["completed", "waiting"]},
                                "items": {"type": "array", "items": _ITEM},
                            },
                        }
                    ),
                },
            },
        }
    },
}
