"""The bot through the real dispatcher: real Update objects in, a recording Bot API session
at the edge, the real database underneath."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.attachments import format_limit
from bot.callbacks import PickTicket
from bot.dispatcher import create_bot
from bot.texts import FiledNoticeText, create_i18n
from bot.tickets import CloseTicket, SetLanguage
from bot.unfiled import HeldFileFetcher
from storage.config import Settings
from storage.models import (
    Attachment,
    ContactPerson,
    DeliveryState,
    MessageDirection,
    PendingObject,
    ReplyChunk,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketMessage,
    TicketStatus,
    UnfiledMessage,
)
from storage.objectstore.local import LocalObjectStore
from storage.services.audit import Actor
from storage.services.tickets import TicketService
from storage.services.unfiled import FETCH_RETRY_FOR, file_waiting_each
from tests import bot_desk
from tests.bot_desk import Desk, open_desk
from tests.telegram_fake import (
    bot_message,
    callback_update,
    message_update,
)
from tests.unfiled_helpers import assert_filed_on_recent, two_tickets_and_a_waiting_message

pytestmark = pytest.mark.storage

START = bot_desk.START
USER = bot_desk.USER
OTHER = bot_desk.OTHER


@pytest.fixture
async def desk(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path, settings: Settings
) -> AsyncIterator[Desk]:
    async with open_desk(session_factory, tmp_path, settings) as opened:
        yield opened


async def test_first_message_opens_ticket_and_creates_unverified_contact(desk: Desk) -> None:
    await desk.feed(message_update(USER, "Mijn internet ligt eruit", language="nl"))
    [ticket] = await desk.tickets()
    assert ticket.channel.value == "telegram"
    assert ticket.reference and ticket.reference.startswith("T-2026-")
    assert await desk.texts(ticket.id) == ["Mijn internet ligt eruit"]
    contact = await desk.contact()
    assert contact is not None and contact.organisation_id is None and contact.language == "nl"
    assert contact.telegram_chat_id == USER
    [answer] = desk.api.sent_texts()
    assert ticket.reference in answer and "aangemaakt" in answer


async def test_english_user_gets_english_answer(desk: Desk) -> None:
    await desk.feed(message_update(USER, "My VoIP line is down", language="en-GB"))
    [ticket] = await desk.tickets()
    [answer] = desk.api.sent_texts()
    assert ticket.reference in answer and "has been created" in answer
    contact = await desk.contact()
    assert contact is not None and contact.language == "en"


async def test_second_message_appended_to_the_open_ticket(desk: Desk) -> None:
    await desk.feed(message_update(USER, "eerste"))
    await desk.feed(message_update(USER, "tweede"))
    [ticket] = await desk.tickets()
    assert await desk.texts(ticket.id) == ["eerste", "tweede"]
    assert len(desk.api.sent_texts()) == 1  # no confirmation spam on a single open ticket
    async with desk.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(ContactPerson)) == 1


async def _two_open_tickets(desk: Desk) -> tuple[Ticket, Ticket]:
    await desk.feed(message_update(USER, "probleem een"))
    async with desk.sessionmaker() as s:
        contact = await s.scalar(
            select(ContactPerson).where(ContactPerson.telegram_user_id == USER)
        )
        assert contact is not None
        desk.clock.current = START.replace(minute=5)
        await TicketService(desk.clock).open_ticket(
            s,
            actor=Actor.system(),
            channel=TicketChannel.TELEGRAM,
            text="probleem twee",
            contact=contact,
        )
        await s.commit()
    first, second = await desk.tickets()
    desk.api.requests.clear()
    return first, second


async def test_several_open_reply_to_picks_the_ticket(desk: Desk) -> None:
    first, second = await _two_open_tickets(desk)
    reply_to = bot_message(USER, f"Uw ticket {first.reference} is aangemaakt.")
    await desk.feed(message_update(USER, "aanvulling", reply_to=reply_to))
    assert await desk.texts(first.id) == ["probleem een", "aanvulling"]
    assert await desk.texts(second.id) == ["probleem twee"]
    [answer] = desk.api.sent_texts()
    assert first.reference in answer


async def _held(desk: Desk) -> list[UnfiledMessage]:
    async with desk.sessionmaker() as s:
        return list(await s.scalars(select(UnfiledMessage).order_by(UnfiledMessage.id)))


async def test_several_open_without_reply_keeps_the_message_and_asks(desk: Desk) -> None:
    first, second = await _two_open_tickets(desk)
    await desk.feed(message_update(USER, "welk ticket?", language="en"))
    assert await desk.texts(first.id) == ["probleem een"]
    assert await desk.texts(second.id) == ["probleem twee"]
    [held] = await _held(desk)
    assert held.text == "welk ticket?"
    [question] = desk.api.calls("sendMessage")
    assert question.text == "U heeft meerdere open tickets. Over welk ticket gaat dit bericht?"  # type: ignore[attr-defined]
    buttons = [row[0] for row in question.reply_markup.inline_keyboard]  # type: ignore[attr-defined]
    assert [b.callback_data for b in buttons] == [
        PickTicket(held_id=held.id, ticket_id=second.id).pack(),
        PickTicket(held_id=held.id, ticket_id=first.id).pack(),
        PickTicket(held_id=held.id, ticket_id=0).pack(),
    ]
    assert buttons[-1].text == "Een nieuw ticket"

    await desk.feed(callback_update(USER, buttons[1].callback_data))
    assert await desk.texts(first.id) == ["probleem een", "welk ticket?"]
    assert await desk.texts(second.id) == ["probleem twee"]
    assert await _held(desk) == []
    assert desk.api.sent_texts()[-1] == f"Toegevoegd aan ticket {first.reference}."
    # pressing again: the message is filed already, nothing is added twice
    await desk.feed(callback_update(USER, buttons[0].callback_data))
    assert desk.api.calls("answerCallbackQuery")[-1].text == "Dit bericht is al verwerkt."  # type: ignore[attr-defined]
    assert await desk.texts(second.id) == ["probleem twee"]


async def test_held_message_can_open_a_new_ticket(desk: Desk) -> None:
    first, second = await _two_open_tickets(desk)
    await desk.feed(message_update(USER, "iets heel anders"))
    [held] = await _held(desk)
    await desk.feed(callback_update(USER, PickTicket(held_id=held.id, ticket_id=0).pack()))
    *_, third = await desk.tickets()
    assert third.id not in (first.id, second.id)
    assert await desk.texts(third.id) == ["iets heel anders"]
    assert third.reference in desk.api.sent_texts()[-1]
    assert await _held(desk) == []


async def test_pick_of_a_ticket_closed_meanwhile_opens_a_new_one(desk: Desk) -> None:
    first, second = await _two_open_tickets(desk)
    await desk.feed(message_update(USER, "later bericht"))
    [held] = await _held(desk)
    await desk.feed(callback_update(USER, CloseTicket(ticket_id=first.id).pack()))
    await desk.feed(callback_update(USER, PickTicket(held_id=held.id, ticket_id=first.id).pack()))
    assert await desk.texts(first.id) == ["probleem een"]
    *_, newest = await desk.tickets()
    assert newest.id not in (first.id, second.id)
    assert await desk.texts(newest.id) == ["later bericht"]


async def test_pick_of_a_ticket_that_is_not_yours_is_refused(desk: Desk) -> None:
    await desk.feed(message_update(OTHER, "van iemand anders"))
    [theirs] = await desk.tickets(OTHER)
    _first, _second = await _two_open_tickets(desk)
    await desk.feed(message_update(USER, "bewaard"))
    [held] = await _held(desk)
    await desk.feed(callback_update(USER, PickTicket(held_id=held.id, ticket_id=theirs.id).pack()))
    assert desk.api.calls("answerCallbackQuery")[-1].text == "Dit ticket hoort niet bij u."  # type: ignore[attr-defined]
    assert await desk.texts(theirs.id) == ["van iemand anders"]
    assert [h.id for h in await _held(desk)] == [held.id]  # still waiting for a valid choice
    # someone else cannot file (or see) this user's held message either
    await desk.feed(callback_update(OTHER, PickTicket(held_id=held.id, ticket_id=theirs.id).pack()))
    assert desk.api.calls("answerCallbackQuery")[-1].text == "Dit bericht is al verwerkt."  # type: ignore[attr-defined]
    assert await desk.texts(theirs.id) == ["van iemand anders"]


async def test_sticker_with_several_open_tickets_waits_for_the_choice(desk: Desk) -> None:
    first, second = await _two_open_tickets(desk)
    sticker = {"file_id": "s", "file_unique_id": "su", "type": "regular", "width": 512,
               "height": 512, "is_animated": False, "is_video": False, "emoji": "👍"}  # fmt: skip
    await desk.feed(message_update(USER, sticker=sticker))
    [held] = await _held(desk)
    assert held.text == "[sticker 👍]"
    await desk.feed(callback_update(USER, PickTicket(held_id=held.id, ticket_id=first.id).pack()))
    assert await desk.texts(first.id) == ["probleem een", "[sticker 👍]"]
    assert await desk.texts(second.id) == ["probleem twee"]


async def test_photo_with_several_open_tickets_is_stored_once_picked(desk: Desk) -> None:
    first, second = await _two_open_tickets(desk)
    desk.api.files["ph"] = b"\xff\xd8router"
    photo = [{"file_id": "ph", "file_unique_id": "u", "width": 800, "height": 600, "file_size": 8}]
    await desk.feed(message_update(USER, photo=photo, caption="lampjes"))
    [held] = await _held(desk)
    assert held.text == "[photo] lampjes" and held.media is not None
    assert desk.api.calls("getFile") == []  # nothing downloaded before the choice
    await desk.feed(callback_update(USER, PickTicket(held_id=held.id, ticket_id=second.id).pack()))
    assert await desk.texts(second.id) == ["probleem twee", "[photo] lampjes"]
    async with desk.sessionmaker() as s:
        [attachment] = list(await s.scalars(select(Attachment)))
    assert attachment.ticket_id == second.id and attachment.size == 8
    assert await desk.texts(first.id) == ["probleem een"]


async def test_reply_to_an_agent_reply_picks_its_ticket(desk: Desk) -> None:
    first, second = await _two_open_tickets(desk)
    delivered = bot_message(USER, "Heeft u de router al herstart?")
    async with desk.sessionmaker() as s:
        reply = TicketMessage(
            ticket_id=first.id,
            direction=MessageDirection.OUT,
            text="Heeft u de router al herstart?",
            telegram_chat_id=USER,
            telegram_message_id=delivered["message_id"],
            delivery_state=DeliveryState.SENT,
            created_at=START,
        )
        s.add(reply)
        await s.commit()
    await desk.feed(message_update(USER, "ja, helpt niet", reply_to=delivered))
    assert await desk.texts(first.id) == [
        "probleem een",
        "Heeft u de router al herstart?",
        "ja, helpt niet",
    ]
    assert await desk.texts(second.id) == ["probleem twee"]


async def test_reply_to_a_message_of_someone_else_is_not_a_pick(desk: Desk) -> None:
    first, second = await _two_open_tickets(desk)
    forged = bot_message(USER, f"{first.reference}")
    forged["from"] = {"id": 777, "is_bot": False, "first_name": "X"}
    await desk.feed(message_update(USER, "hallo", reply_to=forged))
    assert await desk.texts(first.id) == ["probleem een"]
    assert await desk.texts(second.id) == ["probleem twee"]
    [held] = await _held(desk)
    assert held.text == "hallo"


async def test_after_close_next_message_opens_a_new_ticket(desk: Desk) -> None:
    await desk.feed(message_update(USER, "eerste"))
    [ticket] = await desk.tickets()
    await desk.feed(callback_update(USER, CloseTicket(ticket_id=ticket.id).pack()))
    [closed] = await desk.tickets()
    assert closed.status == TicketStatus.CLOSED
    assert any(ticket.reference in text and "gesloten" in text for text in desk.api.sent_texts())
    assert len(desk.api.calls("answerCallbackQuery")) == 1
    await desk.feed(message_update(USER, "nieuw probleem"))
    old, new = await desk.tickets()
    assert old.id == ticket.id and old.status == TicketStatus.CLOSED
    assert await desk.texts(new.id) == ["nieuw probleem"]


async def test_callback_for_someone_elses_ticket_is_refused(desk: Desk) -> None:
    await desk.feed(message_update(OTHER, "van iemand anders"))
    [theirs] = await desk.tickets(OTHER)
    desk.api.requests.clear()
    await desk.feed(callback_update(USER, CloseTicket(ticket_id=theirs.id).pack(), language="en"))
    [still] = await desk.tickets(OTHER)
    assert still.status != TicketStatus.CLOSED
    [refusal] = desk.api.calls("answerCallbackQuery")
    assert refusal.text == "This ticket is not yours." and refusal.show_alert  # type: ignore[attr-defined]
    assert desk.api.sent_texts() == []
    # the stored language counts, not the client's language_code; unknown ids are refused too
    await desk.feed(callback_update(USER, CloseTicket(ticket_id=999_999).pack(), language="nl"))
    assert desk.api.calls("answerCallbackQuery")[-1].text == "This ticket is not yours."  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content", "note"),
    [
        ({"sticker": {"file_id": "s", "file_unique_id": "su", "type": "regular", "width": 512,
                      "height": 512, "is_animated": False, "is_video": False, "emoji": "😀"}},
         "[sticker 😀]"),
        ({"location": {"latitude": 52.37, "longitude": 4.89}}, "[location: 52.37000, 4.89000]"),
        ({"contact": {"phone_number": "+31201234567", "first_name": "Jan"}},
         "[contact: Jan, +31201234567]"),
        # Telegram's own notation has no "+": the note keeps the number in E.164.
        ({"contact": {"phone_number": "31 6 1234 5678", "first_name": "Jan"}},
         "[contact: Jan, +31612345678]"),
        ({"contact": {"phone_number": "1234", "first_name": "Jan"}}, "[contact: Jan, 1234]"),
        ({"poll": {"id": "p", "question": "Werkt het?", "options": [
            {"text": "ja", "voter_count": 0, "persistent_id": "a"},
            {"text": "nee", "voter_count": 0, "persistent_id": "b"}],
            "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
            "type": "regular", "allows_multiple_answers": False,
            "allows_revoting": False, "members_only": False}},
         "[poll: Werkt het? (ja / nee)]"),
    ],
)  # fmt: skip
async def test_non_text_messages_are_stored_as_notes(desk: Desk, content, note) -> None:  # type: ignore[no-untyped-def]
    await desk.feed(message_update(USER, **content))
    [ticket] = await desk.tickets()
    assert await desk.texts(ticket.id) == [note]


async def test_long_text_is_stored_whole(desk: Desk) -> None:
    text = "x" * 10_000
    await desk.feed(message_update(USER, text))
    [ticket] = await desk.tickets()
    assert await desk.texts(ticket.id) == [text]


async def test_unknown_command_answers_help_hint(desk: Desk) -> None:
    await desk.feed(message_update(USER, "/frobnicate", language="en"))
    assert desk.api.sent_texts() == ["Unknown command. See /help."]
    assert await desk.tickets() == []


async def test_start_greets_with_privacy_notice_in_both_languages(desk: Desk) -> None:
    await desk.feed(message_update(USER, "/start", language="nl"))
    await desk.feed(message_update(OTHER, "/start", language="en"))
    nl, en = desk.api.sent_texts()
    assert "privacyverklaring" in nl and "privacy statement" in en
    for call in desk.api.calls("sendMessage"):  # the language choice comes with the greeting
        buttons = [b for row in call.reply_markup.inline_keyboard for b in row]  # type: ignore[attr-defined]
        assert [SetLanguage.unpack(b.callback_data).language for b in buttons] == ["nl", "en"]
    assert await desk.tickets() == []


async def test_start_links_the_privacy_statement_when_configured(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path, settings: Settings
) -> None:
    settings = settings.model_copy(update={"privacy_statement_url": "https://example.nl/privacy"})
    async with open_desk(session_factory, tmp_path, settings) as desk:
        await desk.feed(message_update(USER, "/start", language="nl"))
        [greeting] = desk.api.sent_texts()
    assert "privacyverklaring" in greeting and "https://example.nl/privacy" in greeting


async def test_start_with_code_gives_neutral_refusal(desk: Desk) -> None:
    await desk.feed(message_update(USER, "/start ABC123", language="en"))
    _greeting, refusal = desk.api.sent_texts()
    assert refusal == "This code is invalid or has expired. Ask our support desk for a new code."
    contact = await desk.contact()
    assert contact is not None and contact.organisation_id is None


async def test_help_and_tickets_list(desk: Desk) -> None:
    await desk.feed(message_update(USER, "/tickets", language="en"))
    assert desk.api.sent_texts() == ["You have no open tickets. Send a message to open one."]
    await desk.feed(message_update(USER, "Router kapot"))
    [ticket] = await desk.tickets()
    desk.api.requests.clear()
    await desk.feed(message_update(USER, "/tickets"))
    await desk.feed(message_update(USER, "/help"))
    listing, help_text = desk.api.sent_texts()
    assert ticket.reference in listing and "new" in listing
    assert "Mar 2, 2026, 11:00\u202fAM" in listing
    assert "Router kapot" in listing
    assert all(command in help_text for command in ("/close", "/privacy", "/cancel"))
    assert await desk.texts(ticket.id) == ["Router kapot"]


async def test_a_command_in_a_photo_caption_is_still_a_command(desk: Desk) -> None:
    """The command routers let through what could be a command, captions included."""
    photo = [{"file_id": "ph", "file_unique_id": "u", "width": 800, "height": 600, "file_size": 8}]
    await desk.feed(message_update(USER, photo=photo, caption="/help", language="en"))
    [help_text] = desk.api.sent_texts()
    assert all(command in help_text for command in ("/close", "/privacy", "/cancel"))
    assert await desk.tickets() == []


async def test_close_offers_buttons_for_open_tickets(desk: Desk) -> None:
    await desk.feed(message_update(USER, "iets"))
    [ticket] = await desk.tickets()
    await desk.feed(message_update(USER, "/close"))
    request = desk.api.calls("sendMessage")[-1]
    [[button]] = request.reply_markup.inline_keyboard  # type: ignore[attr-defined]
    assert button.callback_data == CloseTicket(ticket_id=ticket.id).pack()


async def test_language_switch_is_stored_on_contact(desk: Desk) -> None:
    await desk.feed(message_update(USER, "/language"))
    await desk.feed(callback_update(USER, SetLanguage(language="en").pack()))
    contact = await desk.contact()
    assert contact is not None and contact.language == "en"
    assert desk.api.sent_texts()[-1] == "The language is now English."
    await desk.feed(message_update(USER, "hello"))
    assert "has been created" in desk.api.sent_texts()[-1]


async def test_handler_failure_rolls_back_and_apologises(desk: Desk, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database went away")

    monkeypatch.setattr(TicketService, "open_tickets_of", broken)
    await desk.feed(message_update(USER, "hallo"))
    assert desk.api.sent_texts() == [
        "Er ging iets mis bij het verwerken van uw bericht. Probeert u het opnieuw?"
    ]
    assert await desk.contact() is None  # the update's transaction was rolled back


def test_create_bot_uses_configured_api_base(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        telegram_token="123:abc",  # type: ignore[arg-type]
        telegram_api_base="http://127.0.0.1:8081",
    )
    bot = create_bot(settings)
    assert bot.session.api.api_url("123:abc", "getMe") == "http://127.0.0.1:8081/bot123:abc/getMe"
    assert bot.id == 123


async def test_photo_is_stored_as_attachment(desk: Desk, tmp_path: Path) -> None:
    desk.api.files["ph-big"] = b"\xff\xd8jpeg-bytes"
    photo = [
        {"file_id": "ph-small", "file_unique_id": "s", "width": 90, "height": 90},
        {"file_id": "ph-big", "file_unique_id": "b", "width": 800, "height": 800, "file_size": 12},
    ]
    await desk.feed(message_update(USER, photo=photo, caption="kapotte router"))
    [ticket] = await desk.tickets()
    assert await desk.texts(ticket.id) == ["[photo] kapotte router"]
    async with desk.sessionmaker() as s:
        [attachment] = list(await s.scalars(select(Attachment)))
    assert attachment.ticket_id == ticket.id and attachment.size == 12
    assert attachment.media_type == "image/jpeg"
    store = LocalObjectStore(tmp_path / "objects")
    stream = await store.get(attachment.object_key)
    assert b"".join([chunk async for chunk in stream]) == b"\xff\xd8jpeg-bytes"
    assert len(desk.api.calls("getFile")) == 1 and len(desk.api.downloads) == 1


async def test_oversized_document_gets_note_and_polite_refusal(desk: Desk) -> None:
    document = {
        "file_id": "doc",
        "file_unique_id": "d",
        "file_name": "scan.pdf",
        "mime_type": "application/pdf",
        "file_size": 21 * 1024 * 1024,
    }
    await desk.feed(message_update(USER, document=document, language="en"))
    [ticket] = await desk.tickets()
    [note] = await desk.texts(ticket.id)
    assert note.startswith("[document scan.pdf] [not stored:")
    _created, refusal = desk.api.sent_texts()
    assert "larger than 20 MB" in refusal and ticket.reference in refusal
    assert desk.api.calls("getFile") == []
    async with desk.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Attachment)) == 0


async def test_group_messages_are_ignored(desk: Desk) -> None:
    update = message_update(USER, "hallo allemaal")
    group = update.message.model_copy(  # type: ignore[union-attr]
        update={"chat": update.message.chat.model_copy(update={"id": -100, "type": "group"})}  # type: ignore[union-attr]
    )
    await desk.feed(update.model_copy(update={"message": group}))
    assert await desk.tickets() == []
    assert desk.api.requests == []
    assert await desk.contact() is None


# Files Telegram will not hand over, size texts, refused downloads.


def _document(file_id: str, name: str, size: int | None = None) -> dict[str, object]:
    document: dict[str, object] = {
        "file_id": file_id,
        "file_unique_id": f"u-{file_id}",
        "file_name": name,
        "mime_type": "application/octet-stream",
    }
    if size is not None:
        document["file_size"] = size
    return document


async def _attachment_count(desk: Desk) -> int:
    async with desk.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(Attachment)) or 0)


async def test_file_telegram_says_is_too_big_is_filed_with_a_note(desk: Desk) -> None:
    """No file_size in the update, getFile answers 400 (Telegram's 20 MB download limit):
    the message is filed with a note and the customer told, not retried for ever."""
    desk.api.fail_next("getFile", 400, "Bad Request: file is too big")
    await desk.feed(message_update(USER, document=_document("iso", "backup.iso"), language="en"))
    [ticket] = await desk.tickets()
    assert await desk.texts(ticket.id) == [
        "[document backup.iso] [not stored: Telegram refused the download "
        "(Bad Request: file is too big)]"
    ]
    created, refusal = desk.api.sent_texts()
    assert "has been created" in created
    assert refusal.startswith("Telegram did not let us fetch this file") and (
        ticket.reference in refusal
    )
    assert await _attachment_count(desk) == 0 and desk.api.downloads == []
    await desk.feed(message_update(USER, "did you get it?", language="en"))  # not held back
    assert (await desk.texts(ticket.id))[-1] == "did you get it?"


async def test_held_file_with_an_invalid_file_id_is_filed_with_a_note_once_picked(
    desk: Desk,
) -> None:
    _first, second = await _two_open_tickets(desk)
    await desk.feed(message_update(USER, document=_document("gone", "factuur.pdf", 10)))
    [held] = await _held(desk)
    desk.api.fail_next("getFile", 400, "Bad Request: invalid file_id")
    await desk.feed(callback_update(USER, PickTicket(held_id=held.id, ticket_id=second.id).pack()))
    assert await desk.texts(second.id) == [
        "probleem twee",
        "[document factuur.pdf] [not stored: Telegram refused the download "
        "(Bad Request: invalid file_id)]",
    ]
    added, refusal = desk.api.sent_texts()[-2:]
    assert second.reference in added
    assert refusal.startswith("Telegram liet ons dit bestand niet ophalen")
    assert second.reference in refusal
    assert await _attachment_count(desk) == 0 and await _held(desk) == []


async def test_new_flow_file_refused_by_telegram_is_noted_on_the_ticket(desk: Desk) -> None:
    await desk.feed(message_update(USER, "/new", language="en"))
    await desk.feed(callback_update(USER, desk.new_step("category", TicketCategory.VOIP)))
    await desk.feed(message_update(USER, "Geen kiestoon", language="en"))
    await desk.feed(message_update(USER, document=_document("old", "log.txt", 10), language="en"))
    await desk.feed(callback_update(USER, desk.new_step("continue")))
    desk.api.fail_next("getFile", 400, "Bad Request: invalid file_id")
    await desk.feed(callback_update(USER, desk.new_step("send")))
    [ticket] = await desk.tickets()
    assert await desk.texts(ticket.id) == [
        "Geen kiestoon\n[log.txt] [not stored: Telegram refused the download "
        "(Bad Request: invalid file_id)]"
    ]
    assert any(
        text.startswith("Telegram did not let us fetch") and ticket.reference in text
        for text in desk.api.sent_texts()
    )
    assert await _attachment_count(desk) == 0


async def test_server_error_on_getfile_is_not_a_refusal(desk: Desk) -> None:
    """A 5xx may pass: the update fails (rolled back, so the inbox retries it), nothing is
    filed with a "not stored" note."""
    desk.api.fail_next("getFile", 500, "Internal Server Error")
    await desk.feed(message_update(USER, document=_document("doc", "a.pdf", 10)))
    assert await desk.tickets() == []
    assert desk.api.sent_texts() == [
        "Er ging iets mis bij het verwerken van uw bericht. Probeert u het opnieuw?"
    ]


@pytest.mark.parametrize(
    ("limit", "language", "text"),
    [
        (20 * 1024 * 1024, "en", "20 MB"),
        (1_000_000, "en", "1 MB"),
        (3 * 1024 * 1024 // 2, "en", "1.5 MB"),
        (3 * 1024 * 1024 // 2, "nl", "1,5 MB"),
        (500_000, "en", "500 KB"),
        (4096, "en", "4 KB"),
        (999_999, "en", "999.9 KB"),
        (512, "en", "512 bytes"),
    ],
)
def test_format_limit_reads_well_and_never_overstates(limit: int, language: str, text: str) -> None:
    assert format_limit(limit, language) == text


@pytest.fixture
async def small_desk(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path, settings: Settings
) -> AsyncIterator[Desk]:
    limited = settings.model_copy(update={"bot_media_max_bytes": 1_000_000})
    async with open_desk(session_factory, tmp_path, limited) as opened:
        yield opened


async def test_refusal_names_a_decimal_limit_correctly(small_desk: Desk) -> None:
    desk = small_desk
    await desk.feed(message_update(USER, document=_document("d", "big.pdf", 1_500_000)))
    _created, refusal = desk.api.sent_texts()
    assert "groter dan 1 MB" in refusal  # was "0 MB"
    [ticket] = await desk.tickets()
    assert await desk.texts(ticket.id) == [
        "[document big.pdf] [not stored: 1500000 bytes, over the 1 MB limit]"
    ]


async def test_held_file_known_too_large_is_refused_when_its_ticket_is_picked(
    small_desk: Desk,
) -> None:
    desk = small_desk
    first, _second = await _two_open_tickets(desk)
    await desk.feed(message_update(USER, document=_document("d", "big.pdf", 1_500_000)))
    [held] = await _held(desk)
    await desk.feed(callback_update(USER, PickTicket(held_id=held.id, ticket_id=first.id).pack()))
    assert await desk.texts(first.id) == [
        "probleem een",
        "[document big.pdf] [not stored: 1500000 bytes, over the 1 MB limit]",
    ]
    added, refusal = desk.api.sent_texts()[-2:]
    assert added == f"Toegevoegd aan ticket {first.reference}."
    assert "groter dan 1 MB" in refusal and first.reference in refusal
    assert desk.api.calls("getFile") == []  # never downloaded
    assert await _attachment_count(desk) == 0


async def test_file_larger_than_it_said_is_noted_as_not_stored(small_desk: Desk) -> None:
    desk = small_desk
    desk.api.files["liar"] = b"x" * 2_000_000  # getFile reports the real size
    await desk.feed(message_update(USER, document=_document("liar", "liar.bin", 1000)))
    [ticket] = await desk.tickets()
    assert await desk.texts(ticket.id) == ["[document liar.bin] [not stored: over the 1 MB limit]"]
    assert "groter dan 1 MB" in desk.api.sent_texts()[-1]
    assert await _attachment_count(desk) == 0


async def test_reply_to_a_later_chunk_of_a_long_agent_reply_picks_its_ticket(desk: Desk) -> None:
    first, second = await _two_open_tickets(desk)
    chunks = [bot_message(USER, f"deel {n}") for n in range(3)]
    async with desk.sessionmaker() as s:
        reply = TicketMessage(
            ticket_id=first.id,
            direction=MessageDirection.OUT,
            text="lang antwoord",
            telegram_chat_id=USER,
            telegram_message_id=chunks[0]["message_id"],
            delivery_state=DeliveryState.SENT,
            created_at=START,
        )
        s.add(reply)
        await s.flush()
        s.add_all(
            ReplyChunk(message_id=reply.id, position=n, telegram_message_id=c["message_id"])
            for n, c in enumerate(chunks)
        )
        await s.commit()
    await desk.feed(message_update(USER, "over stap 2", reply_to=chunks[1]))
    assert await desk.texts(first.id) == ["probleem een", "lang antwoord", "over stap 2"]
    assert await desk.texts(second.id) == ["probleem twee"]
    assert await _held(desk) == []
    [answer] = desk.api.sent_texts()
    assert first.reference in answer


async def _file_due(desk: Desk, files: HeldFileFetcher) -> int:
    """The unfiled loop's round, 15 minutes after the message (SUPPORTDESK_UNFILED_AFTER)."""
    return await file_waiting_each(
        desk.sessionmaker,
        TicketService(desk.clock),
        FiledNoticeText(create_i18n()),
        files,
        cutoff=desk.clock.now() - timedelta(minutes=15),
    )


async def test_a_held_photo_filed_without_a_choice_brings_its_file(
    desk: Desk, tmp_path: Path, settings: Settings
) -> None:
    """Filed on the most recent open ticket when the wait is over: the photo is fetched from
    Telegram then, as a pick would have; while Telegram cannot be asked the message waits
    for a later round instead of going without its file."""
    first, second = await _two_open_tickets(desk)
    desk.api.files["ph"] = b"\xff\xd8router"
    photo = [{"file_id": "ph", "file_unique_id": "u", "width": 800, "height": 600, "file_size": 8}]
    await desk.feed(message_update(USER, photo=photo, caption="lampjes"))
    [held] = await _held(desk)
    files = HeldFileFetcher(
        desk.bot,
        LocalObjectStore(tmp_path / "held"),
        desk.clock,
        create_i18n(),
        settings.bot_media_max_bytes,
    )
    desk.clock.advance(timedelta(minutes=16))
    desk.api.fail_next("getFile", 502, "Bad Gateway")
    assert await _file_due(desk, files) == 0  # Telegram away: the round is tried again
    assert [h.id for h in await _held(desk)] == [held.id]
    assert await desk.texts(second.id) == ["probleem twee"]

    assert await _file_due(desk, files) == 1
    assert await _held(desk) == []
    texts = await desk.texts(second.id)  # the most recent open ticket
    assert texts[:2] == ["probleem twee", "[photo] lampjes"]
    assert texts[2].startswith("Automatisch toegevoegd") and "niet opgehaald" not in texts[2]
    async with desk.sessionmaker() as s:
        [attachment] = list(await s.scalars(select(Attachment)))
        message = await s.get(TicketMessage, attachment.message_id)
    assert attachment.ticket_id == second.id and attachment.size == 8
    assert message is not None and message.text == "[photo] lampjes"
    assert await desk.texts(first.id) == ["probleem een"]


async def test_a_held_photo_telegram_keeps_refusing_is_filed_without_it_after_an_hour(
    desk: Desk, tmp_path: Path, settings: Settings
) -> None:
    _, second = await _two_open_tickets(desk)
    photo = [{"file_id": "ph", "file_unique_id": "u", "width": 800, "height": 600, "file_size": 8}]
    await desk.feed(message_update(USER, photo=photo, caption="lampjes"))
    files = HeldFileFetcher(
        desk.bot, LocalObjectStore(tmp_path / "held"), desk.clock, create_i18n(),
        settings.bot_media_max_bytes,
    )  # fmt: skip
    desk.clock.advance(timedelta(minutes=15) + FETCH_RETRY_FOR - timedelta(minutes=1))
    desk.api.fail_next("getFile", 502, "Bad Gateway")
    assert await _file_due(desk, files) == 0
    desk.clock.advance(timedelta(minutes=2))
    desk.api.fail_next("getFile", 502, "Bad Gateway")
    assert await _file_due(desk, files) == 1
    texts = await desk.texts(second.id)
    assert texts[1] == "[photo] lampjes"
    assert "bestand dat erbij hoorde is niet opgehaald" in texts[2]
    async with desk.sessionmaker() as s:
        assert list(await s.scalars(select(Attachment))) == []


async def _no_transaction_open_elsewhere(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """SQLite: another writer takes the write lock at once; PostgreSQL: no other session
    of this database sits in a transaction."""
    engine = sessions.kw["bind"]
    if engine.dialect.name == "sqlite":
        return await asyncio.to_thread(_sqlite_writer_commits, engine.url.database)
    async with sessions() as s:
        busy = await s.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        )
        await s.rollback()
    return busy == 0


def _sqlite_writer_commits(path: str) -> bool:
    connection = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("COMMIT")
        return True
    except sqlite3.OperationalError:  # database is locked
        return False
    finally:
        connection.close()


async def test_a_held_file_telegram_cannot_hand_over_holds_back_only_its_own_message(
    desk: Desk, tmp_path: Path, settings: Settings
) -> None:
    """Two customers' messages are due: the first one's photo Telegram will not hand over
    now (5xx), the second is text only. The second is filed at once, the first waits for
    a later round; no transaction is open while a file is downloaded."""
    _, second = await _two_open_tickets(desk)
    photo = [{"file_id": "ph", "file_unique_id": "u", "width": 800, "height": 600, "file_size": 8}]
    await desk.feed(message_update(USER, photo=photo, caption="lampjes"))
    async with desk.sessionmaker() as s:
        other = await two_tickets_and_a_waiting_message(s, desk.clock, START.replace(minute=20))
    files = HeldFileFetcher(
        desk.bot, LocalObjectStore(tmp_path / "held"), desk.clock, create_i18n(),
        settings.bot_media_max_bytes,
    )  # fmt: skip
    desk.clock.set(START.replace(minute=40))  # both past the 15 minutes' wait
    desk.api.fail_next("getFile", 502, "Bad Gateway")
    assert await _file_due(desk, files) == 1
    async with desk.sessionmaker() as s:
        await assert_filed_on_recent(s, other)
    [waiting] = await _held(desk)  # the photo's message waits for a later round
    assert waiting.contact_id != other.contact_id and waiting.media is not None

    free_while_downloading: list[bool] = []

    async def look() -> None:
        free_while_downloading.append(await _no_transaction_open_elsewhere(desk.sessionmaker))

    desk.api.files["ph"] = b"\xff\xd8router"
    desk.api.on_download = look
    assert await _file_due(desk, files) == 1
    assert free_while_downloading == [True]
    assert await _held(desk) == []
    assert (await desk.texts(second.id))[1] == "[photo] lampjes"
    assert await _attachment_count(desk) == 1
    async with desk.sessionmaker() as s:
        assert list(await s.scalars(select(PendingObject))) == []  # settled by the filing


async def test_a_fetched_file_whose_message_went_meanwhile_is_removed_again(
    desk: Desk, tmp_path: Path, settings: Settings
) -> None:
    """The file is stored before its message is filed: when the message is no longer
    there to file (the customer picked a ticket meanwhile), the object goes again, and so
    does its pending record."""
    await _two_open_tickets(desk)
    photo = [{"file_id": "ph", "file_unique_id": "u", "width": 800, "height": 600, "file_size": 8}]
    await desk.feed(message_update(USER, photo=photo, caption="lampjes"))
    [held] = await _held(desk)
    store = LocalObjectStore(tmp_path / "held")
    files = HeldFileFetcher(
        desk.bot, store, desk.clock, create_i18n(), settings.bot_media_max_bytes
    )
    pending: list[str] = []

    async def picked_meanwhile() -> None:
        async with desk.sessionmaker() as s:
            pending.extend(await s.scalars(select(PendingObject.key)))
            await s.delete(await s.get(UnfiledMessage, held.id))
            await s.commit()

    desk.api.files["ph"] = b"\xff\xd8router"
    desk.api.on_download = picked_meanwhile
    desk.clock.advance(timedelta(minutes=16))
    assert await _file_due(desk, files) == 0
    [key] = pending  # recorded before the download
    assert not await store.exists(key)
    assert await _attachment_count(desk) == 0
    async with desk.sessionmaker() as s:
        assert list(await s.scalars(select(PendingObject))) == []
