"""Customer pages: organisations and contact persons (list, search, create, edit), service
ended, and one-time Telegram link codes. Views parse, call CustomerService, render."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from admin.auth import Permission, requires, writes
from admin.flash import flash, take_flash
from admin.keys import CLOCK, DB, LANG, SETTINGS, TICKETS, USER
from admin.middleware import render
from admin.parsing import parse_id, path_id
from admin.urls import url_for
from storage.models import ServiceStatus
from storage.services.audit import Actor
from storage.services.customers import CustomerService
from storage.services.errors import ServiceError
from storage.services.linking import LinkCodeService
from storage.services.tickets import TicketFilter
from storage.services.unfiled import waiting_of

ORG_FIELDS = ("name", "customer_number", "delivery_address")
CONTACT_FIELDS = ("name", "email", "phone", "language", "organisation_id")


def _service(request: web.Request) -> CustomerService:
    return CustomerService(request.config_dict[CLOCK])


def _after(request: web.Request) -> int | None:
    raw = request.query.get("after", "")
    return parse_id(raw)


async def _form(request: web.Request, names: tuple[str, ...]) -> dict[str, Any]:
    """Only the fields the form sent, so a partial post changes only those."""
    form = await request.post()
    return {n: str(form[n]) for n in names if n in form}


# --- organisations -------------------------------------------------------------------------


async def _organisations(
    request: web.Request,
    *,
    error: str = "",
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    query = request.query.get("q", "")
    rows = await _service(request).list_organisations(
        request[DB], query=query, after=_after(request)
    )
    context = {"rows": rows, "q": query, "error": error, "values": values or {}}
    return render("organisations.html", request, context, status=status)


@requires(Permission.CUSTOMERS_MANAGE)
async def organisations(request: web.Request) -> web.Response:
    return await _organisations(request)


@requires(Permission.CUSTOMERS_MANAGE)
async def create_organisation(request: web.Request) -> web.StreamResponse:
    data = await _form(request, ORG_FIELDS)
    try:
        org = await _service(request).create_organisation(
            request[DB], data, actor=Actor.staff(request[USER])
        )
    except ServiceError as exc:  # checked before anything is written
        return await _organisations(
            request, error=exc.text(request[LANG]), values=data, status=exc.status
        )
    raise web.HTTPSeeOther(url_for(request, "organisation", id=org.id))


async def _organisation(
    request: web.Request, *, error: str = "", status: int = 200
) -> web.Response:
    db, org_id = request[DB], path_id(request)
    service = _service(request)
    org = await service.get_organisation(db, org_id)
    contacts = await service.list_contacts(db, organisation_id=org_id)
    page = await request.config_dict[TICKETS].list_tickets(
        db, TicketFilter(organisation_id=org_id), limit=20
    )
    context = {
        "org": org,
        "contacts": contacts,
        "tickets": page.items,
        "error": error,
        "service_statuses": list(ServiceStatus),
    }
    return render("organisation.html", request, context, status=status)


@requires(Permission.CUSTOMERS_MANAGE)
async def organisation(request: web.Request) -> web.Response:
    return await _organisation(request)


async def _update_organisation(request: web.Request, data: dict[str, Any]) -> web.StreamResponse:
    org_id = path_id(request)
    try:
        await _service(request).update_organisation(
            request[DB], org_id, data, actor=Actor.staff(request[USER])
        )
    except ServiceError as exc:
        if exc.status == 404:
            raise
        # Validation runs before any field is set: nothing to roll back.
        return await _organisation(request, error=exc.text(request[LANG]), status=exc.status)
    raise web.HTTPSeeOther(url_for(request, "organisation", id=org_id))


@requires(Permission.CUSTOMERS_MANAGE)
async def edit_organisation(request: web.Request) -> web.StreamResponse:
    return await _update_organisation(request, await _form(request, ORG_FIELDS))


@requires(Permission.CUSTOMERS_MANAGE)
async def organisation_service(request: web.Request) -> web.StreamResponse:
    return await _update_organisation(
        request, await _form(request, ("service_status", "service_end_date"))
    )


# --- contact persons -----------------------------------------------------------------------


async def _contacts(
    request: web.Request,
    *,
    error: str = "",
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    query = request.query.get("q", "")
    raw_org = request.query.get("organisation", "")
    rows = await _service(request).list_contacts(
        request[DB],
        query=query,
        organisation_id=parse_id(raw_org),
        after=_after(request),
    )
    context = {"rows": rows, "q": query, "error": error, "values": values or {}}
    return render("contacts.html", request, context, status=status)


@requires(Permission.CUSTOMERS_MANAGE)
async def contacts(request: web.Request) -> web.Response:
    return await _contacts(request)


@requires(Permission.CUSTOMERS_MANAGE)
async def create_contact(request: web.Request) -> web.StreamResponse:
    data = await _form(request, CONTACT_FIELDS)
    try:
        contact = await _service(request).create_contact(
            request[DB], data, actor=Actor.staff(request[USER])
        )
    except ServiceError as exc:
        return await _contacts(
            request, error=exc.text(request[LANG]), values=data, status=exc.status
        )
    raise web.HTTPSeeOther(url_for(request, "contact", id=contact.id))


async def _contact(
    request: web.Request, *, error: str = "", link_code: str = "", status: int = 200
) -> web.Response:
    db, contact_id = request[DB], path_id(request)
    service = _service(request)
    contact = await service.get_contact(db, contact_id)
    org = (
        await service.get_organisation(db, contact.organisation_id)
        if contact.organisation_id is not None
        else None
    )
    page = await request.config_dict[TICKETS].list_tickets(
        db, TicketFilter(contact_id=contact_id), limit=50
    )
    bot = request.config_dict[SETTINGS].telegram_bot_username
    context = {
        "contact": contact,
        "org": org,
        "tickets": page.items,
        "unfiled": await waiting_of(db, contact_id),
        "unfiled_after": request.config_dict[SETTINGS].unfiled_after,
        "error": error,
        "link_code": link_code,
        "deep_link": f"https://t.me/{bot}?start={link_code}" if link_code and bot else "",
    }
    return render("contact_person.html", request, context, status=status)


@requires(Permission.CUSTOMERS_MANAGE)
@writes  # reads and clears the one-time link code
async def contact(request: web.Request) -> web.Response:
    link_code = await take_flash(request, _link_code_key(request))
    return await _contact(request, link_code=link_code)


def _link_code_key(request: web.Request) -> str:
    return f"link_code:{path_id(request)}"


@requires(Permission.CUSTOMERS_MANAGE)
async def edit_contact(request: web.Request) -> web.StreamResponse:
    contact_id = path_id(request)
    data = await _form(request, CONTACT_FIELDS)
    try:
        await _service(request).update_contact(
            request[DB], contact_id, data, actor=Actor.staff(request[USER])
        )
    except ServiceError as exc:
        if exc.status == 404:
            raise
        return await _contact(request, error=exc.text(request[LANG]), status=exc.status)
    raise web.HTTPSeeOther(url_for(request, "contact", id=contact_id))


@requires(Permission.CUSTOMERS_MANAGE)
async def make_link_code(request: web.Request) -> web.StreamResponse:
    """Show the code once: only its hash is stored, a reload shows nothing."""
    form = await request.post()
    try:
        code = await LinkCodeService(request.config_dict[CLOCK]).create(
            request[DB],
            path_id(request),
            actor=Actor.staff(request[USER]),
            relink=form.get("relink") == "1",
        )
    except ServiceError as exc:
        if exc.status == 404:
            raise
        return await _contact(request, error=exc.text(request[LANG]), status=exc.status)
    await flash(request, _link_code_key(request), code)  # shown once, after the redirect
    raise web.HTTPSeeOther(url_for(request, "contact", id=path_id(request)))
