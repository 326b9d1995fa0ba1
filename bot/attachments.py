"""Storing a Telegram file as a ticket attachment: the one implementation for a photo or
document filed at once (bot/media.py), for /new (files collected before the ticket exists)
and for a held photo/document once its ticket is chosen."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiofiles
from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares import RollbackHook
from storage.clock import Clock
from storage.models import Attachment
from storage.objectstore import ObjectStore
from storage.tempdirs import temporary_directory


@dataclass(frozen=True)
class MediaFile:
    file_id: str
    unique_id: str
    size: int | None
    filename: str
    media_type: str


async def download_to(bot: Bot, file_id: str, path: Path, limit: int) -> int | None:
    """Stream a Telegram file to `path` in chunks (never whole in memory); its size, or
    None once it grows past `limit` (the Bot API may not know the size up front)."""
    file = await bot.get_file(file_id)
    if file.file_size is not None and file.file_size > limit:
        return None
    if file.file_path is None:
        raise ValueError("the Bot API returned no file path")
    url = bot.session.api.file_url(bot.token, file.file_path)
    size = 0
    chunks = bot.session.stream_content(url=url, timeout=120)
    async with aiofiles.open(path, "wb") as fh, contextlib.aclosing(chunks):
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:  # stop reading: the connection is closed with the generator
                return None
            await fh.write(chunk)
    return size


def media_ref(media: MediaFile) -> dict[str, Any]:
    """What we keep of a file until it can be stored (JSON: FSM data, held_messages)."""
    return asdict(media)


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
) -> Attachment | None:
    """Stream the file into the object store and attach it; None when it is over `limit`.
    `ref` is the file itself or what media_ref kept of it (JSON in FSM data, held_messages)."""
    media = ref if isinstance(ref, MediaFile) else MediaFile(**ref)
    if media.size is not None and media.size > limit:
        return None
    async with temporary_directory("supportdesk-file-") as tmp:
        path = tmp / "download"
        if await download_to(bot, media.file_id, path, limit) is None:
            return None
        key = f"attachments/{ticket_id}/{message_id}/{media.unique_id}{suffix}"
        put = await object_store.put(key, path, content_type=media.media_type)
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
