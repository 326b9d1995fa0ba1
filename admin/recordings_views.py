"""Admin pages for the recording vault: list, upload, recording page, trainer library.
Thin: parse the form, call RecordingService, render or redirect."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy

from admin.auth import Permission, csrf_exempt, requires, writes
from admin.keys import CLOCK, DB, RECORDINGS, SETTINGS, USER
from admin.middleware import render
from admin.parsing import parse_id, path_id
from admin.recordings_web import ingest_upload, parse_bool, serve_audio, waveform_svg
from recordings.queries import (
    RecordingFilter,
    all_tags,
    audit_trail,
    list_recordings,
    recording_of_hold,
)
from recordings.queries import training_library as training_recordings
from recordings.service import (
    SEE_WITHHELD_ROLES,
    active_holds,
    caller_for,
    filename_for,
    may_delete_recording,
    may_release_hold,
)
from storage.models import HoldKind, Recording
from storage.services.audit import Actor
from storage.services.errors import InvalidInput, NotFound
from storage.services.privacy import excluded_callers

routes = web.RouteTableDef()
# The fields' names in a Dutch refusal, as the Dutch page labels them.
_NAMES_NL = {
    "from": "vanaf",
    "until": "tot",
    "review date": "herbeoordelingsdatum",
    "ticket": "ticket",
    "expiring": "verloopt binnen",
}


def _name_nl(name: str) -> str:
    return _NAMES_NL.get(name, name)


def _day(value: str, name: str, zone: ZoneInfo, *, end: bool = False) -> datetime | None:
    """A YYYY-MM-DD field as the start of that day in the office zone (or of the next day)."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(
            f"{name}: use a date like 2026-01-31",
            nl=f"{_name_nl(name)}: gebruik een datum zoals 2026-01-31",
        ) from None
    try:
        start = datetime.combine(day, time.min, tzinfo=zone)
        return (start + timedelta(days=1) if end else start).astimezone(UTC)
    except OverflowError:  # 0001-01-01 / 9999-12-31 fall off the calendar in UTC
        raise InvalidInput(
            f"{name}: {value} is out of range; use a date between 0002-01-01 and 9998-12-31",
            nl=(
                f"{_name_nl(name)}: {value} valt buiten het bereik; gebruik een datum tussen "
                "0002-01-01 en 9998-12-31"
            ),
        ) from None


def _size(limit: int) -> str:
    """An upload limit for people: KB under 1 MB, otherwise MB with one decimal."""
    if limit < 1024 * 1024:
        return f"{max(1, round(limit / 1024))} KB"
    return f"{limit / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def _int(value: str, name: str) -> int | None:
    if not value:
        return None
    number = parse_id(value)
    if number is None:
        raise InvalidInput(f"{name} must be a number", nl=f"{_name_nl(name)}: moet een getal zijn")
    return number


MAX_EXPIRING_DAYS = 36_500  # a century: beyond it a date overflows, and means "all" anyway


def _expiring(value: str) -> int | None:
    days = _int(value, "expiring")
    if days is not None and days > MAX_EXPIRING_DAYS:
        raise InvalidInput(
            f"expiring must be at most {MAX_EXPIRING_DAYS} days",
            nl=f"'verloopt binnen' mag hoogstens {MAX_EXPIRING_DAYS} dagen zijn",
        )
    return days


def page_filter(query: MultiDictProxy[str], role: object, zone: ZoneInfo) -> RecordingFilter:
    return RecordingFilter(
        tag=query.get("tag", "").strip(),
        # A clear 422 for anything but true/false, on the page as on the API.
        held=parse_bool(query.get("held", ""), "held"),
        since=_day(query.get("from", ""), "from", zone),
        until=_day(query.get("until", ""), "until", zone, end=True),
        number=query.get("number", "").strip(),
        ticket_id=_int(query.get("ticket", ""), "ticket"),
        expiring_days=_expiring(query.get("expiring", "")),
        see_withheld=role in SEE_WITHHELD_ROLES,
    )


