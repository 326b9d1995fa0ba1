"""JSON API for organisations and contact persons (mounted in the /api/v1 sub-app).

Lists page by id: `?after=` takes the last id seen, `next_cursor` gives it back.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from admin.auth import Permission, requires
from admin.keys import CLOCK, DB, USER
from admin.parsing import json_body, parse_id, path_id
from storage.models import ContactPerson, Organisation
from storage.services.audit import Actor
from storage.services.customers import PAGE, CustomerService
from storage.services.errors import N_, InvalidInput


def organisation_json(org: Organisation) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "customer_number": org.customer_number,
        "delivery_address": org.delivery_address,
        "service_status": org.service_status.value,
        "service_end_date": org.service_end_date.isoformat() if org.service_end_date else None,
        "created_at": org.created_at.isoformat(),
        "updated_at": org.updated_at.isoformat(),
    }


def contact_json(contact: ContactPerson) -> dict[str, Any]:
    return {
        "id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "phone_e164": contact.phone_e164,
        "language": contact.language,
        "organisation_id": contact.organisation_id,
        "verified": contact.verified,
        "telegram_linked": contact.telegram_user_id is not None,
        "created_at": contact.created_at.isoformat(),
        "updated_at": contact.updated_at.isoformat(),
    }


def _service(request: web.Request) -> CustomerService:
    return CustomerService(request.config_dict[CLOCK])


def _after(request: web.Request) -> int | None:
    raw = request.query.get("cursor", "")
    after = parse_id(raw)
    if raw and after is None:
        raise InvalidInput(N_("invalid cursor"))
    return after


def _page(items: list[Any], render: Any) -> web.Response:
    next_cursor = str(items[-1].id) if len(items) == PAGE else None
    return web.json_response({"items": [render(i) for i in items], "next_cursor": next_cursor})


@requires(Permission.CUSTOMERS_MANAGE)
async def list_organisations(request: web.Request) -> web.Response:
    rows = await _service(request).list_organisations(
        request[DB], query=request.query.get("q", ""), after=_after(request)
    )
    return _page(rows, organisation_json)


@requires(Permission.CUSTOMERS_MANAGE)
async def create_organisation(request: web.Request) -> web.Response:
    org = await _service(request).create_organisation(
        request[DB], await json_body(request), actor=Actor.staff(request[USER])
    )
    return web.json_response(organisation_json(org), status=201)


@requires(Permission.CUSTOMERS_MANAGE)
async def get_organisation(request: web.Request) -> web.Response:
    org = await _service(request).get_organisation(request[DB], path_id(request))
    return web.json_response(organisation_json(org))


@requires(Permission.CUSTOMERS_MANAGE)
async def update_organisation(request: web.Request) -> web.Response:
    org = await _service(request).update_organisation(
        request[DB], path_id(request), await json_body(request), actor=Actor.staff(request[USER])
    )
    return web.json_response(organisation_json(org))


@requires(Permission.CUSTOMERS_MANAGE)
async def list_contacts(request: web.Request) -> web.Response:
    raw_org = request.query.get("organisation_id", "")
    rows = await _service(request).list_contacts(
        request[DB],
        query=request.query.get("q", ""),
        organisation_id=parse_id(raw_org),
        after=_after(request),
    )
    return _page(rows, contact_json)


@requires(Permission.CUSTOMERS_MANAGE)
async def create_contact(request: web.Request) -> web.Response:
    contact = await _service(request).create_contact(
        request[DB], await json_body(request), actor=Actor.staff(request[USER])
    )
    return web.json_response(contact_json(contact), status=201)


@requires(Permission.CUSTOMERS_MANAGE)
async def get_contact(request: web.Request) -> web.Response:
    contact = await _service(request).get_contact(request[DB], path_id(request))
    return web.json_response(contact_json(contact))


@requires(Permission.CUSTOMERS_MANAGE)
async def update_contact(request: web.Request) -> web.Response:
    contact = await _service(request).update_contact(
        request[DB], path_id(request), await json_body(request), actor=Actor.staff(request[USER])
    )
    return web.json_response(contact_json(contact))


def _op(
    summary: str,
    *,
    status: str = "200",
    body: bool = False,
    path_id: bool = False,
    listing: bool = False,
) -> dict:
    op: dict[str, Any] = {
        "summary": summary,
        "x-permission": Permission.CUSTOMERS_MANAGE.value,
        "security": [{"bearer": []}],
        "responses": {
            status: {"description": "OK"},
            "401": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
            "422": {"$ref": "#/components/responses/Error"},
        },
    }
    if body:
        op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
    if path_id:
        op["parameters"] = [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
        ]
    if listing:
        op["parameters"] = [
            {"name": "q", "in": "query", "schema": {"type": "string"}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
        ]
    return op


# Merged into the API's OpenAPI document (admin/api.py).
OPENAPI_PATHS: dict[str, Any] = {
    "/organisations": {
        "get": _op("List organisations (search: q = name or customer number)", listing=True),
        "post": _op(
            "Create an organisation {name, customer_number, delivery_address?}",
            status="201",
            body=True,
        ),
    },
    "/organisations/{id}": {
        "get": _op("An organisation", path_id=True),
        "patch": _op(
            "Update (name, customer_number, delivery_address, service_status, service_end_date)",
            body=True,
            path_id=True,
        ),
    },
    "/contacts": {
        "get": _op("List contact persons (q, organisation_id)", listing=True),
        "post": _op(
            "Create a contact {name, email, phone, language, organisation_id}",
            status="201",
            body=True,
        ),
    },
    "/contacts/{id}": {
        "get": _op("A contact person", path_id=True),
        "patch": _op("Update a contact person (fields as for create)", body=True, path_id=True),
    },
}
