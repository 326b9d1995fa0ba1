"""Telegram's limits as Telegram counts them (UTF-16 code units): the splitter, and the Bot
API fake refusing what Telegram refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import deliver_pending
from bot.telegram_text import CAPTION_LIMIT, TEXT_LIMIT, split_text, truncate, utf16_len
from storage.clock import FrozenClock
from storage.models import ContactPerson, StaffRole, StaffUser, TicketChannel
from storage.services.audit import Actor
from storage.services.tickets import TicketService
from tests.telegram_fake import make_bot

PHONE = "📞"  # outside the BMP: two UTF-16 units, one Python character


def _whole(parts: list[str]) -> None:
    for part in parts:
        assert not any(0xD800 <= ord(c) <= 0xDFFF for c in part)  # no half of a pair
        part.encode("utf-16-le", "strict")


def test_emoji_count_twice_and_are_never_cut_in_half() -> None:
    text = PHONE * 3000
    assert utf16_len(text) == 6000
    parts = split_text(text)
    assert [utf16_len(p) for p in parts] == [4096, 1904]
    assert "".join(parts) == text
    _whole(parts)
    odd = "x" + PHONE * 2100  # a pair would straddle unit 4096: the cut moves before it
    parts = split_text(odd)
    assert all(utf16_len(p) <= TEXT_LIMIT for p in parts) and "".join(parts) == odd
    assert utf16_len(parts[0]) == 4095


def test_split_prefers_paragraphs_then_sentences_then_words() -> None:
    paragraph = ("Zin een. " * 200).strip()  # 1 799 units
    text = "\n\n".join([paragraph] * 4)
    parts = split_text(text)
    assert "".join(parts) == text and all(utf16_len(p) <= TEXT_LIMIT for p in parts)
    assert parts[0] == f"{paragraph}\n\n{paragraph}\n\n"
    sentences = "Een korte zin met 📞 erin. " * 400
    parts = split_text(sentences)
    assert "".join(parts) == sentences
    assert all(p.endswith(". ") for p in parts[:-1])
    words = ("woord" + PHONE + " ") * 1000
    parts = split_text(words, 1000)
    assert "".join(parts) == words and all(utf16_len(p) <= 1000 for p in parts)
    assert all(p.endswith(" ") for p in parts)
    assert split_text("kort") == ["kort"] and split_text("") == [""]


def test_truncate_counts_units() -> None:
    assert truncate("kort", 10) == "kort"
    cut = truncate(PHONE * 3000, 3000)
    assert utf16_len(cut) <= 3000 and cut.endswith(" …")
    _whole([cut])


async def test_fake_refuses_what_telegram_refuses() -> None:
    bot, api = make_bot()
    await bot.send_message(1, PHONE * 2048)  # exactly 4 096 units: fine
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1, PHONE * 2049)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(1, " \n")
    document = BufferedInputFile(b"x", filename="a.txt")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(1, document, caption=PHONE * (CAPTION_LIMIT // 2 + 1))
    assert api.refusals == [
        "message is too long",
        "message text is empty",
        "message caption is too long",
    ]


START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.storage
async def test_agent_reply_of_3000_phones_stays_within_telegram_limits(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    service = TicketService(clock)
    text = PHONE * 3000
    async with session_factory() as s:
        contact = ContactPerson(
            name="Anna", telegram_user_id=7001, telegram_chat_id=7001,
            created_at=clock.now(), updated_at=clock.now(),
        )  # fmt: skip
        staff = StaffUser(
            username="agent-limits", password_hash="x", role=StaffRole.AGENT,
            created_at=clock.now(), updated_at=clock.now(),
        )  # fmt: skip
        s.add_all([contact, staff])
        await s.flush()
        ticket, _ = await service.open_ticket(
            s, actor=Actor.system(), channel=TicketChannel.TELEGRAM, text="help", contact=contact
        )
        await service.add_agent_reply(s, ticket.id, staff=staff, text=text)
        await s.commit()
    bot, api = make_bot()
    await deliver_pending(bot, session_factory, clock)
    assert api.refusals == []
    assert all(utf16_len(str(r.text)) <= TEXT_LIMIT for r in api.calls("sendMessage"))  # type: ignore[attr-defined]
    assert "".join(api.sent_texts()) == text


@pytest.mark.storage
async def test_a_reply_names_its_ticket_when_the_customer_has_several_open(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    service = TicketService(clock)
    async with session_factory() as s:
        contact = ContactPerson(
            name="Anna", telegram_user_id=7002, telegram_chat_id=7002, language="nl",
            created_at=clock.now(), updated_at=clock.now(),
        )  # fmt: skip
        staff = StaffUser(
            username="agent-reference", password_hash="x", role=StaffRole.AGENT,
            created_at=clock.now(), updated_at=clock.now(),
        )  # fmt: skip
        s.add_all([contact, staff])
        await s.flush()
        first, _ = await service.open_ticket(
            s, actor=Actor.system(), channel=TicketChannel.TELEGRAM, text="vpn", contact=contact
        )
        await service.add_agent_reply(s, first.id, staff=staff, text="Alleen dit ticket open.")
        await s.commit()
    bot, api = make_bot()
    await deliver_pending(bot, session_factory, clock)
    assert api.sent_texts() == ["Alleen dit ticket open."]  # one open ticket: no heading
    async with session_factory() as s:
        contact = await s.get(ContactPerson, contact.id)
        staff = await s.get(StaffUser, staff.id)
        assert contact is not None and staff is not None
        await service.open_ticket(
            s, actor=Actor.system(), channel=TicketChannel.TELEGRAM, text="fax", contact=contact
        )
        await service.add_agent_reply(s, first.id, staff=staff, text="Over de vpn.")
        await s.commit()
        reference = first.reference
    await deliver_pending(bot, session_factory, clock)
    assert api.sent_texts()[-1] == f"Over ticket {reference}:\n\nOver de vpn."
