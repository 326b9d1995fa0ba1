"""The privacy desk through the real app (create_app) on moto's S3: list with deadlines,
recording a request (agents too), ID copy upload and its deletion at verification, export
download, erasure, flags, outcome; permissions and CSRF."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from admin.app import create_app
from admin.keys import BOT_TRANSPORT
from bot.outbox import deliver_pending
from bot.transport import BotTransport
from storage.config import Settings
from storage.models import (
    AuditEvent,
    ContactPerson,
    ContactPrivacy,
    PrivacyDocument,
    PrivacyRequest,
    RequestStatus,
    StaffRole,
    StaffUser,
)
from storage.services import audit
from storage.services.audit import Actor
from tests.admin_fixtures import PASSWORD_HASH, login
from tests.privacy_fixtures import NOW, SUBJECT, PrivacyWorld, open_request, pworld
from tests.telegram_fake import TOKEN, RecordingSession

pytestmark = pytest.mark.storage
__all__ = ["pworld"]


class CommitCheckingSession(RecordingSession):
    """The Bot API fake that also notes, per message sent, the request's status as another
    connection sees it: what the customer is told must already be committed."""

    def __init__(self, world: PrivacyWorld) -> None:
        super().__init__()
        self.world = world
        self.committed: list[str] = []

    async def make_request(self, bot, method, timeout=None):  # type: ignore[no-untyped-def]  # noqa: ASYNC109
        async with self.world.sessions() as s:
            row = await s.get(PrivacyRequest, self.world.request_id)
            self.committed.append(row.status.value if row is not None else "")
        return await super().make_request(bot, method, timeout)


@dataclass
class Desk:
    client: TestClient
    world: PrivacyWorld


@pytest.fixture(params=[False])
async def desk(
    request, aiohttp_client, engine, settings: Settings, pworld: PrivacyWorld
) -> AsyncIterator[Desk]:  # type: ignore[no-untyped-def]
    hashed = PASSWORD_HASH
    async with pworld.sessions() as s:
        for role in (StaffRole.AGENT, StaffRole.TRAINER, StaffRole.ADMIN):
            s.add(
                StaffUser(
                    username=role.value,
                    password_hash=hashed,
                    role=role,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        officer = await s.get(StaffUser, pworld.staff_id)
        assert officer is not None
        officer.password_hash = hashed
        await s.commit()
    app = create_app(settings, clock=pworld.clock, engine=engine, object_store=pworld.store)
    if request.param:  # the bot as bot.runtime wires it; the Bot API is the recording fake
        api = CommitCheckingSession(pworld)
        bot = Bot(TOKEN, session=api)
        app[BOT_TRANSPORT] = BotTransport(bot=bot, processor=None, secret="")  # type: ignore[arg-type]
        pworld.api = api  # type: ignore[attr-defined]
        pworld.bot = bot  # type: ignore[attr-defined]
    yield Desk(await aiohttp_client(app), pworld)


async def test_list_shows_deadline_and_warning(desk: Desk) -> None:
    await login(desk.client, "privacy-officer")
    page = await (await desk.client.get("/privacy")).text()
    assert "2026-12-27" in page and "op tijd" in page and SUBJECT.name in page
    desk.world.clock.advance(timedelta(days=24))
    await login(desk.client, "privacy-officer")  # the session expired meanwhile
    page = await (await desk.client.get("/privacy")).text()
    assert "binnen een week" in page
    desk.world.clock.advance(timedelta(days=7))
    await login(desk.client, "privacy-officer")
    page = await (await desk.client.get("/privacy")).text()
    assert "te laat" in page


async def test_agent_records_a_letter_but_cannot_open_the_desk(desk: Desk) -> None:
    csrf = await login(desk.client, "agent")
    assert (await desk.client.get("/privacy", allow_redirects=False)).status == 403
    form = {
        "csrf_token": csrf,
        "contact_id": str(SUBJECT.contact_id),
        "type": "access",
        "channel": "letter",
        "received": "2026-11-20",
        "details": "brief ontvangen",
    }
    no_csrf = {k: v for k, v in form.items() if k != "csrf_token"}
    assert (await desk.client.post("/privacy/new", data=no_csrf)).status == 403
    bad = await desk.client.post("/privacy/new", data={**form, "type": "gossip"})
    assert "onbekende soort verzoek" in await bad.text()
    future = await desk.client.post("/privacy/new", data={**form, "received": "2026-12-01"})
    assert "die dag is nog niet begonnen" in await future.text()
    done = await desk.client.post("/privacy/new", data=form)
    assert done.status == 200 and "Verzoek vastgelegd" in await done.text()
    async with desk.world.sessions() as s:
        request = await s.scalar(select(PrivacyRequest).where(PrivacyRequest.channel == "letter"))
        assert request is not None
        # The letter's day where the desk is (Amsterdam), not midnight UTC.
        amsterdam = ZoneInfo("Europe/Amsterdam")
        received = request.received_at.replace(tzinfo=request.received_at.tzinfo or UTC)
        assert received.astimezone(amsterdam).isoformat() == "2026-11-20T00:00:00+01:00"
        deadline = request.deadline_at.replace(tzinfo=request.deadline_at.tzinfo or UTC)
        assert deadline.astimezone(amsterdam).date().isoformat() == "2026-12-20"
    await login(desk.client, "trainer")
    assert (await desk.client.get("/privacy/new", allow_redirects=False)).status == 403


async def test_officer_handles_a_request_end_to_end(desk: Desk) -> None:
    client, world = desk.client, desk.world
    rid = world.request_id
    csrf = await login(client, "privacy-officer")
    page = await (await client.get(f"/privacy/{rid}")).text()
    assert "id_copy_uploaded" in page and "nooit langer dan 7 dagen" in page
    # Upload a second ID copy: streamed, CSRF part first.
    form = FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("file", b"%PDF-1.4 id", filename="id.pdf", content_type="application/pdf")
    assert (await client.post(f"/privacy/{rid}/id-copy", data=form)).status == 200
    forged = FormData()
    forged.add_field("csrf_token", "nope")
    forged.add_field("file", b"%PDF", filename="id.pdf", content_type="application/pdf")
    assert (await client.post(f"/privacy/{rid}/id-copy", data=forged)).status == 403
    async with world.sessions() as s:
        docs = list(await s.scalars(select(PrivacyDocument)))
        assert len(docs) == 2
        assert [await world.store.exists(d.object_key) for d in docs] == [True, True]
    download = await client.get(f"/privacy/documents/{docs[1].id}")
    assert await download.read() == b"%PDF-1.4 id"
    # Erasure needs verification first; verification deletes the ID copies.
    refused = await client.post(f"/privacy/{rid}/erase", data=confirmed(csrf, rid))
    assert "Controleer eerst de identiteit" in await refused.text()
    await client.post(f"/privacy/{rid}/verify", data={"csrf_token": csrf, "note": "paspoort"})
    assert await world.store.list("privacy/id-copies/") == []
    # Export: a ZIP to download (an access request of the same subject offers it).
    access_id = await open_request(world, "access")
    await client.post(f"/privacy/{access_id}/export", data={"csrf_token": csrf})
    async with world.sessions() as s:
        export = await s.scalar(select(PrivacyDocument).where(PrivacyDocument.kind == "export"))
        assert export is not None
    body = await (await client.get(f"/privacy/documents/{export.id}")).read()
    assert "contact.json" in zipfile.ZipFile(io.BytesIO(body)).namelist()
    # Restriction on and off (on a restriction request).
    restriction_id = await open_request(world, "restriction")
    await client.post(
        f"/privacy/{restriction_id}/flag",
        data={"csrf_token": csrf, "flag": "restricted", "on": "1"},
    )
    async with world.sessions() as s:
        flags = await s.get(ContactPrivacy, SUBJECT.contact_id)
        assert flags is not None and flags.restricted_at == NOW
    # Erase: the held evidence keeps the erasure waiting, so the request stays open.
    unconfirmed = await client.post(f"/privacy/{rid}/erase", data={"csrf_token": csrf})
    assert "Typ het kenmerk P-" in await unconfirmed.text()
    await client.post(f"/privacy/{rid}/erase", data=confirmed(csrf, rid))
    async with world.sessions() as s:
        assert await s.get(ContactPerson, SUBJECT.contact_id) is None
    page = await (await client.get(f"/privacy/{rid}")).text()
    assert "erased" in page and "17(3)(e)" in page
    refused = await client.post(
        f"/privacy/{rid}/close", data={"csrf_token": csrf, "outcome": "Gewist."}
    )
    assert refused.status == 409 and "wacht nog" in await refused.text()
    async with world.sessions() as s:
        request = await s.get(PrivacyRequest, rid)
        assert request is not None and request.status == RequestStatus.VERIFIED
    assert (await client.get(f"/privacy/documents/{export.id}")).status == 404


async def test_id_copy_is_judged_by_its_bytes_not_its_content_type(desk: Desk) -> None:
    """A text file sent as image/png is refused with a clear error and nothing is kept;
    a real PNG sent as application/octet-stream is kept as image/png."""
    client, world = desk.client, desk.world
    rid = world.request_id
    csrf = await login(client, "privacy-officer")

    async def documents() -> tuple[int, int]:
        async with world.sessions() as s:
            rows = len(list(await s.scalars(select(PrivacyDocument))))
        return rows, len(await world.store.list("privacy/"))

    before = await documents()
    for body, claimed in (
        (b"hello, this is text", "image/png"),
        (b"<html><script>alert(1)</script>", "application/pdf"),
        (b"GIF89a....", "image/jpeg"),
    ):
        form = FormData()
        form.add_field("csrf_token", csrf)
        form.add_field("file", body, filename="id.png", content_type=claimed)
        refused = await client.post(f"/privacy/{rid}/id-copy", data=form)
        assert refused.status == 422, claimed
        assert "geen JPEG, PNG of PDF" in await refused.text()
    assert await documents() == before
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    form = FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("file", png, filename="id.bin", content_type="application/octet-stream")
    assert (await client.post(f"/privacy/{rid}/id-copy", data=form)).status == 200
    async with world.sessions() as s:
        newest = await s.scalar(select(PrivacyDocument).order_by(PrivacyDocument.id.desc()))
        assert newest is not None
    download = await client.get(f"/privacy/documents/{newest.id}")
    assert download.headers["Content-Type"] == "image/png" and await download.read() == png


async def test_a_document_whose_object_is_gone_is_a_clear_404(desk: Desk) -> None:
    client, world = desk.client, desk.world
    csrf = await login(client, "privacy-officer")
    access_id = await open_request(world, "access")
    await client.post(f"/privacy/{access_id}/export", data={"csrf_token": csrf})
    async with world.sessions() as s:
        export = await s.scalar(select(PrivacyDocument).where(PrivacyDocument.kind == "export"))
        assert export is not None
    await world.store.delete(export.object_key)  # e.g. lost between two writes
    response = await client.get(f"/privacy/documents/{export.id}")
    assert response.status == 404 and "niet meer opgeslagen" in await response.text()


async def test_desk_pages_speak_the_staff_language_without_raw_keys(desk: Desk) -> None:
    client, rid = desk.client, desk.world.request_id
    csrf = await login(client, "privacy-officer")
    listing = await (await client.get("/privacy")).text()
    page = await (await client.get(f"/privacy/{rid}")).text()
    new = await (await client.get("/privacy/new")).text()
    assert "Verwijdering" in listing and "ontvangen" in listing
    assert f"#{rid} Verwijdering</h1>" in page and '<span class="privacy-status">ontvangen<' in page
    assert "Bezwaar</option>" in new and "brief</option>" in new
    for raw in (">erasure<", ">received<", " erasure</h1>", ">objection</option>"):
        assert raw not in listing + page + new
    refused = await client.post(f"/privacy/{rid}/erase", data=confirmed(csrf, rid))
    refused_nl = await refused.text()
    assert "Controleer eerst de identiteit van de aanvrager" in refused_nl
    assert "verify the requester" not in refused_nl
    await client.post(f"/privacy/{rid}/verify", data={"csrf_token": csrf, "note": "ok"})
    page = await (await client.get(f"/privacy/{rid}")).text()
    assert "Tickets worden: geanonimiseerd." in page and "anonymise." not in page
    assert "identiteit gecontroleerd</span>" in page
    unconfirmed = await (
        await client.post(f"/privacy/{rid}/erase", data={"csrf_token": csrf})
    ).text()
    assert "Typ het kenmerk P-" in unconfirmed and "type the reference" not in unconfirmed

    client.session.cookie_jar.update_cookies({"lang": "en"})
    listing = await (await client.get("/privacy")).text()
    refused_en = await client.post(f"/privacy/{rid}/erase", data={"csrf_token": csrf})
    assert refused_en.status == 422
    page = await refused_en.text()
    assert "Erasure" in listing and "identity verified" in listing
    assert f"#{rid} Erasure</h1>" in page and "Tickets are: anonymised." in page
    assert f"Type the reference P-{rid} to confirm: erasure cannot be undone." in page
    # The address cannot put words on the page (a refusal is shown at once, not via a URL).
    spoofed = await (await client.get(f"/privacy/{rid}?error=request+rejected")).text()
    assert "request rejected" not in spoofed and "refused" not in spoofed


@pytest.mark.parametrize("desk", [True], indirect=True)
async def test_requester_is_told_in_telegram_after_the_commit(desk: Desk) -> None:
    """The notice is an outbox row committed with the officer's change: it goes out behind
    what the chat was already owed (the world's agent replies) and only once committed."""
    client, world = desk.client, desk.world
    # An access request (it offers the export); the fake bot reports world.request_id.
    rid = world.request_id = await open_request(world, "access")
    api: CommitCheckingSession = world.api  # type: ignore[attr-defined]
    bot: Bot = world.bot  # type: ignore[attr-defined]
    csrf = await login(client, "privacy-officer")
    # An export before the verification is not downloadable yet: nobody is told.
    page = await (await client.post(f"/privacy/{rid}/export", data={"csrf_token": csrf})).text()
    assert "zodra de identiteit is gecontroleerd" in page and api.calls("sendMessage") == []
    page = await (await client.post(f"/privacy/{rid}/verify", data={"csrf_token": csrf})).text()
    # Agent replies to this chat wait in the outbox (no delivery loop runs here): behind them.
    assert "wordt verstuurd zodra Telegram weer bereikbaar is" in page
    assert api.calls("sendMessage") == []
    while await deliver_pending(bot, world.sessions, world.clock):
        pass
    *earlier, ready = [m for m in api.calls("sendMessage") if m.chat_id == SUBJECT.telegram_id]  # type: ignore[attr-defined]
    assert earlier  # the replies went first
    assert ready.text == (  # type: ignore[attr-defined]
        f"Your export for request P-{rid} is ready: use /privacy to download it. "
        "It is deleted after 7 days."
    )  # the contact's language (en), not the officer's
    api.fail_next("sendMessage", 400, "Bad Request: chat not found")
    form = {"csrf_token": csrf, "outcome": "Alles gewist."}
    page = await (await client.post(f"/privacy/{rid}/close", data=form)).text()
    assert "kon niet worden verstuurd: informeer de klant op een andere manier" in page
    async with world.sessions() as s:  # the outcome stands
        closed = await s.get(PrivacyRequest, rid)
        assert closed is not None and closed.status == RequestStatus.DONE
    assert api.sent_texts()[-1] == f"Your privacy request P-{rid} is done: Alles gewist."
    # Each notice was sent after the officer's commit.
    assert api.committed[-2:] == ["verified", "done"]


async def test_without_a_bot_the_officer_is_told_to_inform_another_way(desk: Desk) -> None:
    client, rid = desk.client, desk.world.request_id
    csrf = await login(client, "privacy-officer")
    client.session.cookie_jar.update_cookies({"lang": "en"})
    form = {"csrf_token": csrf, "outcome": "Refused: no identity.", "rejected": "1"}
    page = await (await client.post(f"/privacy/{rid}/close", data=form)).text()
    assert "No Telegram bot is reachable from the admin: inform the customer" in page


async def test_audit_csv_cells_cannot_run_as_spreadsheet_formulas(desk: Desk) -> None:
    """Customers name themselves: their name is the label of what they do. A tab or carriage
    return in front of a formula is neutralised too (some spreadsheets skip them)."""
    labels = ['=HYPERLINK("http://evil.example","klik")', "\t=1+1", "\r@SUM(A1)", "-2+3"]
    async with desk.world.sessions() as s:
        for label in labels:
            audit.record(
                s,
                actor=Actor.customer(SUBJECT.contact_id, label),
                action="ticket.opened",
                subject_type="contact",
                subject_id=SUBJECT.contact_id,
                at=NOW,
                details={"note": label},
            )
        await s.commit()
    await login(desk.client, "privacy-officer")
    async with desk.world.sessions() as s:
        count = len(list(await s.scalars(select(AuditEvent.id))))
    response = await desk.client.get("/audit.csv")
    assert response.status == 200
    header, *rows = csv.reader(io.StringIO(await response.text()))
    assert len(rows) == count
    label_cells = [row[header.index("actor")] for row in rows]
    for label in labels:
        assert "'" + label in label_cells
    for row in rows:
        assert not [c for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r")], row


def confirmed(csrf: str, rid: int) -> dict[str, str]:
    """An erasure form with the typed confirmation (the request's reference)."""
    return {"csrf_token": csrf, "confirm": f"P-{rid}"}


WRONG_KIND_ACTIONS = [
    ("erasure", "export", {}),
    ("access", "flag", {"flag": "restricted", "on": "1"}),
    ("erasure", "flag", {"flag": "objected", "on": "1"}),
    ("restriction", "flag", {"flag": "consent_withdrawn", "on": "0"}),
]


@pytest.mark.parametrize(("kind", "action", "form"), WRONG_KIND_ACTIONS)
async def test_an_action_of_another_kind_of_request_is_refused(
    desk: Desk, kind: str, action: str, form: dict[str, str]
) -> None:
    """The page only offers a request its own actions; a forged form gets 409 and nothing
    is kept (no export, no flag, no event)."""
    client, world = desk.client, desk.world
    rid = world.request_id if kind == "erasure" else await open_request(world, kind)
    csrf = await login(client, "privacy-officer")
    async with world.sessions() as s:
        events_before = len((await world.privacy.get(s, rid)).events)
    refused = await client.post(f"/privacy/{rid}/{action}", data={"csrf_token": csrf, **form})
    assert refused.status == 409
    assert f"is een verzoek van de soort {kind}" in await refused.text()
    async with world.sessions() as s:
        exports = await s.scalars(select(PrivacyDocument).where(PrivacyDocument.kind == "export"))
        assert list(exports) == []
        assert await s.get(ContactPrivacy, SUBJECT.contact_id) is None
        assert len((await world.privacy.get(s, rid)).events) == events_before
