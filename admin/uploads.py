"""Streamed multipart uploads for the admin (recordings, ID copies): the file goes straight
to a temp file, chunk by chunk, under a size limit, never into memory. Browser forms carry
their CSRF token as a part before the file, checked before a byte of the file is written."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aiohttp import BodyPartReader, web

from admin.keys import STAFF_SESSION
from storage.services.errors import N_, InvalidInput

log = logging.getLogger(__name__)
CHUNK = 256 * 1024
MAX_FIELD = 2000

CsrfCheck = Callable[[str], None]


class UploadTooLarge(InvalidInput):
    code = "too_large"
    status = 413


class ClientGone(web.HTTPException):
    """The client closed the connection mid-upload: its doing, not a server error. 499 as
    for a cancelled request (admin.ops); nothing can be sent back anyway."""

    status_code = 499

    def __init__(self) -> None:
        super().__init__(reason="Client Closed Request")


@dataclass
class Upload:
    path: Path | None = None
    filename: str = ""
    content_type: str = ""
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)


def csrf_check_for(request: web.Request) -> CsrfCheck:
    """A check of a submitted token against the staff session's, refusing with 403."""
    record = request.get(STAFF_SESSION)
    expected = record.csrf_token if record is not None else ""

    def check(token: str) -> None:
        if not expected or not token or not secrets.compare_digest(expected, token):
            raise web.HTTPForbidden(reason="CSRF token missing or invalid")

    return check


async def refuse_non_multipart(request: web.Request, csrf_check: CsrfCheck | None) -> None:
    """A browser post that is not multipart is still CSRF-checked before it is refused."""
    if request.content_type == "multipart/form-data":
        return
    if csrf_check is not None:
        form = await request.post()  # not an upload, so small (client_max_size caps it)
        token = form.get("csrf_token", "")
        csrf_check(token if isinstance(token, str) else "")
    raise InvalidInput(N_("send multipart/form-data with a 'file' part"))


def safe_filename(filename: str) -> str:
    """A client's file name fit for a temp file and a message: letters, digits, . _ -
    (others become _), no leading dot or dash, at most 100 characters."""
    name = re.sub(r"[^\w.-]", "_", Path(filename).name, flags=re.ASCII)
    stem, dot, suffix = name.rpartition(".")
    if dot and stem:  # keep the suffix when shortening
        name = f"{stem[: 99 - len(suffix[:20])]}.{suffix[:20]}"
    return name[:100].lstrip(".-") or "upload"


async def _read_field(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(1024):
        data.extend(chunk)
        if len(data) > MAX_FIELD:
            raise InvalidInput(
                N_("field {name!r} is longer than {limit} bytes"),
                name=name,
                limit=MAX_FIELD,
            )
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise InvalidInput(N_("field {name!r} is not UTF-8 text"), name=name) from None


async def _write_file(part: BodyPartReader, target: Path, max_bytes: int, upload: Upload) -> None:
    """Stream the part to `target`, counting in `upload.size` as it goes (so that an abort
    can say how far it came)."""
    fh: BinaryIO = await asyncio.to_thread(target.open, "wb")
    try:
        while chunk := await part.read_chunk(CHUNK):
            upload.size += len(chunk)
            if upload.size > max_bytes:
                raise UploadTooLarge(
                    N_("the file is larger than the limit of {max_bytes} bytes"),
                    max_bytes=max_bytes,
                )
            await asyncio.to_thread(fh.write, chunk)
    finally:
        await asyncio.to_thread(fh.close)


async def receive_upload(
    request: web.Request,
    directory: Path,
    max_bytes: int,
    *,
    fields: Collection[str] = ("csrf_token",),
    csrf_check: CsrfCheck | None = None,
) -> Upload:
    """Read a multipart body with one 'file' part; the caller owns `directory` (and so
    removes the file). Parts named in `fields` are kept as short text, others skipped.

    With `csrf_check` (browser forms) the `csrf_token` part must precede the file and is
    checked as soon as it arrives, so a forged request never gets its file written.
    """
    await refuse_non_multipart(request, csrf_check)
    if request.content_length is not None and request.content_length > max_bytes + 64 * 1024:
        raise UploadTooLarge(
            N_("the upload is larger than the limit of {max_bytes} bytes"),
            max_bytes=max_bytes,
        )
    upload = Upload()
    try:
        await _receive_parts(request, upload, directory, max_bytes, fields, csrf_check)
    except ConnectionResetError:  # aiohttp's "Connection lost": the client went away
        # The caller still removes the partial file with its directory.
        log.info("upload aborted by the client after %d bytes of the file", upload.size)
        raise ClientGone() from None
    if upload.path is None:
        raise InvalidInput(N_("choose a file: the 'file' part is missing"))
    return upload


async def _receive_parts(
    request: web.Request,
    upload: Upload,
    directory: Path,
    max_bytes: int,
    fields: Collection[str],
    csrf_check: CsrfCheck | None,
) -> None:
    checked = csrf_check is None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise InvalidInput(N_("nested multipart bodies are not accepted"))
        name = part.name or ""
        if name == "file":
            if not checked and csrf_check is not None:
                csrf_check("")
            if upload.path is not None:
                raise InvalidInput(N_("send exactly one 'file'"))
            upload.filename = Path(part.filename or "upload").name[:255]
            upload.content_type = part.headers.get("Content-Type", "")
            # Named after the client's file (made safe), so that an error about the file
            # names the file the user sent; the suffix matters for e.g. raw .gsm audio.
            upload.path = directory / safe_filename(upload.filename)
            await _write_file(part, upload.path, max_bytes, upload)
        elif name in fields or name == "csrf_token":
            upload.fields[name] = (await _read_field(part, name)).strip()
            if name == "csrf_token" and csrf_check is not None:
                csrf_check(upload.fields[name])
                checked = True
        else:
            await part.release()
    if not checked and csrf_check is not None:
        csrf_check("")
