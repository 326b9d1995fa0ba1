"""The trainers' listening room: one recording of the training library with the player
(admin/static/player.js) and its timestamped training notes. Thin: parse, call
recordings.notes, render or redirect (post/redirect/get)."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from admin.auth import Permission, public, requires
from admin.keys import CLOCK, DB, USER
from admin.middleware import render
from admin.parsing import path_id
from admin.urls import url_for
from recordings.notes import MAX_NOTE, add_note, clock_text, delete_note, list_notes
from recordings.queries import training_recording
from recordings.service import active_holds
from storage.models import HoldKind
from storage.services.errors import N_, InvalidInput

STATIC = Path(__file__).parent / "static"
# A typed moment: m:ss, mm:ss or h:mm:ss (seconds may carry a fraction), or plain seconds;
# a leading minus is read so that the service can refuse it with its own words.
_MOMENT = re.compile(r"^(-?)(?:(?:(\d{1,2}):)?(\d{1,3}):)?(\d{1,5}(?:[.,]\d{1,3})?)$")


def parse_moment(typed: str, from_player: str) -> int:
    """The note's moment in milliseconds: a typed time wins (no JavaScript, or the trainer
    chose another moment), else the player's current time the script put in the form."""
    typed = typed.strip()
    if typed:
        match = _MOMENT.match(typed)
        if match is None:
            raise InvalidInput(N_("give the moment as minutes:seconds, for example 1:05"))
        sign, hours, minutes, seconds = match.groups()
        if hours is not None or minutes is not None:
            if float(seconds.replace(",", ".")) >= 60:
                raise InvalidInput(N_("give the moment as minutes:seconds, for example 1:05"))
        total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds.replace(",", "."))
        return round(total * 1000) * (-1 if sign else 1)
    from_player = from_player.strip()
    if not from_player:
        raise InvalidInput(N_("a note needs the moment in the recording it is about"))
    if re.fullmatch(r"-?\d{1,12}", from_player) is None:
        raise InvalidInput(N_("give the moment as minutes:seconds, for example 1:05"))
    return int(from_player)


@requires(Permission.TRAINING_LISTEN)
async def room_page(request: web.Request) -> web.Response:
    recording = await training_recording(request[DB], path_id(request))
    return render(
        "training_room.html",
        request,
        {
            "rec": recording,
            "holds": [h for h in active_holds(recording) if h.kind == HoldKind.TRAINING],
            "notes": await list_notes(request[DB], recording.id),
            "clock": clock_text,
            "max_note": MAX_NOTE,
        },
    )


@requires(Permission.TRAINING_LISTEN)
async def add_note_view(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    ident = path_id(request)
    position = parse_moment(str(form.get("at", "")), str(form.get("position_ms", "")))
    note = await add_note(
        request[DB],
        ident,
        position_ms=position,
        text=str(form.get("text", "")),
        author=request[USER],
        now=request.config_dict[CLOCK].now(),
    )
    raise web.HTTPSeeOther(
        url_for(request, "training_room", id=ident).with_fragment(f"note-{note.id}")
    )


@requires(Permission.TRAINING_LISTEN)
async def delete_note_view(request: web.Request) -> web.StreamResponse:
    ident = await delete_note(
        request[DB], path_id(request), user=request[USER], now=request.config_dict[CLOCK].now()
    )
    raise web.HTTPSeeOther(url_for(request, "training_room", id=ident).with_fragment("notes"))


@public
async def player_script(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "player.js", headers={"Cache-Control": "public, max-age=3600"})
