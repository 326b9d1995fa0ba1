"""Multipart recording uploads (API and admin form): the file goes straight to a temp file,
chunk by chunk, under a size limit; the small text fields become IngestMetadata."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from aiohttp import BodyPartReader, web

from recordings.service import IngestMetadata
from storage.services.errors import InvalidInput

CHUNK = 256 * 1024
MAX_FIELD = 2000
FIELDS = {"caller", "caller_withheld", "callee", "agent", "started_at", "ticket_id", "csrf_token"}
_NUMBER = re.compile(r"^\+?[0-9 ()./-]{1,64}$")


class UploadTooLarge(InvalidInput):
    code = "too_large"
    status = 413


@dataclass
class Upload:
    path: Path | None = None
    filename: str = ""
    fields: dict[str, str] = field(default_factory=dict)


async def _read_field(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(1024):
        data.extend(chunk)
        if len(data) > MAX_FIELD:
            raise InvalidInput(f"field {name!r} is longer than {MAX_FIELD} bytes")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise InvalidInput(f"field {name!r} is not UTF-8 text") from None


async def _write_file(part: BodyPartReader, target: Path, max_bytes: int) -> None:
    size = 0
    fh: BinaryIO = await asyncio.to_thread(target.open, "wb")
    try:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise UploadTooLarge(f"the file is larger than the limit of {max_bytes} bytes")
            await asyncio.to_thread(fh.write, chunk)
    finally:
        await asyncio.to_thread(fh.close)


async def receive_upload(
    request: web.Request,
    directory: Path,
    max_bytes: int,
    *,
    csrf_check: Callable[[str], None] | None = None,
) -> Upload:
    """Read a multipart body; the caller owns `directory` (and so removes the file).

    With `csrf_check` (browser forms) the `csrf_token` part must precede the file and is
    checked as soon as it arrives, so a forged request never gets its file written.
    """
    checked = csrf_check is None
    if request.content_length is not None and request.content_length > max_bytes + 64 * 1024:
        raise UploadTooLarge(f"the upload is larger than the limit of {max_bytes} bytes")
    if request.content_type != "multipart/form-data":
        raise InvalidInput("send multipart/form-data with a 'file' part")
    upload = Upload()
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("nested multipart bodies are not accepted")
        name = part.name or ""
        if name == "file":
            if not checked:
                assert csrf_check is not None
                csrf_check("")
            if upload.path is not None:
                raise InvalidInput("send exactly one 'file'")
            upload.filename = Path(part.filename or "upload").name[:255]
            suffix = Path(upload.filename).suffix.lower()
            # The suffix matters for raw .gsm, which has no header to probe.
            upload.path = directory / f"upload{suffix if suffix[1:].isalnum() else ''}"
            await _write_file(part, upload.path, max_bytes)
        elif name in FIELDS:
            upload.fields[name] = (await _read_field(part, name)).strip()
            if name == "csrf_token" and csrf_check is not None:
                csrf_check(upload.fields[name])
                checked = True
        else:
            await part.release()
    if not checked:
        assert csrf_check is not None
        csrf_check("")
    if upload.path is None:
        raise InvalidInput("the 'file' part is missing")
    return upload


def _number(fields: dict[str, str], name: str) -> str | None:
    value = fields.get(name, "")
    if not value:
        return None
    if not _NUMBER.match(value):
        raise InvalidInput(f"{name!r} is not a phone number")
    return value


def _moment(value: str, zone: ZoneInfo) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"'started_at' is not an ISO date/time: {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def metadata(upload: Upload, zone: ZoneInfo) -> IngestMetadata:
    fields = upload.fields
    ticket = fields.get("ticket_id", "")
    if ticket and not ticket.isdigit():
        raise InvalidInput("'ticket_id' must be a number")
    agent = fields.get("agent", "")
    if len(agent) > 200:
        raise InvalidInput("'agent' is longer than 200 characters")
    return IngestMetadata(
        caller=_number(fields, "caller"),
        caller_withheld=fields.get("caller_withheld", "").lower() in ("1", "true", "on", "yes"),
        callee=_number(fields, "callee"),
        agent=agent or None,
        started_at=_moment(fields.get("started_at", ""), zone),
        ticket_id=int(ticket) if ticket else None,
        filename=upload.filename,
    )
