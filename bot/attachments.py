"""Storing a Telegram file as a ticket attachment: the one implementation for a photo or
document filed at once (bot/media.py), for /new (files collected before the ticket exists)
and for a held photo/document once its ticket is chosen."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiofiles
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiohttp import ClientResponseError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.local_files import LocalFileRefused
from bot.middlewares import RollbackHook
from bot.texts import t
from storage.clock import Clock
from storage.models import Attachment, Ticket, TicketMessage
from storage.objectstore import ObjectStore, PutResult
from storage.services.tickets import MAX_TEXT
from storage.tempdirs import temporary_directory

log = logging.getLogger(__name__)
LOCAL_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class MediaFile:
    file_id: str
    unique_id: str
    size: int | None
    filename: str
    media_type: str


@dataclass(frozen=True)
class NotStored:
    """A file that was not stored: `reason` for the ticket's note (agents read it);
    `refused` when Telegram would not hand it over, else it is over our size limit."""

    reason: str
    refused: bool = False


def format_limit(limit: int, language: str = "en") -> str:
    """A byte limit as people read it: whole binary units stay whole (20 MiB -> "20 MB"),
    otherwise decimal with at most one decimal (1,000,000 -> "1 MB", 1.5 MiB -> "1.5 MB"),
    KB below 1 MB. Rounded down, so "larger than <limit>" is true of every refused file."""
    for unit, binary, decimal in (("MB", 1 << 20, 10**6), ("KB", 1 << 10, 10**3)):
        if limit < decimal:
            continue
        if limit % binary == 0:
            return f"{limit // binary} {unit}"
        whole, tenth = divmod(limit * 10 // decimal, 10)
        if tenth == 0:
            return f"{whole} {unit}"
        return f"{whole}{',' if language == 'nl' else '.'}{tenth} {unit}"
    return f"{limit} bytes"


def refusal_text(language: str, not_stored: NotStored, limit: int, reference: str) -> str:
    """What the customer is told about a file that was not stored."""
    if not_stored.refused:
        return t(language, "media_refused", reference=reference)
    return t(language, "media_too_large", limit=format_limit(limit, language), reference=reference)


async def download_to(bot: Bot, file_id: str, path: Path, limit: int) -> int | None:
    """Stream a Telegram file to `path` in chunks (never whole in memory); its size, or
    None once it grows past `limit` (the Bot API may not know the size up front)."""
    file = await bot.get_file(file_id)
    if file.file_size is not None and file.file_size > limit:
        return None
    if file.file_path is None:
        raise ValueError("the Bot API returned no file path")
    if bot.session.api.is_local:  # resolving the path reads the disk (symlinks): a thread
        local = await asyncio.to_thread(bot.session.api.wrap_local_file.to_local, file.file_path)
        chunks = _read_local(local)
    else:
        url = bot.session.api.file_url(bot.token, file.file_path)
        chunks = bot.session.stream_content(url=url, timeout=120)
    size = 0
    async with aiofiles.open(path, "wb") as fh, contextlib.aclosing(chunks):
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:  # stop reading: the connection is closed with the generator
                return None
            await fh.write(chunk)
    return size


async def _read_local(path: Path | str) -> AsyncGenerator[bytes, None]:
    """A file of a --local Bot API server, in chunks (bot/local_files.py confines the path)."""
    try:
        fh = await aiofiles.open(path, "rb")
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise LocalFileRefused(f"{path}: {exc.strerror}") from None
    try:
        while chunk := await fh.read(LOCAL_CHUNK):
            yield chunk
    finally:
        await fh.close()


def media_ref(media: MediaFile) -> dict[str, Any]:
    """What we keep of a file until it can be stored (JSON: FSM data, held_messages)."""
    return asdict(media)


async def put_telegram_file(
    media: MediaFile, key: str, *, bot: Bot, object_store: ObjectStore, limit: int
) -> PutResult | NotStored:
    """Stream the file into the object store under `key` (no database); NotStored when it
    is over `limit` or Telegram refuses it for good (see store_telegram_file); transient
    failures raise."""
    over = f"over the {format_limit(limit)} limit"
    if media.size is not None and media.size > limit:
        return NotStored(f"{media.size} bytes, {over}")
    async with temporary_directory("supportdesk-file-") as tmp:
        path = tmp / "download"
        try:
            size = await download_to(bot, media.file_id, path, limit)
        except TelegramBadRequest as exc:
            return NotStored(f"Telegram refused the download ({exc.message})", refused=True)
        except ClientResponseError as exc:
            if exc.status != 400:
                raise
            return NotStored(f"Telegram refused the download (HTTP {exc.status})", refused=True)
        except LocalFileRefused as exc:
            log.warning("local Bot API file not read: %s", exc)
            return NotStored("the Bot API server's file could not be read", refused=True)
        if size is None:
            return NotStored(over)
        return await object_store.put(key, path, content_type=media.media_type)


async def store_telegram_file(
    ref: MediaFile | Mapping[str, Any],
    *,
    ticket_id: int,
    message_id: int,
    bot: Bot,
    session: AsyncSession,
    object_store: ObjectStore,
    on_rollback: list[RollbackHook],
    clock: Clock,
    limit: int,
    suffix: str = "",
) -> Attachment | NotStored:
    """Stream the file into the object store and attach it; NotStored when it is over
    `limit` or Telegram refuses it for good (a 400: "file is too big" over 20 MB, an invalid
    or expired file_id), which a retry would not change. Transient failures (network, 5xx,
    429) raise, so the update is retried.
    `ref` is the file itself or what media_ref kept of it (JSON in FSM data, held_messages)."""
    media = ref if isinstance(ref, MediaFile) else MediaFile(**ref)
    key = f"attachments/{ticket_id}/{message_id}/{media.unique_id}{suffix}"
    put = await put_telegram_file(media, key, bot=bot, object_store=object_store, limit=limit)
    if isinstance(put, NotStored):
        return put
    # From here a failed transaction must not leave the object behind.
    on_rollback.append(partial(object_store.delete, put.key, version_id=put.version_id))
    attachment = Attachment(
        ticket_id=ticket_id,
        message_id=message_id,
        object_key=put.key,
        version_id=put.version_id,
        filename=str(media.filename)[:255],
        media_type=str(media.media_type)[:127],
        size=put.size,
        sha256=put.sha256,
        created_at=clock.now(),
    )
    session.add(attachment)
    await session.flush()
    return attachment


def not_stored_note(not_stored: NotStored) -> str:
    return f"[not stored: {not_stored.reason}]"


async def attach_telegram_file(
    ref: MediaFile | Mapping[str, Any],
    *,
    ticket: Ticket,
    stored: TicketMessage,
    language: str,
    bot: Bot,
    session: AsyncSession,
    object_store: ObjectStore,
    on_rollback: list[RollbackHook],
    clock: Clock,
    limit: int,
    suffix: str = "",
    named: bool = False,
) -> str | None:
    """store_telegram_file for the ticket message `stored`. A file that is not stored is
    noted on that message ("[not stored: ...]", so the agent sees it was refused) and the
    customer's explanation is returned; None when it was stored. `named`: the message text
    does not describe the file (/new's description), so the note names it."""
    result = await store_telegram_file(
        ref,
        ticket_id=ticket.id,
        message_id=stored.id,
        bot=bot,
        session=session,
        object_store=object_store,
        on_rollback=on_rollback,
        clock=clock,
        limit=limit,
        suffix=suffix,
    )
    if isinstance(result, Attachment):
        return None
    note = not_stored_note(result)
    if named:
        media = ref if isinstance(ref, MediaFile) else MediaFile(**ref)
        note = f"[{media.filename}] {note}"
    separator = "\n" if named else " "
    # The note must survive the text limit: cut the text before it, never the note.
    stored.text = stored.text[: MAX_TEXT - len(note) - len(separator)] + separator + note
    await session.flush()
    return refusal_text(language, result, limit, ticket.reference)
