"""Link codes: the service, `/start <code>` through the real dispatcher and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import (
    AuditEvent,
    ContactPerson,
    LinkCode,
    Organisation,
    RequestType,
    Ticket,
    TicketMessage,
)
from storage.services.audit import Actor
from storage.services.errors import Conflict, InvalidInput, NotFound
from storage.services.linking import INVALID_CODE, LinkCodeService, hash_code
from storage.services.privacy import PrivacyService
from tests.bot_desk import OTHER, START, USER, Desk, open_desk
from tests.cli_fixtures import ainvoke, cli_env
from tests.telegram_fake import message_update

pytestmark = pytest.mark.storage


@pytest.fixture
async def desk(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path, settings: Settings
) -> AsyncIterator[Desk]:
    async with open_desk(session_factory, tmp_path, settings) as opened:
        yield opened


async def _known_contact(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """A contact staff registered for an organisation (no Telegram yet)."""
    async with sessionmaker() as s:
        org = Organisation(
            name="Bakkerij Jansen", customer_number="C-1001", created_at=START, updated_at=START
        )
        s.add(org)
        await s.flush()
        contact = ContactPerson(
            organisation_id=org.id,
            name="Piet Jansen",
            language="nl",
            created_at=START,
            updated_at=START,
        )
        s.add(contact)
        await s.commit()
        return contact.id


async def _code(desk: Desk, contact_id: int, *, relink: bool = False) -> str:
    async with desk.sessionmaker() as s:
        code = await LinkCodeService(desk.clock).create(
            s, contact_id, actor=Actor.system("test"), relink=relink
        )
        await s.commit()
    return code


async def test_code_is_url_safe_one_time_and_stored_hashed(desk: Desk) -> None:
    contact_id = await _known_contact(desk.sessionmaker)
    code = await _code(desk, contact_id)
    assert 16 <= len(code) <= 64
    assert all(c.isalnum() or c in "-_" for c in code)
    async with desk.sessionmaker() as s:
        [row] = list(await s.scalars(select(LinkCode)))
        assert row.code_hash == hash_code(code) and code not in row.code_hash
        assert row.expires_at == START + timedelta(hours=24) and row.used_at is None
        [event] = list(
            await s.scalars(
                select(AuditEvent).where(AuditEvent.action == "contact.link_code_created")
            )
        )
        assert event.subject_id == str(contact_id) and code not in str(event.details)
        with pytest.raises(NotFound):
            await LinkCodeService(desk.clock).create(s, 999_999, actor=Actor.system())


async def test_start_with_code_links_and_moves_the_unverified_tickets(desk: Desk) -> None:
    await desk.feed(message_update(USER, "Mijn VoIP doet het niet", language="en"))
    [ticket] = await desk.tickets()
    assert ticket.organisation_id is None
    contact_id = await _known_contact(desk.sessionmaker)
    code = await _code(desk, contact_id)
    desk.api.requests.clear()

    await desk.feed(message_update(USER, f"/start {code}", language="en"))
    greeting, *linked_answer = desk.api.sent_texts()
    assert "privacy statement" in greeting
    assert linked_answer == [
        "Your Telegram account is now linked to your customer account. "
        "Your tickets are handled for your organisation from now on."
    ]
    linked = await desk.contact()
    assert linked is not None and linked.id == contact_id and linked.telegram_chat_id == USER
    assert linked.language == "en"  # the language the customer already chose
    [moved] = await desk.tickets()
    assert moved.id == ticket.id and moved.contact_id == contact_id
    assert moved.organisation_id == linked.organisation_id is not None
    async with desk.sessionmaker() as s:
        authors = set(
            await s.scalars(
                select(TicketMessage.author_contact_id).where(TicketMessage.ticket_id == ticket.id)
            )
        )
    assert authors == {contact_id}
    # the next message lands on the linked contact's open ticket
    await desk.feed(message_update(USER, "nog steeds stuk"))
    assert await desk.texts(ticket.id) == ["Mijn VoIP doet het niet", "nog steeds stuk"]


async def _unverified_ids(desk: Desk) -> list[int]:
    async with desk.sessionmaker() as s:
        return list(
            await s.scalars(
                select(ContactPerson.id)
                .where(ContactPerson.organisation_id.is_(None))
                .order_by(ContactPerson.id)
            )
        )


async def test_linking_deletes_the_emptied_unverified_contact(desk: Desk) -> None:
    await desk.feed(message_update(USER, "Mijn VoIP doet het niet"))
    [ticket] = await desk.tickets()
    [previous_id] = await _unverified_ids(desk)
    contact_id = await _known_contact(desk.sessionmaker)
    await desk.feed(message_update(USER, f"/start {await _code(desk, contact_id)}"))
    assert await _unverified_ids(desk) == []  # its tickets moved; nothing left to keep
    [moved] = await desk.tickets()
    assert moved.id == ticket.id and moved.contact_id == contact_id
    async with desk.sessionmaker() as s:
        [linked_event] = list(
            await s.scalars(
                select(AuditEvent).where(AuditEvent.action == "contact.telegram_linked")
            )
        )
    assert linked_event.details["previous_contact_id"] == previous_id
    assert linked_event.details["previous_contact_deleted"] is True


async def test_linking_keeps_the_unverified_contact_a_privacy_request_names(desk: Desk) -> None:
    await desk.feed(message_update(USER, "Hallo"))
    [previous_id] = await _unverified_ids(desk)
    async with desk.sessionmaker() as s:
        await PrivacyService(desk.clock, desk.dp["object_store"]).create_request(
            s,
            type=RequestType.ACCESS,
            contact_id=previous_id,
            channel="telegram",
            details="",
            actor=Actor.customer(previous_id),
        )
        await s.commit()
    contact_id = await _known_contact(desk.sessionmaker)
    await desk.feed(message_update(USER, f"/start {await _code(desk, contact_id)}"))
    assert await _unverified_ids(desk) == [previous_id]  # the request still names it
    linked = await desk.contact()
    assert linked is not None and linked.id == contact_id
    async with desk.sessionmaker() as s:
        kept = await s.get(ContactPerson, previous_id)
    assert kept is not None and kept.telegram_user_id is None


async def test_wrong_expired_and_used_codes_get_one_generic_answer(desk: Desk) -> None:
    contact_id = await _known_contact(desk.sessionmaker)
    used = await _code(desk, contact_id)
    expired = await _code(desk, contact_id)
    await desk.feed(message_update(USER, f"/start {used}"))
    desk.clock.advance(timedelta(hours=24))
    fresh = await _code(desk, contact_id, relink=True)  # linked now: only as a relink
    desk.api.requests.clear()

    for attempt in (used, expired, "not-a-code", "x" * 300):
        await desk.feed(message_update(OTHER, f"/start {attempt}", language="en"))
    refusals = desk.api.sent_texts()[1::2]
    refusal = "This code is invalid or has expired. Ask our support desk for a new code."
    assert refusals == [refusal] * 4
    other = await desk.contact(OTHER)
    assert other is not None and other.organisation_id is None
    async with desk.sessionmaker() as s:
        service = LinkCodeService(desk.clock)
        messages = set()
        for attempt in (used, expired, "nope"):
            with pytest.raises(InvalidInput) as refused:
                await service.redeem(
                    s, attempt, telegram_user_id=OTHER, telegram_chat_id=OTHER, actor=Actor.system()
                )
            messages.add(refused.value.message)
        assert messages == {INVALID_CODE}
    # a valid code still works for the other user
    await desk.feed(message_update(OTHER, f"/start {fresh}", language="en"))
    other = await desk.contact(OTHER)
    assert other is not None and other.id == contact_id


async def test_codes_cannot_take_a_linked_or_unverified_contact_by_mistake(desk: Desk) -> None:
    contact_id = await _known_contact(desk.sessionmaker)
    first, second = await _code(desk, contact_id), await _code(desk, contact_id)
    await desk.feed(message_update(USER, f"/start {first}"))
    # The same code handed out twice (or a second one made meanwhile) takes nothing away.
    await desk.feed(message_update(OTHER, f"/start {second}", language="en"))
    linked = await desk.contact()
    assert linked is not None and linked.id == contact_id
    other = await desk.contact(OTHER)
    assert other is not None and other.id != contact_id and other.organisation_id is None
    async with desk.sessionmaker() as s:
        service = LinkCodeService(desk.clock)
        with pytest.raises(Conflict, match="already linked"):
            await service.create(s, contact_id, actor=Actor.system())
        # The bot's own unverified contact has no organisation: nothing to link it to.
        with pytest.raises(InvalidInput, match="no organisation"):
            await service.create(s, other.id, actor=Actor.system())
        assert await s.scalar(select(func.count()).select_from(LinkCode)) == 2


async def test_deep_link_in_dutch(desk: Desk) -> None:
    contact_id = await _known_contact(desk.sessionmaker)
    code = await _code(desk, contact_id)
    await desk.feed(message_update(USER, f"/start {code}", language="nl"))
    greeting, answer = desk.api.sent_texts()
    assert "privacyverklaring" in greeting
    assert answer.startswith("Uw Telegram-account is nu gekoppeld")
    async with desk.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 0


@pytest.mark.parametrize("username", ["", "desk_bot"])
async def test_cli_prints_code_and_deep_link(
    tmp_path: Path,
    database_url: str,
    session_factory: async_sessionmaker[AsyncSession],
    username: str,
) -> None:
    contact_id = await _known_contact(session_factory)
    env = cli_env(tmp_path / "var", database_url, SUPPORTDESK_TELEGRAM_BOT_USERNAME=username)
    result = await ainvoke(env, "link-code", str(contact_id))
    assert result.exit_code == 0, result.stderr
    code, link = result.stdout.split()
    assert link == f"https://t.me/{username or '<bot-username>'}?start={code}"
    service = LinkCodeService(FrozenClock(START))
    async with session_factory() as s:
        linked = await service.redeem(
            s, code, telegram_user_id=USER, telegram_chat_id=USER, actor=Actor.system()
        )
        assert linked.id == contact_id
        await s.commit()
    missing = await ainvoke(env, "link-code", "999999")
    assert missing.exit_code == 1 and "contact 999999 not found" in missing.stderr
    linked_already = await ainvoke(env, "link-code", str(contact_id))
    assert linked_already.exit_code == 1 and "already linked" in linked_already.stderr
    relinked = await ainvoke(env, "link-code", str(contact_id), "--relink")
    assert relinked.exit_code == 0 and len(relinked.stdout.split()) == 2, relinked.stderr
