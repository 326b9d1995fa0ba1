"""Admin pages for the recording vault: list, upload, recording page, trainer library.
Thin: parse the form, call RecordingService, render or redirect."""

from __future__ import annotations

from aiohttp import web

from admin.auth import Permission, csrf_exempt, has_permission, requires, writes
from admin.keys import CLOCK, DB, RECORDINGS, SETTINGS, USER
from admin.middleware import render
from admin.parsing import path_id
from admin.recordings_http import ingest_upload, serve_audio, waveform_svg
from admin.recordings_query import list_filter, parse_day
from admin.urls import url_for
from recordings.notes import note_counts
from recordings.queries import (
    all_tags,
    audit_trail,
    list_recordings,
    recording_of_hold,
    training_recording,
)
from recordings.queries import training_library as training_recordings
from recordings.service import (
    active_holds,
    caller_for,
    filename_for,
    may_delete_recording,
    may_release_hold,
)
from storage.models import HoldKind, Recording
from storage.services.audit import Actor
from storage.services.errors import N_, InvalidInput


def _size(limit: int) -> str:
    """An upload limit for people: KB under 1 MB, otherwise MB with one decimal."""
    if limit < 1024 * 1024:
        return f"{max(1, round(limit / 1024))} KB"
    return f"{limit / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


@requires(Permission.RECORDINGS_VIEW)
async def recordings_page(request: web.Request) -> web.Response:
    user = request[USER]
    page = await list_recordings(
        request[DB],
        list_filter(request.query, user.role, request.config_dict[SETTINGS].zone),
        now=request.config_dict[CLOCK].now(),
        cursor=request.query.get("cursor") or None,
    )
    params = {k: v for k, v in request.query.items() if k != "cursor" and v}
    return render(
        "recordings.html",
        request,
        {
            "page": page,
            "params": params,
            "tags": await all_tags(request[DB]),
            "caller_of": lambda r: caller_for(r, user.role),
            "held_of": lambda r: bool(active_holds(r)),
        },
    )


@requires(Permission.RECORDINGS_INGEST)
async def upload_form(request: web.Request) -> web.Response:
    return render(
        "recording_upload.html",
        request,
        {"max_size": _size(request.config_dict[SETTINGS].recording_max_bytes)},
    )


@requires(Permission.RECORDINGS_INGEST)
@csrf_exempt  # checked in-stream: the token part must precede the file (ingest_upload)
async def upload(request: web.Request) -> web.StreamResponse:
    result = await ingest_upload(request, csrf=True)
    raise web.HTTPSeeOther(url_for(request, "recording", id=result.recording.id))


async def _recording(request: web.Request) -> Recording:
    return await request.config_dict[RECORDINGS].get(request[DB], path_id(request))


@requires(Permission.RECORDINGS_VIEW)
async def recording_page(request: web.Request) -> web.Response:
    user = request[USER]
    recording = await _recording(request)
    return render(
        "recording.html",
        request,
        {
            "rec": recording,
            "caller": caller_for(recording, user.role),
            "filename": filename_for(recording, user.role),
            "active": active_holds(recording),
            "tags": await all_tags(request[DB]),
            "events": await audit_trail(request[DB], recording.id),
            "may_release": lambda hold: may_release_hold(hold.kind, user.role),
            "may_delete": may_delete_recording(user.role),
            "in_training": has_permission(user, Permission.TRAINING_LISTEN)
            and any(h.kind == HoldKind.TRAINING for h in active_holds(recording)),
            "kinds": list(HoldKind),
        },
    )


@requires(Permission.RECORDINGS_VIEW)
@writes  # audit of a play or download
async def recording_audio(request: web.Request) -> web.StreamResponse:
    return await serve_audio(request, await _recording(request), via="admin")


@requires(Permission.RECORDINGS_VIEW)
async def recording_waveform(request: web.Request) -> web.Response:
    return await waveform_svg(request, await _recording(request))


def _back(request: web.Request, ident: int) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(url_for(request, "recording", id=ident))


