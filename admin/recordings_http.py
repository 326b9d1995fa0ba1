"""Recordings on the web, shared by the API and the admin pages: the service in app state,
JSON shapes, the audited audio stream and the upload door."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from admin.keys import CLOCK, DB, OBJECT_STORE, RECORDINGS, SETTINGS, USER, WAVEFORMS
from admin.uploads import csrf_check_for, receive_upload
from recordings import listens
from recordings.policy import policy_from_settings
from recordings.service import IngestResult, RecordingService, caller_for, filename_for
from recordings.streaming import served_range, stream_object
from recordings.upload import FIELDS, metadata
from recordings.waveform import Waveforms, cache_dir
from storage.models import Recording, RecordingHold, StaffUser
from storage.objectstore.base import ObjectNotFound
from storage.services.audit import Actor
from storage.services.errors import N_, InvalidInput, NotFound
from storage.tempdirs import temporary_directory


def work_dir(app: web.Application) -> Path:
    """Uploads and transcodes go to disk under DATA_DIR (not a possibly RAM-backed /tmp)."""
    return app[SETTINGS].data_dir / "tmp"


async def recordings_ctx(app: web.Application) -> AsyncIterator[None]:
    """Registered after the object store's context: the service needs the opened store."""
    settings = app[SETTINGS]
    await asyncio.to_thread(work_dir(app).mkdir, parents=True, exist_ok=True)
    policy = policy_from_settings(settings, temp_dir=work_dir(app))
    app[RECORDINGS] = RecordingService(app[CLOCK], app[OBJECT_STORE], policy)
    app[WAVEFORMS] = Waveforms(cache_dir(settings.data_dir), work_dir(app))
    yield


def utc_iso(moment: datetime) -> str:
    """One form for every date/time the API echoes: UTC with its offset. A value just given
    (say review_at in +02:00) and the same value read back from the database look alike."""
    return moment.astimezone(UTC).isoformat()


def hold_json(hold: RecordingHold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "kind": hold.kind.value,
        "reason": hold.reason,
        "placed_by": hold.placed_by,
        "placed_at": utc_iso(hold.placed_at),
        "review_at": utc_iso(hold.review_at),
        "active": hold.released_at is None,
        "released_at": utc_iso(hold.released_at) if hold.released_at else None,
        "released_by": hold.released_by,
        "release_reason": hold.release_reason,
    }


def recording_json(recording: Recording, viewer: StaffUser) -> dict[str, Any]:
    """The API shape; the caller number goes through `caller_for` (withheld stays shielded)."""
    holds = [hold_json(h) for h in recording.holds]
    return {
        "id": recording.id,
        "duration_seconds": recording.duration_seconds,
        "sha256": recording.sha256_original,
        "sha256_archive": recording.sha256_archive,
        "object_key": recording.object_key,
        "version_id": recording.version_id,
        "original_format": recording.original_format,
        "original_filename": filename_for(recording, viewer.role),
        "sample_rate": recording.sample_rate,
        "channels": recording.channels,
        "original_size": recording.original_size,
        "archive_size": recording.archive_size,
        "started_at": utc_iso(recording.call_started_at),
        "caller": caller_for(recording, viewer.role),
        "caller_withheld": recording.caller_withheld,
        "callee": recording.callee,
        "agent": recording.agent,
        "ticket_id": recording.ticket_id,
        "organisation_id": recording.organisation_id,
        "created_at": utc_iso(recording.created_at),
        "expires_at": utc_iso(recording.expires_at),
        "held": any(h["active"] for h in holds),
        "tags": [t.tag for t in recording.tags],
        "holds": holds,
    }


async def ingest_upload(request: web.Request, *, csrf: bool) -> IngestResult:
    """Stream the multipart body to a temp file and ingest it. With `csrf`, the form's
    token must come before the file and is checked before a byte of it is written."""
    app = request.config_dict
    settings = app[SETTINGS]
    async with temporary_directory("sd-upload-", work_dir(app)) as tmp:
        upload = await receive_upload(
            request,
            tmp,
            settings.recording_max_bytes,
            fields=FIELDS,
            csrf_check=csrf_check_for(request) if csrf else None,
        )
        assert upload.path is not None
        meta = metadata(upload.fields, upload.filename, settings.zone)
        result = await app[RECORDINGS].ingest(
            request[DB], upload.path, meta, Actor.staff(request[USER])
        )
    return result


async def serve_audio(
    request: web.Request, recording: Recording, *, via: str
) -> web.StreamResponse:
    """Audit (one play per listening session, every download), end the transaction, then
    stream the archived version with Range support."""
    app = request.config_dict
    user = request[USER]
    ident, key, version = recording.id, recording.object_key, recording.version_id
    etag = f'"{recording.sha256_archive}"'
    download = request.query.get("download") == "1"
    now = app[CLOCK].now()

    async def audit() -> None:
        if request.method == "GET":
            if download:
                # Judged on the range really served (after If-Range): only an honoured
                # `a-`/`a-b` with a > 0 continues a download; a suffix may be the whole file.
                byte_range = served_range(request, etag)
                if byte_range is None or not byte_range.start:
                    await listens.record_download(
                        request[DB], recording_id=ident, actor=Actor.staff(user), now=now, via=via
                    )
            else:
                await listens.record_play(
                    request[DB],
                    recording_id=ident,
                    actor=Actor.staff(user),
                    staff_user_id=user.id,
                    now=now,
                    window=timedelta(minutes=app[SETTINGS].recording_listen_minutes),
                    via=via,
                )
        # Commit before streaming: a long body must not hold the transaction or SQLite's lock.
        await request[DB].commit()

    # The lookup's transaction ends before the store is called (a stalled store must not
    # hold it, nor SQLite's write lock); the audit then writes in a short one of its own.
    await request[DB].commit()
    try:
        # The audit runs once the store opened the object; no byte goes out before it.
        return await stream_object(
            request,
            app[OBJECT_STORE],
            key,
            version_id=version,
            content_type="audio/ogg",
            filename=f"recording-{ident}.ogg",
            download=download,
            etag=etag,
            before_body=audit,
        )
    except ObjectNotFound:
        raise NotFound(
            N_("the audio of recording {ident} is missing from the archive"),
            ident=ident,
        ) from None


async def waveform_svg(request: web.Request, recording: Recording) -> web.Response:
    app = request.config_dict
    try:
        body = await app[WAVEFORMS].get(
            app[OBJECT_STORE],
            recording.object_key,
            version_id=recording.version_id,
            sha256=recording.sha256_archive,
            duration=recording.duration_seconds,
        )
    except ObjectNotFound:
        raise NotFound(
            N_("the audio of recording {recording_id} is missing"),
            recording_id=recording.id,
        ) from None
    return web.Response(body=body, content_type="image/svg+xml")


def parse_bool(value: str, name: str) -> bool | None:
    if value == "":
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise InvalidInput(N_("{name!r} must be true or false"), name=name)
