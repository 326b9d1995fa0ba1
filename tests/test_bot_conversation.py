"""The conversation through the real dispatcher: categories, the /new flow, office hours,
edits and odd input, in both languages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.callbacks import SetCategory
from bot.office_hours import dutch_public_holidays, next_opening
from bot.tickets import CloseTicket
from storage.config import Settings
from storage.models import Attachment, AuditEvent, MessageEdit, Ticket, TicketCategory
from tests.bot_desk import OTHER, USER, Desk, open_desk
from tests.telegram_fake import callback_update, message_update

pytestmark = pytest.mark.storage

KONINGSDAG = date(2026, 4, 27)


@pytest.fixture
async def desk(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path, database_url: str
) -> AsyncIterator[Desk]:
    settings = Settings(
        data_dir=tmp_path / "var", database_url=database_url, office_holidays=[KONINGSDAG]
    )
    async with open_desk(session_factory, tmp_path, settings) as opened:
        yield opened


async def test_auto_opened_ticket_offers_categories_and_keeps_the_text(desk: Desk) -> None:
    await desk.feed(message_update(USER, "Factuur klopt niet"))
    [ticket] = await desk.tickets()
    [opened] = desk.api.calls("sendMessage")
    assert opened.text.endswith("Waar gaat het over? Uw bericht blijft bewaard, wat u ook kiest.")  # type: ignore[attr-defined]
    buttons = [b for row in opened.reply_markup.inline_keyboard for b in row]  # type: ignore[attr-defined]
    assert [b.callback_data for b in buttons] == [
        SetCategory(ticket_id=ticket.id, category=c).pack() for c in TicketCategory
    ]
    assert buttons[4].text == "Facturen en betalingen"
    await desk.feed(callback_update(USER, buttons[4].callback_data))
    [ticket] = await desk.tickets()
    assert ticket.category == TicketCategory.BILLING
    assert await desk.texts(ticket.id) == ["Factuur klopt niet"]
    assert desk.api.sent_texts()[-1] == (
        f"Dank u, ticket {ticket.reference} valt nu onder Facturen en betalingen."
    )


async def test_category_of_someone_elses_ticket_is_refused(desk: Desk) -> None:
    await desk.feed(message_update(OTHER, "van een ander"))
    [theirs] = await desk.tickets(OTHER)
    data = SetCategory(ticket_id=theirs.id, category=TicketCategory.MOBILE).pack()
    await desk.feed(callback_update(USER, data, language="en"))
    assert desk.api.calls("answerCallbackQuery")[-1].text == "This ticket is not yours."  # type: ignore[attr-defined]
    [theirs] = await desk.tickets(OTHER)
    assert theirs.category == TicketCategory.OTHER


async def test_new_flow_category_description_attachment_confirm(desk: Desk) -> None:
    desk.api.files["scan"] = b"%PDF-1.4 scan"
    await desk.feed(message_update(USER, "/new", language="en"))
    assert desk.api.sent_texts() == ["New ticket. First choose the subject:"]
    await desk.feed(
        callback_update(USER, desk.new_step("category", TicketCategory.VOIP))
    )
    assert desk.api.sent_texts()[-1] == "Describe your question or problem in one message."
    await desk.feed(message_update(USER, sticker=_STICKER))  # kept as a note, text still asked
    assert desk.api.sent_texts()[-1] == (
        "Kept. Now please describe your question or problem in a text message, or /cancel to stop."
    )
    await desk.feed(message_update(USER, "Geen kiestoon op toestel 12"))
    assert desk.api.sent_texts()[-1].startswith("Would you like to add photos")
    document = {"file_id": "scan", "file_unique_id": "s1", "file_name": "scan.pdf",
                "mime_type": "application/pdf", "file_size": 13}  # fmt: skip
    await desk.feed(message_update(USER, document=document))
    assert desk.api.sent_texts()[-1] == "Attachment received (1). More, or Continue?"
    assert await desk.tickets() == []  # nothing is filed before the confirmation
    await desk.feed(callback_update(USER, desk.new_step("continue")))
    review = desk.api.sent_texts()[-1]
    assert "Subject: Telephony (VoIP)" in review and "Geen kiestoon" in review
    assert "Attachments: 1" in review
    await desk.feed(message_update(USER, "ook op toestel 14"))  # still part of this ticket
    review = desk.api.sent_texts()[-1]
    assert review.startswith("Please check your ticket:") and "ook op toestel 14" in review
    await desk.feed(callback_update(USER, desk.new_step("send")))
    [ticket] = await desk.tickets()
    assert ticket.category == TicketCategory.VOIP
    assert await desk.texts(ticket.id) == [
        "Geen kiestoon op toestel 12",
        "[sticker 😀]",
        "ook op toestel 14",
    ]
    confirmation = desk.api.calls("sendMessage")[-1]
    assert ticket.reference in confirmation.text and confirmation.reply_markup is None  # type: ignore[attr-defined]
    async with desk.sessionmaker() as s:
        [attachment] = list(await s.scalars(select(Attachment)))
    assert attachment.ticket_id == ticket.id and attachment.filename == "scan.pdf"
    assert attachment.size == 13
    # the flow is over: the next text is a normal message on the ticket
    await desk.feed(message_update(USER, "nog iets"))
    assert (await desk.texts(ticket.id))[-1] == "nog iets"


async def test_new_flow_cancel_before_writing_anything_leaves_nothing(desk: Desk) -> None:
    await desk.feed(message_update(USER, "/new"))
    await desk.feed(
        callback_update(USER, desk.new_step("category", TicketCategory.MOBILE))
    )
    await desk.feed(message_update(USER, "/cancel"))
    assert desk.api.sent_texts()[-1] == "Geannuleerd; er is geen ticket aangemaakt."
    assert await desk.tickets() == []
    await desk.feed(message_update(USER, "/cancel"))
    assert desk.api.sent_texts()[-1] == "Er is niets om te annuleren."
    # a stale button of the cancelled flow does nothing harmful
    await desk.feed(callback_update(USER, desk.new_step("category", TicketCategory.VOIP)))
    assert desk.api.calls("answerCallbackQuery")[-1].text == "Deze knop is niet meer geldig."  # type: ignore[attr-defined]
    assert await desk.tickets() == []
    await desk.feed(callback_update(USER, "pick:not-a-number:x", language="en"))
    assert desk.api.calls("answerCallbackQuery")[-1].text == "Deze knop is niet meer geldig."  # type: ignore[attr-defined]


async def _fsm_data(desk: Desk) -> dict[str, object]:
    key = StorageKey(bot_id=desk.bot.id, chat_id=USER, user_id=USER)
    return await desk.dp.fsm.storage.get_data(key)


async def test_new_flow_keeps_what_is_sent_instead_of_pressing_buttons(desk: Desk) -> None:
    desk.api.files["ph"] = b"\xff\xd8 jpeg"
    await desk.feed(message_update(USER, "/new"))
    await desk.feed(message_update(USER, "Mijn factuur klopt niet, te hoog bedrag"))
    kept = desk.api.calls("sendMessage")[-1]
    assert kept.text == (  # type: ignore[attr-defined]
        "Dank u, dit bewaren we voor uw ticket. Kies nu het onderwerp met de knoppen "
        "hieronder, of /cancel om te stoppen."
    )
    assert kept.reply_markup is not None  # type: ignore[attr-defined]  # the buttons again
    photo = [{"file_id": "ph", "file_unique_id": "p1", "width": 8, "height": 6, "file_size": 7}]
    await desk.feed(message_update(USER, photo=photo, caption="de factuur"))
    await desk.feed(
        callback_update(USER, desk.new_step("category", TicketCategory.BILLING))
    )
    # the description was written already: not asked for again
    assert desk.api.sent_texts()[-1].startswith("Dank u, uw beschrijving is bewaard. Wilt u")
    await desk.feed(message_update(USER, sticker=_STICKER))
    assert desk.api.sent_texts()[-1] == "Toegevoegd aan uw ticket. Nog meer, of Verder?"
    await desk.feed(message_update(USER, "extra tekst bij bijlagen-stap"))
    assert desk.api.sent_texts()[-1] == "Toegevoegd aan uw ticket. Nog meer, of Verder?"
    json.dumps(await _fsm_data(desk))  # Redis FSM storage keeps it as JSON
    await desk.feed(callback_update(USER, desk.new_step("continue")))
    review = desk.api.sent_texts()[-1]
    assert "Mijn factuur klopt niet" in review and "extra tekst bij bijlagen-stap" in review
    assert "Bijlagen: 1" in review
    await desk.feed(callback_update(USER, desk.new_step("send")))
    [ticket] = await desk.tickets()
    assert ticket.category == TicketCategory.BILLING
    assert await desk.texts(ticket.id) == [
        "Mijn factuur klopt niet, te hoog bedrag",
        "[photo] de factuur",
        "[sticker 😀]",
        "extra tekst bij bijlagen-stap",
    ]
    async with desk.sessionmaker() as s:
        [attachment] = list(await s.scalars(select(Attachment)))
    assert attachment.ticket_id == ticket.id and attachment.media_type == "image/jpeg"


async def test_new_flow_cancel_asks_and_sending_keeps_the_chosen_category(desk: Desk) -> None:
    desk.api.files["scan"] = b"%PDF-1.4 scan"
    await desk.feed(message_update(USER, "/new", language="en"))
    await desk.feed(callback_update(USER, desk.new_step("category", TicketCategory.MOBILE)))
    await desk.feed(message_update(USER, "Simkaart kwijt", language="en"))
    document = {"file_id": "scan", "file_unique_id": "s1", "file_name": "scan.pdf",
                "mime_type": "application/pdf", "file_size": 13}  # fmt: skip
    await desk.feed(message_update(USER, document=document, language="en"))
    await desk.feed(message_update(USER, "nummer 06-12345678", language="en"))
    await desk.feed(callback_update(USER, desk.new_step("cancel"), language="en"))
    assert await desk.tickets() == []  # nothing filed unasked
    assert desk.api.sent_texts()[-1] == (
        "Stop this new ticket? What you wrote has not been sent yet. "
        "Send it as a ticket (Mobile), or discard it?"
    )
    await desk.feed(callback_update(USER, desk.new_step("keep"), language="en"))
    [ticket] = await desk.tickets()
    assert ticket.category == TicketCategory.MOBILE  # the chosen one, not "other"
    assert await desk.texts(ticket.id) == ["Simkaart kwijt", "nummer 06-12345678"]
    assert desk.api.sent_texts()[-1] == (
        f"Thank you! Your ticket {ticket.reference} has been created. "
        "An agent will get back to you."
    )
    async with desk.sessionmaker() as s:
        [attachment] = list(await s.scalars(select(Attachment)))
    assert attachment.ticket_id == ticket.id and attachment.filename == "scan.pdf"
    assert await _fsm_data(desk) == {}
    # the flow is over: its buttons are no longer valid, /cancel has nothing to stop
    for action in ("keep", "discard", "cancel"):
        await desk.feed(callback_update(USER, desk.new_step(action), language="en"))
        assert desk.api.calls("answerCallbackQuery")[-1].text == "This button is no longer valid."  # type: ignore[attr-defined]
    assert len(await desk.tickets()) == 1
    await desk.feed(message_update(USER, "/cancel", language="en"))
    assert desk.api.sent_texts()[-1] == "There is nothing to cancel."


async def test_new_flow_cancel_never_files_on_another_open_ticket(desk: Desk) -> None:
    await desk.feed(message_update(USER, "Internet valt weg"))
    [ticket] = await desk.tickets()
    await desk.feed(message_update(USER, "/new"))
    await desk.feed(message_update(USER, "Mijn factuur klopt niet, te hoog bedrag"))
    await desk.feed(message_update(USER, "/cancel"))
    assert desk.api.sent_texts()[-1] == (
        "Dit nieuwe ticket stoppen? Wat u schreef is nog niet verstuurd. "
        "Als ticket versturen (onderwerp nog te kiezen), of weggooien?"
    )
    await desk.feed(message_update(USER, "en nog iets"))  # kept with it; asked again
    assert desk.api.sent_texts()[-1].startswith("Dit nieuwe ticket stoppen?")
    await desk.feed(callback_update(USER, desk.new_step("keep")))
    first, new = await desk.tickets()
    assert first.id == ticket.id and await desk.texts(ticket.id) == ["Internet valt weg"]
    assert await desk.texts(new.id) == ["Mijn factuur klopt niet, te hoog bedrag", "en nog iets"]
    assert new.category == TicketCategory.OTHER  # none chosen: the categories are offered
    assert desk.api.sent_texts()[-1].endswith("Uw bericht blijft bewaard, wat u ook kiest.")


async def test_new_flow_cancel_can_discard(desk: Desk) -> None:
    await desk.feed(message_update(USER, "Internet valt weg"))
    await desk.feed(message_update(USER, "/new"))
    await desk.feed(callback_update(USER, desk.new_step("category", TicketCategory.BILLING)))
    await desk.feed(message_update(USER, "laat maar"))
    await desk.feed(message_update(USER, "/cancel"))
    await desk.feed(callback_update(USER, desk.new_step("discard")))
    assert desk.api.sent_texts()[-1] == "Weggegooid; er is geen ticket aangemaakt."
    [ticket] = await desk.tickets()
    assert await desk.texts(ticket.id) == ["Internet valt weg"]
    assert await _fsm_data(desk) == {}


async def test_new_again_asks_about_what_the_earlier_new_collected(desk: Desk) -> None:
    await desk.feed(message_update(USER, "/new"))
    old_category = desk.new_step("category", TicketCategory.VOIP)
    await desk.feed(message_update(USER, "eerste poging"))
    await desk.feed(message_update(USER, "/new"))
    assert desk.api.sent_texts()[-1].startswith("Dit nieuwe ticket stoppen?")
    await desk.feed(callback_update(USER, desk.new_step("discard")))
    assert desk.api.sent_texts()[-2:] == [
        "Weggegooid; er is geen ticket aangemaakt.",
        "Klaar. Stuur /new nog eens om verder te gaan.",
    ]
    assert await desk.tickets() == []
    await desk.feed(message_update(USER, "/new"))
    assert desk.api.sent_texts()[-1] == "Nieuw ticket. Kies eerst het onderwerp:"
    assert await _fsm_data(desk) != {} and "description" not in await _fsm_data(desk)
    # a button of the earlier flow does not act on this one
    await desk.feed(callback_update(USER, old_category))
    assert desk.api.calls("answerCallbackQuery")[-1].text == "Deze knop is niet meer geldig."  # type: ignore[attr-defined]
    assert "category" not in await _fsm_data(desk)


@pytest.mark.parametrize("language", ["nl", "en"])
async def test_new_description_edits_reach_the_ticket(desk: Desk, language: str) -> None:
    await desk.feed(message_update(USER, "/new", language=language))
    await desk.feed(
        callback_update(
            USER, desk.new_step("category", TicketCategory.INTERNET),
            language=language,
        )
    )  # fmt: skip
    update = message_update(USER, "Glasvezel storing", language=language)
    await desk.feed(update)
    sent = update.message
    assert sent is not None

    def edit(text: str, at: int):  # type: ignore[no-untyped-def]
        edited = sent.model_copy(update={"text": text, "edit_date": at})
        return update.model_copy(update={"message": None, "edited_message": edited})

    await desk.feed(edit("Glasvezel storing sinds 8:00", 1))  # before sending: what is sent
    await desk.feed(callback_update(USER, desk.new_step("continue"), language=language))
    assert "Glasvezel storing sinds 8:00" in desk.api.sent_texts()[-1]
    await desk.feed(callback_update(USER, desk.new_step("send"), language=language))
    [ticket] = await desk.tickets()
    assert await desk.texts(ticket.id) == ["Glasvezel storing sinds 8:00"]
    await desk.feed(edit("Glasvezel storing sinds 7:30", 2))  # after sending: with history
    assert await desk.texts(ticket.id) == ["Glasvezel storing sinds 7:30"]
    async with desk.sessionmaker() as s:
        [history] = list(await s.scalars(select(MessageEdit)))
        assert history.previous_text == "Glasvezel storing sinds 8:00"
        assert history.new_text == "Glasvezel storing sinds 7:30"


async def test_edit_of_a_filed_message_during_new_still_reaches_its_ticket(desk: Desk) -> None:
    update = message_update(USER, "Router knippert rood")
    await desk.feed(update)
    [ticket] = await desk.tickets()
    await desk.feed(message_update(USER, "/new"))
    sent = update.message
    assert sent is not None
    edited = sent.model_copy(update={"text": "Router knippert oranje", "edit_date": 1})
    await desk.feed(update.model_copy(update={"message": None, "edited_message": edited}))
    assert await desk.texts(ticket.id) == ["Router knippert oranje"]


@pytest.mark.parametrize(
    ("moment", "language", "expected"),
    [
        (datetime(2026, 3, 6, 16, 31, tzinfo=UTC), "nl", "maandag 9 maart om 9:00"),  # Fri 17:31
        (datetime(2026, 3, 7, 12, 0, tzinfo=UTC), "en", "Monday 9 March at 9:00"),  # Saturday
        (datetime(2026, 4, 27, 10, 0, tzinfo=UTC), "nl", "dinsdag 28 april om 9:00"),  # holiday
        (datetime(2026, 3, 9, 6, 30, tzinfo=UTC), "en", "Monday 9 March at 9:00"),  # Mon 7:30
    ],
)
async def test_after_hours_answer_names_the_next_opening(
    desk: Desk, moment: datetime, language: str, expected: str
) -> None:
    desk.clock.set(moment)
    await desk.feed(message_update(USER, "Storing", language=language))
    _opened, after_hours = desk.api.sent_texts()
    assert after_hours.endswith(expected + ".")
    assert ("9:00-17:30" in after_hours) and (
        after_hours.startswith("We zijn nu gesloten")
        if language == "nl"
        else after_hours.startswith("We are closed right now")
    )
    # only the first message of a new ticket gets it
    await desk.feed(message_update(USER, "nog iets"))
    assert len(desk.api.sent_texts()) == 2


async def test_no_after_hours_answer_on_monday_morning(desk: Desk) -> None:
    desk.clock.set(datetime(2026, 3, 9, 9, 0, tzinfo=UTC))  # Monday 10:00 in Amsterdam
    await desk.feed(message_update(USER, "Storing"))
    [opened] = desk.api.sent_texts()
    assert "aangemaakt" in opened


async def test_customer_edit_updates_the_message_and_keeps_history(desk: Desk) -> None:
    update = message_update(USER, "Router knippert rood")
    await desk.feed(update)
    [ticket] = await desk.tickets()
    sent = update.message
    assert sent is not None
    edited = sent.model_copy(update={"text": "Router knippert oranje", "edit_date": 1})
    await desk.feed(update.model_copy(update={"message": None, "edited_message": edited}))
    assert await desk.texts(ticket.id) == ["Router knippert oranje"]
    async with desk.sessionmaker() as s:
        [history] = list(await s.scalars(select(MessageEdit)))
        assert history.previous_text == "Router knippert rood"
        assert history.new_text == "Router knippert oranje"
        assert await s.scalar(
            select(AuditEvent.id).where(AuditEvent.action == "ticket.customer_message_edited")
        )
    assert len(desk.api.requests) == 1  # the edit itself is silent


async def test_edits_in_groups_and_of_unknown_messages_are_ignored(desk: Desk) -> None:
    update = message_update(USER, "hallo")
    await desk.feed(update)
    [ticket] = await desk.tickets()
    sent = update.message
    assert sent is not None
    in_group = sent.model_copy(
        update={"text": "gewijzigd", "edit_date": 1,
                "chat": sent.chat.model_copy(update={"id": -100, "type": "group"})}
    )  # fmt: skip
    unknown = sent.model_copy(update={"text": "gewijzigd", "edit_date": 1, "message_id": 99_999})
    for edited in (in_group, unknown):
        await desk.feed(update.model_copy(update={"message": None, "edited_message": edited}))
    assert await desk.texts(ticket.id) == ["hallo"]
    assert len(desk.api.requests) == 1


_STICKER = {"file_id": "s", "file_unique_id": "su", "type": "regular", "width": 512,
            "height": 512, "is_animated": False, "is_video": False, "emoji": "😀"}  # fmt: skip


async def test_whitespace_text_is_kept_as_a_readable_note(desk: Desk) -> None:
    await desk.feed(message_update(USER, "   "))
    [ticket] = await desk.tickets()
    assert await desk.texts(ticket.id) == ["[empty message]"]


async def test_tickets_and_close_in_dutch_and_english(desk: Desk) -> None:
    await desk.feed(message_update(USER, "Glasvezel storing"))
    await desk.feed(message_update(OTHER, "Mobiel bereik", language="en"))
    [mine] = await desk.tickets()
    [theirs] = await desk.tickets(OTHER)
    desk.api.requests.clear()
    await desk.feed(message_update(USER, "/tickets"))
    await desk.feed(message_update(OTHER, "/tickets", language="en"))
    nl, en = desk.api.sent_texts()
    assert nl.startswith("Uw open tickets:") and "laatste activiteit 2 mrt 2026, 11:00" in nl
    assert en.startswith("Your open tickets:") and "last activity Mar 2, 2026, 11:00\u202fAM" in en
    assert mine.reference in nl and theirs.reference in en and theirs.reference not in nl
    await desk.feed(callback_update(OTHER, CloseTicket(ticket_id=theirs.id).pack()))
    assert desk.api.sent_texts()[-1] == (
        f"Ticket {theirs.reference} is closed. A new message opens a new ticket."
    )
    await desk.feed(message_update(OTHER, "/tickets", language="en"))
    assert desk.api.sent_texts()[-1] == "You have no open tickets. Send a message to open one."


async def _two_open(desk: Desk) -> tuple[Ticket, Ticket]:
    await desk.feed(message_update(USER, "Glasvezel storing"))
    await desk.feed(message_update(USER, "/new"))
    await desk.feed(callback_update(USER, desk.new_step("category", TicketCategory.BILLING)))
    await desk.feed(message_update(USER, "Factuur te hoog"))
    await desk.feed(callback_update(USER, desk.new_step("continue")))
    await desk.feed(callback_update(USER, desk.new_step("send")))
    first, second = await desk.tickets()
    return first, second


async def test_closing_one_of_two_names_what_stays_open_and_where_the_next_message_goes(
    desk: Desk,
) -> None:
    first, second = await _two_open(desk)
    await desk.feed(callback_update(USER, CloseTicket(ticket_id=second.id).pack()))
    assert desk.api.sent_texts()[-1] == (
        f"Ticket {second.reference} is gesloten. Nog open: {first.reference} (Glasvezel storing). "
        "Uw volgende bericht wordt aan dat ticket toegevoegd; voor een ander ticket gebruikt u "
        "/new."
    )
    await desk.feed(message_update(USER, "nog steeds storing"))
    assert (await desk.texts(first.id))[-1] == "nog steeds storing"  # as announced
    # the close button again: its moment has passed, nothing happens
    await desk.feed(callback_update(USER, CloseTicket(ticket_id=second.id).pack()))
    assert desk.api.calls("answerCallbackQuery")[-1].text == "Deze knop is niet meer geldig."  # type: ignore[attr-defined]
    # and a closed ticket's category buttons no longer re-categorise it
    data = SetCategory(ticket_id=second.id, category=TicketCategory.MOBILE).pack()
    await desk.feed(callback_update(USER, data))
    assert desk.api.calls("answerCallbackQuery")[-1].text == "Deze knop is niet meer geldig."  # type: ignore[attr-defined]
    [_, closed] = await desk.tickets()
    assert closed.category == TicketCategory.BILLING


async def test_closing_one_of_three_says_the_next_message_asks(desk: Desk) -> None:
    first, second = await _two_open(desk)
    await desk.feed(message_update(USER, "/new"))
    await desk.feed(callback_update(USER, desk.new_step("category", TicketCategory.VOIP)))
    await desk.feed(message_update(USER, "Geen kiestoon"))
    await desk.feed(callback_update(USER, desk.new_step("continue")))
    await desk.feed(callback_update(USER, desk.new_step("send")))
    *_, third = await desk.tickets()
    await desk.feed(callback_update(USER, CloseTicket(ticket_id=first.id).pack()))
    text = desk.api.sent_texts()[-1]
    assert text.startswith(f"Ticket {first.reference} is gesloten. Nog open: ")
    assert second.reference in text and third.reference in text
    assert text.endswith("Bij uw volgende bericht vraag ik over welk ticket het gaat.")


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        # Easter 2026-04-05; Koningsdag moves to Saturday 26 April when the 27th is a Sunday.
        (2026, {"04-03", "04-05", "04-06", "04-27", "05-14", "05-24", "05-25"}),
        (2025, {"04-18", "04-20", "04-21", "04-26", "05-29", "06-08", "06-09"}),
        (2030, {"04-19", "04-21", "04-22", "04-27", "05-30", "06-09", "06-10"}),
    ],
)
def test_dutch_public_holidays_are_computed_for_any_year(year: int, expected: set[str]) -> None:
    days = {d.strftime("%m-%d") for d in dutch_public_holidays(year)}
    assert days == expected | {"01-01", "05-05", "12-25", "12-26"}


def test_public_holidays_can_be_switched_off_and_extra_days_added() -> None:
    zone = ZoneInfo("Europe/Amsterdam")
    kings_day = datetime(2027, 4, 27, 10, 0, tzinfo=zone)  # a Tuesday
    assert next_opening(kings_day, zone) == datetime(2027, 4, 28, 9, 0, tzinfo=zone)
    assert next_opening(kings_day, zone, public_holidays=False) is None
    christmas_eve = datetime(2027, 12, 24, 10, 0, tzinfo=zone)  # a Friday
    assert next_opening(christmas_eve, zone) is None
    assert next_opening(christmas_eve, zone, [date(2027, 12, 24)]) == datetime(
        2027, 12, 27, 9, 0, tzinfo=zone
    )
