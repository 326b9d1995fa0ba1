"""Non-text messages: stored on the ticket as a readable note, never dropped.

Photos, documents, voice notes and audio are downloaded from the Bot API and stored as
ticket attachments in the object store (size limit, default 20 MB = the Bot API download
limit; over it the ticket still gets the note and the customer a polite refusal).
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.attachments import (
    MediaFile,
    NotStored,
    attach_telegram_file,
    format_limit,
    not_stored_note,
    refusal_text,
)
from bot.filing import ask_ticket_if_ambiguous, file_customer_message, file_text
from bot.filters import Magic
from bot.middlewares import RollbackHook
from storage.clock import Clock
from storage.config import Settings
from storage.models import ContactPerson
from storage.objectstore import ObjectStore
from storage.phones import normalise_international
from storage.services.tickets import TicketService

MAX_MEDIA_BYTES = 20 * 1024 * 1024


def media_file(message: Message) -> MediaFile | None:
    """The downloadable file of a photo, document, voice note or audio message."""
    if message.photo:
        largest = message.photo[-1]
        return MediaFile(
            largest.file_id, largest.file_unique_id, largest.file_size, "photo.jpg", "image/jpeg"
        )
    for item, default_name, default_type in (
        (message.document, "document", "application/octet-stream"),
        (message.voice, "voice.ogg", "audio/ogg"),
        (message.audio, "audio", "audio/mpeg"),
    ):
        if item is not None:
            return MediaFile(
                item.file_id,
                item.file_unique_id,
                item.file_size,
                getattr(item, "file_name", None) or default_name,
                item.mime_type or default_type,
            )
    return None


def describe(message: Message) -> str:
    """A readable one-line note for any kind of message."""
    caption = f" {message.caption}" if message.caption else ""
    if message.sticker is not None:
        return f"[sticker {message.sticker.emoji or ''}]".replace(" ]", "]")
    if message.poll is not None:
        options = " / ".join(option.text for option in message.poll.options)
        return f"[poll: {message.poll.question} ({options})]"
    if message.venue is not None:
        venue = message.venue
        return (
            f"[location: {venue.title}, {venue.address} "
            f"({venue.location.latitude:.5f}, {venue.location.longitude:.5f})]"
        )
    if message.location is not None:
        loc = message.location
        return f"[location: {loc.latitude:.5f}, {loc.longitude:.5f}]"
    if message.contact is not None:
        c = message.contact
        name = " ".join(filter(None, [c.first_name, c.last_name]))
        # Telegram sends "31612345678" (no "+"): the note gives it in E.164 like every
        # number we keep, or as sent when it is no phone number.
        return f"[contact: {name}, {normalise_international(c.phone_number) or c.phone_number}]"
    if message.dice is not None:
        return f"[dice {message.dice.emoji} {message.dice.value}]"
    if message.photo:
        return f"[photo]{caption}"
    if message.document is not None:
        return f"[document {message.document.file_name or ''}]{caption}".replace(" ]", "]")
    if message.voice is not None:
        return f"[voice note {message.voice.duration}s]{caption}"
    if message.audio is not None:
        return f"[audio {message.audio.file_name or ''}]{caption}".replace(" ]", "]")
    if message.video is not None:
        return f"[video]{caption}"
    if message.video_note is not None:
        return "[video note]"
    if message.animation is not None:
        return f"[animation]{caption}"
    return f"[{message.content_type} message]{caption}"


def create_router(max_media_bytes: int = MAX_MEDIA_BYTES) -> Router:
    router = Router(name="media")

    @router.message(Magic(F.photo | F.document | F.voice | F.audio))
    async def media_message(
        message: Message,
        bot: Bot,
        session: AsyncSession,
        contact: ContactPerson,
        ticket_service: TicketService,
        object_store: ObjectStore,
        clock: Clock,
        on_rollback: list[RollbackHook],
        settings: Settings,
    ) -> None:
        media = media_file(message)
        assert media is not None
        too_large = media.size is not None and media.size > max_media_bytes
        note = describe(message)
        over = NotStored(f"{media.size} bytes, over the {format_limit(max_media_bytes)} limit")
        if too_large:
            note += " " + not_stored_note(over)
        # Several open tickets: keep the file reference until the customer picks;
        # a file already known to be too large keeps why, so the pick can tell the customer.
        held_ref = {"not_stored": over.reason, "limit": max_media_bytes} if too_large else None
        if await ask_ticket_if_ambiguous(
            message,
            note,
            held_ref or media,
            bot=bot,
            session=session,
            contact=contact,
            ticket_service=ticket_service,
        ):
            return
        ticket, stored = await file_customer_message(
            message,
            note,
            bot=bot,
            session=session,
            contact=contact,
            ticket_service=ticket_service,
            settings=settings,
        )
        if too_large:
            await message.answer(
                refusal_text(contact.language, over, max_media_bytes, ticket.reference)
            )
            return
        # Over the limit after all (the size was not known up front) or refused by Telegram:
        # the stored note says so and the customer hears why.
        refusal = await attach_telegram_file(
            media,
            ticket=ticket,
            stored=stored,
            language=contact.language,
            bot=bot,
            session=session,
            object_store=object_store,
            on_rollback=on_rollback,
            clock=clock,
            limit=max_media_bytes,
        )
        if refusal is not None:
            await message.answer(refusal)

    @router.message()
    async def other_message(
        message: Message,
        bot: Bot,
        session: AsyncSession,
        contact: ContactPerson,
        ticket_service: TicketService,
        settings: Settings,
    ) -> None:
        # A note holds no file, so it can wait for the customer's choice of ticket.
        await file_text(
            message,
            describe(message),
            bot=bot,
            session=session,
            contact=contact,
            ticket_service=ticket_service,
            settings=settings,
        )

    return router
