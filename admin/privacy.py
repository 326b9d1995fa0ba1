"""Privacy desk pages: the request list with deadlines, a request with its log, recording a
request (agents too: letters, e-mails, calls), identity verification with a temporary ID
copy, exports, erasure, restriction/consent/objection, the outcome. Views parse, call the
privacy service, render."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from admin.auth import Permission, csrf_exempt, has_permission, requires
from admin.i18n import label, texts
from admin.keys import CLOCK, DB, DISK_CLEANUP, LANG, OBJECT_STORE, RECORDINGS, SETTINGS, USER
from admin.labels import TABLES
from admin.middleware import render
from admin.parsing import parse_id, path_id
from admin.privacy_notify import tell_export_ready, tell_outcome
from admin.uploads import csrf_check_for, receive_upload
from admin.urls import url_for
from storage.models import ContactPerson, PrivacyDocument, RequestType
from storage.objectstore import ObjectNotFound
from storage.services import privacy_erasure
from storage.services.audit import Actor
from storage.services.errors import N_, InvalidInput, NotFound, ServiceError
from storage.services.privacy import (
    CHANNELS,
    ID_COPY_MAX_BYTES,
    REQUEST_ACTIONS,
    PrivacyService,
    deadline_state,
    request_reference,
)
from storage.services.privacy_export import export_request


def _service(request: web.Request) -> PrivacyService:
    config = request.config_dict
    return PrivacyService(config[CLOCK], config[OBJECT_STORE], config[DISK_CLEANUP])


def _sentence(text: str) -> str:
    """A refusal (already in the page's language: ServiceError.text) as a sentence."""
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _actor(request: web.Request) -> Actor:
    return Actor.staff(request[USER])


def _back(request: web.Request, request_id: int, notice: str = "") -> web.HTTPSeeOther:
    """Post/redirect/get after a done action; `notice` says what became of telling the
    customer (a code, looked up in the labels: the URL cannot put text on the page). A
    refusal is shown at once instead, with its status."""
    page = url_for(request, "privacy_request", id=request_id)
    return web.HTTPSeeOther(page.with_query(notice=notice) if notice else page)


@requires(Permission.PRIVACY_MANAGE)
async def privacy_list(request: web.Request) -> web.Response:
    now = request.config_dict[CLOCK].now()
    rows = await _service(request).list_requests(request[DB])
    names = await _names(request, {r.contact_id for r in rows if r.contact_id})
    items = [(r, deadline_state(r, now), names.get(r.contact_id or 0, "")) for r in rows]
    return render("privacy_list.html", request, {"items": items})


async def _names(request: web.Request, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await request[DB].execute(
        select(ContactPerson.id, ContactPerson.name).where(ContactPerson.id.in_(ids))
    )
    return {i: n for i, n in rows.all()}


async def _new_form(
    request: web.Request, *, error: str = "", values: dict[str, str] | None = None
) -> web.Response:
    context = {
        "types": list(RequestType),
        "channels": [c for c in CHANNELS if c != "telegram"],
        "error": error,
        "values": values or {"contact_id": request.query.get("contact", "")},
        "recorded": request.query.get("recorded", ""),
    }
    # 200 with the message: the form is shown again with what was typed.
    return render("privacy_new.html", request, context)


@requires(Permission.PRIVACY_RECORD)
async def new_request_form(request: web.Request) -> web.Response:
    return await _new_form(request)


@requires(Permission.PRIVACY_RECORD)
async def new_request(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values = {
        k: str(form.get(k, "")) for k in ("contact_id", "type", "channel", "details", "received")
    }
    try:
        contact_id = parse_id(values["contact_id"])
        if contact_id is None:
            raise InvalidInput(N_("contact: give the contact person's number"))
        received = None
        if values["received"]:
            try:
                day = datetime.strptime(values["received"], "%Y-%m-%d")
            except ValueError:
                raise InvalidInput(N_("received: use YYYY-MM-DD")) from None
            # The start of that day where the desk is: the earliest the request can have
            # arrived, so its deadline is never later than the law allows.
            received = day.replace(tzinfo=request.config_dict[SETTINGS].zone)
            now = request.config_dict[CLOCK].now()
            if received > now:
                raise InvalidInput(N_("received: that day has not begun yet"))
        created = await _service(request).create_request(
            request[DB],
            type=values["type"],
            contact_id=contact_id,
            channel=values["channel"],
            details=values["details"],
            received_at=received,
            actor=_actor(request),
        )
    except ServiceError as exc:
        return await _new_form(request, error=exc.text(request[LANG]), values=values)
    if has_permission(request[USER], Permission.PRIVACY_MANAGE):
        raise _back(request, created.id)
    form = url_for(request, "privacy_new")
    raise web.HTTPSeeOther(form.with_query(recorded=created.id))


async def _page(
    request: web.Request, request_id: int, *, error: str = "", status: int = 200
) -> web.Response:
    db = request[DB]
    service = _service(request)
    item = await service.get(db, request_id)
    contact = await db.get(ContactPerson, item.contact_id) if item.contact_id else None
    documents = list(
        await db.scalars(
            select(PrivacyDocument)
            .where(PrivacyDocument.request_id == request_id)
            .order_by(PrivacyDocument.id)
        )
    )
    flags = await service.flags(db, item.contact_id) if item.contact_id else None
    notice = request.query.get("notice", "")
    context = {
        "notice": label(texts(request), "privacy_notice", notice)
        if notice in TABLES["privacy_notice"]
        else "",
        "item": item,
        "state": deadline_state(item, request.config_dict[CLOCK].now()),
        "contact": contact,
        "documents": documents,
        "flags": flags,
        "error": _sentence(error),
        "erasure_mode": request.config_dict[SETTINGS].privacy_erasure_tickets,
        "actions": REQUEST_ACTIONS[item.type],
        "reference": request_reference(item.id),
    }
    return render("privacy_request.html", request, context, status=status)


@requires(Permission.PRIVACY_MANAGE)
async def request_page(request: web.Request) -> web.Response:
    return await _page(request, path_id(request))


async def _act(request: web.Request, work, tell=None, *, vault=False) -> web.StreamResponse:  # type: ignore[no-untyped-def]
    """Run one action in a savepoint; a refusal leaves nothing written and shows the page
    with the reason. `tell` (request, db, item) -> notice code queues the customer's message
    in the action's transaction: it exists exactly when the change does. `vault`: the action
    deletes recordings, and the vault commits as it goes (no transaction stays open across
    its object-store calls), so no savepoint; its refusals come before anything is written,
    and a re-run finishes what a store failure left waiting."""
    request_id = path_id(request)
    db = request[DB]
    try:
        if vault:
            await work(request_id)
        else:
            async with db.begin_nested():
                await work(request_id)
    except ServiceError as exc:  # the savepoint is gone: nothing of the action is kept
        return await _page(request, request_id, error=exc.text(request[LANG]), status=exc.status)
    if tell is None:
        raise _back(request, request_id)
    notice = await tell(request, db, await _service(request).get(db, request_id))
    await db.commit()
    raise _back(request, request_id, notice=notice)


@requires(Permission.PRIVACY_MANAGE)
async def verify(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    note = str(form.get("note", ""))
    return await _act(
        request,
        lambda rid: _service(request).verify_identity(
            request[DB], rid, actor=_actor(request), note=note
        ),
        tell=_export_after_verify,
    )


async def _export_after_verify(request: web.Request, db, item) -> str:  # type: ignore[no-untyped-def]
    """An export made before the verification becomes downloadable now: say so then."""
    notice = await tell_export_ready(request, db, item)
    return "" if notice == "export_waits" else notice


@requires(Permission.PRIVACY_MANAGE)
async def close(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    outcome, rejected = str(form.get("outcome", "")), form.get("rejected") == "1"
    return await _act(
        request,
        lambda rid: _service(request).close(
            request[DB], rid, outcome=outcome, rejected=rejected, actor=_actor(request)
        ),
        tell=tell_outcome,
    )


@requires(Permission.PRIVACY_MANAGE)
async def flag(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, on = str(form.get("flag", "")), form.get("on") == "1"
    return await _act(
        request,
        lambda rid: _service(request).set_flag(
            request[DB],
            rid,
            name,
            on,
            actor=_actor(request),
            recordings=request.config_dict[RECORDINGS],
        ),
        vault=True,
    )


@requires(Permission.PRIVACY_MANAGE)
async def export(request: web.Request) -> web.StreamResponse:
    async def work(rid: int) -> None:
        await export_request(_service(request), request[DB], rid, actor=_actor(request))

    return await _act(request, work, tell=tell_export_ready)


@requires(Permission.PRIVACY_MANAGE)
async def erase(request: web.Request) -> web.StreamResponse:
    form = await request.post()

    async def work(rid: int) -> None:
        reference = request_reference(rid)
        if str(form.get("confirm", "")).strip().upper() != reference:
            raise InvalidInput(
                N_("type the reference {reference} to confirm: erasure cannot be undone"),
                reference=reference,
            )
        # By the request: a waiting erasure finishes even after the contact row is gone.
        await privacy_erasure.erase_request(
            _service(request),
            request.config_dict[RECORDINGS],
            request[DB],
            rid,
            actor=_actor(request),
            ticket_mode=request.config_dict[SETTINGS].privacy_erasure_tickets,
        )

    return await _act(request, work, tell=_tell_if_closed, vault=True)


async def _tell_if_closed(request: web.Request, db, item) -> str:  # type: ignore[no-untyped-def]
    """A completed erasure closes the request itself: tell the requester then."""
    return await tell_outcome(request, db, item) if item.status.value == "done" else ""


@requires(Permission.PRIVACY_MANAGE)
@csrf_exempt  # checked in-stream: the token part must precede the file
async def id_copy(request: web.Request) -> web.StreamResponse:
    request_id = path_id(request)
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="sd-idcopy-"))
    try:
        upload = await receive_upload(
            request, workdir, ID_COPY_MAX_BYTES, csrf_check=csrf_check_for(request)
        )
        assert upload.path is not None
        async with request[DB].begin_nested():
            await _service(request).upload_id_copy(
                request[DB], request_id, upload.path, size=upload.size, actor=_actor(request),
            )  # fmt: skip
    except ServiceError as exc:
        return await _page(request, request_id, error=exc.text(request[LANG]), status=exc.status)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    raise _back(request, request_id)


@requires(Permission.PRIVACY_MANAGE)
async def download(request: web.Request) -> web.StreamResponse:
    document = await _service(request).document(request[DB], path_id(request))
    # End the transaction before a long download (SQLite would keep its lock meanwhile).
    await request[DB].commit()
    try:
        stream = await request.config_dict[OBJECT_STORE].get(document.object_key)
    except ObjectNotFound:
        raise NotFound(N_("the file is no longer stored")) from None
    name = f"{document.kind.value}-{document.id}" + (
        ".zip" if document.kind.value == "export" else ""
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": stream.info.content_type or "application/octet-stream",
            "Content-Length": str(stream.length),
            "Content-Disposition": f'attachment; filename="{name}"',
        }
    )
    async with stream:
        await response.prepare(request)
        async for chunk in stream:
            await response.write(chunk)
    await response.write_eof()
    return response
