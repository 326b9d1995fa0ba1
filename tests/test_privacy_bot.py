"""/privacy through the real dispatcher (create_dispatcher): real Update objects in, the
recording Bot API session at the edge (unexpected calls fail), the real database."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.privacy import PrivacyConfirm, PrivacyRight
from storage.config import Settings
from storage.models import AuditEvent, PrivacyRequest, RequestStatus, RequestType
from storage.objectstore.local import LocalObjectStore
from storage.services.audit import Actor
from storage.services.privacy import PrivacyService
from storage.services.privacy_export import export_contact
from tests.bot_desk import OTHER, USER, Desk, open_desk
from tests.telegram_fake import callback_update, message_update

pytestmark = pytest.mark.storage
STAFF = Actor("staff", None, "privacy-officer")
PHOTO = {"file_id": "ph", "file_unique_id": "u", "width": 800, "height": 600, "file_size": 8}


@pytest.fixture
async def desk(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path, settings: Settings
) -> AsyncIterator[Desk]:
    settings = settings.model_copy(update={"privacy_statement_url": "https://example.nl/privacy"})
    async with open_desk(session_factory, tmp_path, settings) as opened:
        yield opened


async def test_privacy_shows_summary_and_a_button_per_right(desk: Desk) -> None:
    await desk.feed(message_update(USER, "/privacy", language="nl"))
    [call] = desk.api.calls("sendMessage")
    text = str(call.text)  # type: ignore[attr-defined]
    assert "3 jaar" in text and "90 dagen" in text and "https://example.nl/privacy" in text
    buttons = [b for row in call.reply_markup.inline_keyboard for b in row]  # type: ignore[attr-defined]
    assert {PrivacyRight.unpack(b.callback_data).right for b in buttons} == set(RequestType)
    assert await desk.tickets() == []  # a command, not a support message


async def test_privacy_during_new_asks_about_what_was_written_first(desk: Desk) -> None:
    await desk.feed(message_update(USER, "/new"))
    await desk.feed(message_update(USER, "Mijn factuur klopt niet"))
    await desk.feed(message_update(USER, "/privacy"))
    assert desk.api.sent_texts()[-1].startswith("Dit nieuwe ticket stoppen?")
    assert await desk.tickets() == []
    await desk.feed(callback_update(USER, desk.new_step("keep")))
    [ticket] = await desk.tickets()
    assert await desk.texts(ticket.id) == ["Mijn factuur klopt niet"]
    assert desk.api.sent_texts()[-1] == "Klaar. Stuur /privacy nog eens om verder te gaan."
    await desk.feed(message_update(USER, "/privacy"))
    assert "3 jaar" in desk.api.sent_texts()[-1]
    # /new is over: the next text is an ordinary message on that ticket
    await desk.feed(message_update(USER, "nog iets"))
    assert await desk.texts(ticket.id) == ["Mijn factuur klopt niet", "nog iets"]


async def test_english_deadline_is_written_in_english(desk: Desk) -> None:
    data = PrivacyConfirm(right=RequestType.ACCESS).pack()
    await desk.feed(callback_update(USER, data, language="en"))
    assert "We will answer by April 2, 2026 at the latest." in desk.api.sent_texts()[-1]


async def test_english_summary(desk: Desk) -> None:
    await desk.feed(message_update(USER, "/privacy", language="en"))
    [text] = desk.api.sent_texts()
    assert "call recordings 90 days" in text and "within one month" in text


async def test_button_records_the_request_and_confirms_the_deadline(desk: Desk) -> None:
    await desk.feed(message_update(USER, "/privacy", language="nl"))
    await desk.feed(
        callback_update(USER, PrivacyRight(right=RequestType.ERASURE).pack(), language="nl")
    )
    # One tap asks; nothing is recorded before the confirmation.
    assert desk.api.sent_texts()[-1] == (
        "Wilt u een privacyverzoek indienen: Verwijdering? "
        "We nemen daarna contact met u op om uw identiteit te bevestigen."
    )
    async with desk.sessionmaker() as s:
        assert list(await s.scalars(select(PrivacyRequest))) == []
    data = PrivacyConfirm(right=RequestType.ERASURE).pack()
    [[button]] = desk.api.calls("sendMessage")[-1].reply_markup.inline_keyboard  # type: ignore[attr-defined]
    assert button.callback_data == data and button.text == "Ja, verzoek indienen"
    await desk.feed(callback_update(USER, data, language="nl"))
    async with desk.sessionmaker() as s:
        [request] = list(await s.scalars(select(PrivacyRequest)))
        assert request.type == RequestType.ERASURE and request.channel == "telegram"
        assert request.status == RequestStatus.RECEIVED
        assert request.telegram_user_id == USER
        assert request.deadline_at.date().isoformat() == "2026-04-02"  # received 2 March
        actions = list(await s.scalars(select(AuditEvent.action)))
        assert "privacy.request" in actions
    assert len(desk.api.calls("answerCallbackQuery")) == 2
    confirmation = desk.api.sent_texts()[-1]
    assert f"P-{request.id}" in confirmation and "2 april 2026" in confirmation
    assert "Verwijdering" in confirmation
    # Pressed again while it is being handled: no second request, the first one is named.
    await desk.feed(callback_update(USER, data, language="nl"))
    again = desk.api.sent_texts()[-1]
    assert "al in behandeling" in again and f"P-{request.id}" in again and "2 april 2026" in again
    async with desk.sessionmaker() as s:
        assert len(list(await s.scalars(select(PrivacyRequest)))) == 1


async def test_verified_requester_gets_the_export_as_a_document(desk: Desk, tmp_path: Path) -> None:
    await desk.feed(message_update(USER, "/privacy", language="nl"))
    service = PrivacyService(desk.clock, LocalObjectStore(tmp_path / "objects"))  # the desk's
    async with desk.sessionmaker() as s:
        contact = await desk.contact()
        assert contact is not None
        request = await service.create_request(
            s, type="access", contact_id=contact.id, channel="telegram", actor=STAFF
        )
        await s.commit()
        # Not verified yet: no download button, and a forged press gets nothing.
        await export_contact(service, s, contact.id, actor=STAFF, request_id=request.id)
        await s.commit()
    desk.api.requests.clear()
    await desk.feed(message_update(USER, "/privacy", language="nl"))
    [call] = desk.api.calls("sendMessage")
    assert "downloaden" not in str(call.reply_markup)  # type: ignore[attr-defined]
    async with desk.sessionmaker() as s:
        await service.verify_identity(s, request.id, actor=STAFF)
        await s.commit()
    desk.api.requests.clear()
    await desk.feed(message_update(USER, "/privacy", language="nl"))
    [call] = desk.api.calls("sendMessage")
    [download] = [
        b
        for row in call.reply_markup.inline_keyboard  # type: ignore[attr-defined]
        for b in row
        if b.callback_data.startswith("privacy-zip")
    ]
    await desk.feed(message_update(OTHER, "/privacy", language="nl"))
    await desk.feed(callback_update(OTHER, download.callback_data, language="nl"))
    assert desk.api.calls("sendDocument") == []
    assert desk.api.sent_texts()[-1] == "Er staat geen export meer voor u klaar."
    await desk.feed(callback_update(USER, download.callback_data, language="nl"))
    [sent] = desk.api.calls("sendDocument")
    assert sent.chat_id == USER  # type: ignore[attr-defined]
    [body] = desk.api.documents
    assert "contact.json" in zipfile.ZipFile(io.BytesIO(body)).namelist()
    async with desk.sessionmaker() as s:
        events = [e.action for e in (await service.get(s, request.id)).events]
        assert events[-1] == "export_delivered"


@pytest.mark.parametrize(
    ("right", "question"),
    [
        (RequestType.CORRECTION, "hoe moeten ze luiden"),
        (RequestType.OBJECTION, "Waartegen maakt u bezwaar"),
    ],
)
async def test_correction_and_objection_ask_for_details_first(
    desk: Desk, right: RequestType, question: str
) -> None:
    await desk.feed(message_update(USER, "/privacy", language="nl"))
    await desk.feed(callback_update(USER, PrivacyConfirm(right=right).pack(), language="nl"))
    assert question in desk.api.sent_texts()[-1]
    async with desk.sessionmaker() as s:
        assert list(await s.scalars(select(PrivacyRequest))) == []  # not before the details
    # A photo is not the details; it asks again and files nothing.
    await desk.feed(message_update(USER, photo=[PHOTO]))
    assert "tekstbericht" in desk.api.sent_texts()[-1]
    await desk.feed(message_update(USER, "Mijn naam is Jansen, niet Janssen."))
    async with desk.sessionmaker() as s:
        [request] = list(await s.scalars(select(PrivacyRequest)))
        assert request.type == right and request.details == "Mijn naam is Jansen, niet Janssen."
    assert f"P-{request.id}" in desk.api.sent_texts()[-1]
    assert await desk.tickets() == []  # the details are not a support message
    # The state is over: the next text is an ordinary support message again.
    await desk.feed(message_update(USER, "Mijn internet is traag"))
    assert len(await desk.tickets()) == 1


async def test_cancel_while_asked_for_details_records_nothing(desk: Desk) -> None:
    data = PrivacyConfirm(right=RequestType.CORRECTION).pack()
    await desk.feed(callback_update(USER, data, language="en"))
    assert "how should it read" in desk.api.sent_texts()[-1]
    await desk.feed(message_update(USER, "/cancel", language="en"))
    assert desk.api.sent_texts()[-1] == "Stopped: no request was made."
    await desk.feed(message_update(USER, "Hello, my phone is broken", language="en"))
    async with desk.sessionmaker() as s:
        assert list(await s.scalars(select(PrivacyRequest))) == []
    assert len(await desk.tickets()) == 1


@pytest.mark.parametrize("language", ["nl", "en"])
async def test_summary_covers_every_row_of_the_statement_table(desk: Desk, language: str) -> None:
    await desk.feed(message_update(USER, "/privacy", language=language))
    [text] = desk.api.sent_texts()
    expected = {
        "nl": [
            "3 jaar",
            "90 dagen",
            "contactformulieren 1 jaar",
            "contactpersoon van uw organisatie bewaren wij tot het einde van de dienstverlening",
            "Gebruiksgegevens van vaste en mobiele telefonie",
            "wettelijke aftapverplichting of informatieverzoek bewaren wij zes maanden",
            "Deze supportchat slaat die niet op",
        ],
        "en": [
            "3 years",
            "call recordings 90 days",
            "contact-form messages 1 year",
            "contact person are kept until the end of the service",
            "Usage data of fixed and mobile telephony",
            "legal interception obligation or information request are kept 6 months",
            "This support chat does not store them",
        ],
    }[language]
    for phrase in expected:
        assert phrase in text, phrase