@routes.get("/recordings")
@requires(Permission.RECORDINGS_VIEW)
async def recordings_page(request: web.Request) -> web.Response:
    user = request[USER]
    page = await list_recordings(
        request[DB],
        page_filter(request.query, user.role, request.config_dict[SETTINGS].zone),
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


@routes.get("/recordings/upload")
@requires(Permission.RECORDINGS_INGEST)
async def upload_form(request: web.Request) -> web.Response:
    return render(
        "recording_upload.html",
        request,
        {"max_size": _size(request.config_dict[SETTINGS].recording_max_bytes)},
    )


@routes.post("/recordings/upload")
@requires(Permission.RECORDINGS_INGEST)
@csrf_exempt  # checked in-stream: the token part must precede the file (ingest_upload)
async def upload(request: web.Request) -> web.StreamResponse:
    result = await ingest_upload(request, csrf=True)
    raise web.HTTPSeeOther(f"/recordings/{result.recording.id}")


async def _recording(request: web.Request) -> Recording:
    return await request.config_dict[RECORDINGS].get(request[DB], path_id(request))


@routes.get("/recordings/{id}")
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
            "kinds": list(HoldKind),
        },
    )


@routes.get("/recordings/{id}/audio")
@requires(Permission.RECORDINGS_VIEW)
@writes  # audit of a play or download
async def recording_audio(request: web.Request) -> web.StreamResponse:
    return await serve_audio(request, await _recording(request), via="admin")


@routes.get("/recordings/{id}/waveform.svg")
@requires(Permission.RECORDINGS_VIEW)
async def recording_waveform(request: web.Request) -> web.Response:
    return await waveform_svg(request, await _recording(request))


def _back(ident: int) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/recordings/{ident}")


@routes.post("/recordings/{id}/tags")
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
    raise _back(ident)


@routes.post("/recordings/{id}/tag")
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
    raise _back(ident)


@routes.post("/recordings/{id}/holds")
@requires(Permission.RECORDINGS_HOLD)
async def hold(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        kind = HoldKind(str(form.get("kind", "")))
    except ValueError:
        raise InvalidInput(
            "choose training or evidence", nl="kies training of bewijs van een afspraak"
        ) from None
    review = _day(str(form.get("review_at", "")), "review date", request.config_dict[SETTINGS].zone)
    ident = path_id(request)
    await request.config_dict[RECORDINGS].place_hold(
        request[DB],
        ident,
        kind=kind,
        reason=str(form.get("reason", "")),
        actor=Actor.staff(request[USER]),
        review_at=review,
    )
    raise _back(ident)


@routes.post("/recording-holds/{id}/release")
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
    raise _back(ident)


@routes.post("/recordings/{id}/delete")
@requires(Permission.RECORDINGS_DELETE)
async def delete(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    await request.config_dict[RECORDINGS].delete_recording(
        request[DB],
        path_id(request),
        actor=Actor.staff(request[USER]),
        reason=str(form.get("reason", "")),
    )
    raise web.HTTPSeeOther("/recordings")


# --- trainer library -----------------------------------------------------------------------


@routes.get("/training")
@requires(Permission.TRAINING_LISTEN)
async def training_page(request: web.Request) -> web.Response:
    recordings = await training_recordings(request[DB])
    return render(
        "training.html",
        request,
        {
            "recordings": recordings,
            "training": lambda r: [h for h in active_holds(r) if h.kind == HoldKind.TRAINING],
        },
    )


async def _training_recording(request: web.Request) -> Recording:
    """Trainers reach only recordings under an active training hold."""
    recording = await _recording(request)
    if not any(h.kind == HoldKind.TRAINING for h in active_holds(recording)):
        raise NotFound(
            "recording not in the training library",
            nl="de opname staat niet in de trainingsbibliotheek",
        )
    if recording.caller and recording.caller in await excluded_callers(request[DB]):
        raise NotFound(
            "recording not in the training library",
            nl="de opname staat niet in de trainingsbibliotheek",
        )  # restricted / objection
    return recording


@routes.get("/training/{id}/audio")
@requires(Permission.TRAINING_LISTEN)
@writes  # audit of a play or download
async def training_audio(request: web.Request) -> web.StreamResponse:
    return await serve_audio(request, await _training_recording(request), via="training")


@routes.get("/training/{id}/waveform.svg")
@requires(Permission.TRAINING_LISTEN)
async def training_waveform(request: web.Request) -> web.Response:
    return await waveform_svg(request, await _training_recording(request))
