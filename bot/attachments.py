"""Storing a Telegram file as a ticket attachment after the fact: for /new (files collected
before the ticket exists) and for a held photo/document once its ticket is chosen."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Any

from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncSession

from bot.media import MediaFile, download_to
from bot.middlewares import RollbackHook
from storage.clock import Clock
from storage.models import Attachment
from storage.objectstore import ObjectStore
from storage.tempdirs import temporary_directory


def media_ref(media: MediaFile) -> dict[str, Any]:
    """What we keep of a file until it can be stored (JSON: FSM data, held_messages)."""
    return asdict(media)


async def store_telegram_file(
    ref: dict[str, Any],
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
    """Stream the file into the object store and attach it; None when it is over `limit`."""
    if ref["size"] is not None and ref["size"] > limit:
        return None
    async with temporary_directory("supportdesk-file-") as tmp:
        path = tmp / "download"
        if await download_to(bot, ref["file_id"], path, limit) is None:
            return None
        key = f"attachments/{ticket_id}/{message_id}/{ref['unique_id']}{suffix}"
        put = await object_store.put(key, path, content_type=ref["media_type"])
    # From here a failed transaction must not leave the object behind.
    on_rollback.append(partial(object_store.delete, put.key, version_id=put.version_id))
    attachment = Attachment(
        ticket_id=ticket_id,
        message_id=message_id,
        object_key=put.key,
        version_id=put.version_id,
        filename=str(ref["filename"])[:255],
        media_type=str(ref["media_type"])[:127],
        size=put.size,
        sha256=put.sha256,
        created_at=clock.now(),
    )
    session.add(attachment)
    await session.flush()
    return attachment