@requires(Permission.RECORDINGS_TAG)
async def tags(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    raw = form.get("tags", "")
    ident = path_id(request)
    await request.config_dict[RECORDINGS].set_tags(
        request[DB],
        ident,
        str(raw).split(",") if raw else [],
        actor=Actor.staff(request[USER]),
    )
    raise _back(request, ident)


@requires(Permission.RECORDINGS_TAG)
async def add_tag(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    service = request.config_dict[RECORDINGS]
    ident = path_id(request)
    recording = await service.get(request[DB], ident)
    current = [t.tag for t in recording.tags]
    await service.set_tags(
        request[DB], ident, [*current, str(form.get("tag", ""))], actor=Actor.staff(request[USER])
    )
    raise _back(request, ident)


@requires(Permission.RECORDINGS_HOLD)
async def hold(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        kind = HoldKind(str(form.get("kind", "")))
    except ValueError:
        raise InvalidInput(N_("choose training or evidence")) from None
    zone = request.config_dict[SETTINGS].zone
    review = parse_day(str(form.get("review_at", "")), N_("review date"), zone)
    ident = path_id(request)
    await request.config_dict[RECORDINGS].place_hold(
        request[DB],
        ident,
        kind=kind,
        reason=str(form.get("reason", "")),
        actor=Actor.staff(request[USER]),
        review_at=review,
    )
    raise _back(request, ident)


@requires(Permission.RECORDINGS_HOLD)
async def release(request: web.Request) -> web.StreamResponse:
    """One path parameter (the hold's id) keeps the route simple to walk and to link."""
    form = await request.post()
    hold_id = path_id(request)
    ident = await recording_of_hold(request[DB], hold_id)
    await request.config_dict[RECORDINGS].release_hold(
        request[DB],
        ident,
        hold_id,
        reason=str(form.get("reason", "")),
        actor=Actor.staff(request[USER]),
        role=request[USER].role,
    )
    raise _back(request, ident)


@requires(Permission.RECORDINGS_HOLD)
async def renew(request: web.Request) -> web.StreamResponse:
    """A new review date keeps the hold (a training hold's at most 12 months ahead)."""
    form = await request.post()
    hold_id = path_id(request)
    review = parse_day(
        str(form.get("review_at", "")), N_("review date"), request.config_dict[SETTINGS].zone
    )
    if review is None:
        raise InvalidInput(N_("renewing a hold needs a new review date"))
    ident = await recording_of_hold(request[DB], hold_id)
    await request.config_dict[RECORDINGS].renew_hold(
        request[DB],
        ident,
        hold_id,
        review_at=review,
        actor=Actor.staff(request[USER]),
        role=request[USER].role,
    )
    raise _back(request, ident)


@requires(Permission.RECORDINGS_DELETE)
async def delete(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    await request.config_dict[RECORDINGS].delete_recording(
        request[DB],
        path_id(request),
        actor=Actor.staff(request[USER]),
        reason=str(form.get("reason", "")),
    )
    raise web.HTTPSeeOther(url_for(request, "recordings"))


# --- trainer library -----------------------------------------------------------------------


@requires(Permission.TRAINING_LISTEN)
async def training_page(request: web.Request) -> web.Response:
    recordings = await training_recordings(request[DB])
    return render(
        "training.html",
        request,
        {
            "recordings": recordings,
            "training": lambda r: [h for h in active_holds(r) if h.kind == HoldKind.TRAINING],
            "note_counts": await note_counts(request[DB], [r.id for r in recordings]),
        },
    )


async def _training_recording(request: web.Request) -> Recording:
    """Trainers reach only recordings under an active training hold (not restricted)."""
    return await training_recording(request[DB], path_id(request))


@requires(Permission.TRAINING_LISTEN)
@writes  # audit of a play or download
async def training_audio(request: web.Request) -> web.StreamResponse:
    return await serve_audio(request, await _training_recording(request), via="training")


@requires(Permission.TRAINING_LISTEN)
async def training_waveform(request: web.Request) -> web.Response:
    return await waveform_svg(request, await _training_recording(request))
