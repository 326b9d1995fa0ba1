"""Ticket page for agents: presence across two app instances, attachment preview and
download streamed from the object store (local and S3), assign to a colleague, link a
recording, and the stale-thread warning in the page flow."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World, login
from desk_fixtures import PNG, add_attachment, add_recording
from sqlalchemy import select

from admin.app import create_app
from admin.keys import OBJECT_STORE
from storage.config import Settings
from storage.models import (
    AuditEvent,
    Recording,
    StaffRole,
    StaffUser,
    Ticket,
    TicketChannel,
    TicketStatus,
)
from storage.services.audit import Actor
from storage.services.tickets import TicketFilter, TicketService

pytestmark = pytest.mark.storage

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


async def test_presence_across_two_app_instances(
    world: World, settings: Settings, engine, aiohttp_client
) -> None:
    other = await aiohttp_client(create_app(settings, clock=world.clock, engine=engine))
    url = f"/tickets/{world.ticket_id}"
    csrf_a = await login(world.client, "agent")
    csrf_b = await login(other, "admin")
    page_a = await (await world.client.get(url)).text()
    assert '<script src="/static/presence.js" defer></script>' in page_a
    assert "<script>" not in page_a  # CSP: no inline script
    assert 'id="presence"' in page_a and "Ook geopend door" not in page_a.split("<main>")[1][:400]
    page_b = await (await other.get(url)).text()
    assert "Ook geopend door: Agent" in page_b
    beat = await world.client.post(f"{url}/presence", headers={"X-CSRF-Token": csrf_a})
    assert beat.status == 200
    assert (await beat.json()) == {"others": ["Admin"], "thread_version": 1}
    assert (await world.client.post(f"{url}/presence")).status == 403  # CSRF
    world.clock.advance(timedelta(seconds=30))
    beat = await other.post(f"{url}/presence", headers={"X-CSRF-Token": csrf_b})
    assert (await beat.json())["others"] == ["Agent"]
    world.clock.advance(timedelta(seconds=40))  # the agent stopped beating 70 s ago
    beat = await other.post(f"{url}/presence", headers={"X-CSRF-Token": csrf_b})
    assert (await beat.json())["others"] == []
    script = await world.client.get("/static/presence.js")
    assert script.status == 200 and "X-CSRF-Token" in await script.text()
    missing = await world.client.post("/tickets/999999/presence", headers={"X-CSRF-Token": csrf_a})
    assert missing.status == 404


async def test_presence_permissions(world: World) -> None:
    url = f"/tickets/{world.ticket_id}/presence"
    world.client.session.cookie_jar.clear()
    anonymous = await world.client.post(url, allow_redirects=False)
    assert anonymous.status == 302 and anonymous.headers["Location"].startswith("/login")
    csrf = await login(world.client, "trainer")
    assert (await world.client.post(url, headers={"X-CSRF-Token": csrf})).status == 403
    csrf = await login(world.client, "privacy-officer")
    assert (await world.client.post(url, headers={"X-CSRF-Token": csrf})).status == 200


@pytest.fixture(params=["local", "s3"])
async def desk_client(request, world: World, settings: Settings, engine, aiohttp_client):
    """The world's app (local store) or a second instance on moto's S3, same database."""
    if request.param == "local":
        return world.client
    s3 = Settings(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        s3_endpoint=request.getfixturevalue("s3_endpoint"),
        s3_access_key="test",
        s3_secret_key="testtest",
        s3_bucket=request.getfixturevalue("s3_bucket"),
    )
    return await aiohttp_client(create_app(s3, clock=world.clock, engine=engine))


async def test_attachment_preview_and_download(world: World, desk_client) -> None:
    store = desk_client.server.app[OBJECT_STORE]
    body = b"%PDF-1.4 " + b"x" * 300_000
    async with world.sessions() as session:
        image = await add_attachment(
            session,
            store,
            world.clock,
            world.ticket_id,
            body=PNG,
            media_type="image/png",
            filename="scherm foto.png",
        )
        pdf = await add_attachment(
            session,
            store,
            world.clock,
            world.ticket_id,
            body=body,
            media_type="application/pdf",
            filename="factuur.pdf",
        )
        await session.commit()
    await login(desk_client, "agent")
    html = await (await desk_client.get(f"/tickets/{world.ticket_id}")).text()
    assert f'<img src="/attachments/{image}/preview"' in html
    assert f'href="/attachments/{pdf}"' in html and f"/attachments/{pdf}/preview" not in html
    preview = await desk_client.get(f"/attachments/{image}/preview")
    assert preview.status == 200 and await preview.read() == PNG
    assert preview.headers["Content-Type"] == "image/png"
    assert preview.headers["X-Content-Type-Options"] == "nosniff"
    assert preview.headers["Content-Disposition"] == (
        "inline; filename=\"scherm_foto.png\"; filename*=UTF-8''scherm%20foto.png"
    )
    download = await desk_client.get(f"/attachments/{pdf}")
    assert download.status == 200
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"factuur.pdf\"; filename*=UTF-8''factuur.pdf"
    )
    assert download.headers["Content-Length"] == str(len(body))
    assert await download.read() == body
    # no inline rendering of anything but raster images
    assert (await desk_client.get(f"/attachments/{pdf}/preview")).status == 404
    assert (await desk_client.get("/attachments/999999")).status == 404
    await login(desk_client, "trainer")
    assert (await desk_client.get(f"/attachments/{pdf}")).status == 403
    desk_client.session.cookie_jar.clear()
    anonymous = await desk_client.get(f"/attachments/{pdf}", allow_redirects=False)
    assert anonymous.status == 302


async def test_assign_to_colleague_from_the_page(world: World) -> None:
    client = world.client
    csrf = await login(client, "agent")
    html = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    admin_id = world.users[StaffRole.ADMIN].id
    trainer_id = world.users[StaffRole.TRAINER].id
    assert f'<option value="{admin_id}"' in html
    assert f'<option value="{trainer_id}"' not in html  # trainers cannot work tickets
    response = await client.post(
        f"/tickets/{world.ticket_id}/assign", data={"assignee": str(admin_id), "csrf_token": csrf}
    )
    assert response.status == 200
    assert f'<option value="{admin_id}" selected>' in await response.text()
    async with world.sessions() as session:
        ticket = await session.get(Ticket, world.ticket_id)
        assert ticket is not None and ticket.assignee_id == admin_id


async def test_link_recording_to_ticket(world: World) -> None:
    async with world.sessions() as session:
        recording_id = await add_recording(session, world.clock)
        await session.commit()
    client = world.client
    csrf = await login(client, "agent")
    url = f"/tickets/{world.ticket_id}/link-recording"
    assert (await client.post(url, data={"recording_id": str(recording_id)})).status == 403
    response = await client.post(url, data={"recording_id": "424242", "csrf_token": csrf})
    assert response.status == 422 and "opname 424242 bestaat niet" in await response.text()
    response = await client.post(url, data={"recording_id": "abc", "csrf_token": csrf})
    assert response.status == 422
    response = await client.post(url, data={"recording_id": f"#{recording_id}", "csrf_token": csrf})
    assert response.status == 200
    assert f'<a href="/recordings/{recording_id}">#{recording_id}</a>' in await response.text()
    async with world.sessions() as session:
        recording = await session.get(Recording, recording_id)
        assert recording is not None and recording.ticket_id == world.ticket_id
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "recording.linked_to_ticket")
        )
        assert event is not None and event.details["ticket_id"] == world.ticket_id
    await login(client, "privacy-officer")  # may view, may not write
    response = await client.post(url, data={"recording_id": "1", "csrf_token": csrf})
    assert response.status == 403


async def test_stale_thread_warning_in_the_page_flow(
    world: World, settings: Settings, engine, aiohttp_client
) -> None:
    """Two agents open the page; the second reply, written against the old thread, is held
    back with a warning, keeps its draft, shows the new message; resending then works."""
    async with world.sessions() as session:
        session.add(
            StaffUser(
                username="agent2",
                display_name="Agent Twee",
                password_hash=world.users[StaffRole.AGENT].password_hash,
                role=StaffRole.AGENT,
                is_active=True,
                created_at=world.clock.now(),
                updated_at=world.clock.now(),
            )
        )
        await session.commit()
    first, second = (
        world.client,
        await aiohttp_client(create_app(settings, clock=world.clock, engine=engine)),
    )
    url = f"/tickets/{world.ticket_id}"
    csrf_1, csrf_2 = await login(first, "agent"), await login(second, "agent2")
    version = re.compile(r'name="thread_version" value="(\d+)"')
    page_1, page_2 = await (await first.get(url)).text(), await (await second.get(url)).text()
    v1, v2 = version.search(page_1).group(1), version.search(page_2).group(1)  # type: ignore[union-attr]
    assert "Ook geopend door: Agent" in page_2
    sent = await first.post(
        f"{url}/reply", data={"text": "Eerste antwoord", "thread_version": v1, "csrf_token": csrf_1}
    )
    assert sent.status == 200
    stale = await second.post(
        f"{url}/reply", data={"text": "Mijn concept", "thread_version": v2, "csrf_token": csrf_2}
    )
    assert stale.status == 409
    html = await stale.text()
    assert 'role="alert"' in html and "gewijzigd" in html
    assert ">Mijn concept</textarea>" in html and "Eerste antwoord" in html
    fresh = version.search(html).group(1)  # type: ignore[union-attr]
    assert int(fresh) == int(v2) + 1
    resent = await second.post(
        f"{url}/reply", data={"text": "Mijn concept", "thread_version": fresh, "csrf_token": csrf_2}
    )
    assert resent.status == 200 and "Mijn concept</div>" in await resent.text()


async def test_inbox_counts_are_capped_and_reference_search_is_exact(world: World) -> None:
    """The inbox's bounded queries (bench/admin_inbox.py): capped status counts, a
    reference query that is an exact lookup, and keyset pages that still chain."""
    service = TicketService(world.clock)
    async with world.sessions() as session:
        for n in range(5):
            world.clock.advance(timedelta(seconds=1))
            await service.open_ticket(
                session, actor=Actor.system(), channel=TicketChannel.API, text=f"T-2026 {n}"
            )
        await session.commit()
        capped = await service.count_by_status(session, cap=3)
        exact = await service.count_by_status(session)
        assert exact[TicketStatus.NEW] == 6 and capped[TicketStatus.NEW] == 4
        assert capped[TicketStatus.CLOSED] == exact[TicketStatus.CLOSED] == 0
        found = await service.list_tickets(session, TicketFilter(query="t-2026-000003"))
        assert [t.reference for t in found.items] == ["T-2026-000003"]
        seen, cursor = [], None
        while True:
            page = await service.list_tickets(session, cursor=cursor, limit=2)
            seen += [t.id for t in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == [6, 5, 4, 3, 2, 1]
    await login(world.client, "agent")
    html = await (await world.client.get("/?q=T-2026-000003")).text()
    assert "/tickets/3" in html and "/tickets/4" not in html


async def test_inbox_counts_a_search_exactly_and_labels_capped_counts(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox looks a search up once for its page and its badges: an indexed search
    counts its matches per status exactly, whatever the status filter, on every page; a
    count that stopped at its cap reads "N+" and says "more than N" (bench/admin_inbox.py)."""
    service = TicketService(world.clock)
    async with world.sessions() as session:
        ids = []
        for n in range(7):
            world.clock.advance(timedelta(seconds=1))
            body = f"zonnepaneel stuk {n}" if n % 2 == 0 else f"iets anders {n}"
            ticket, _ = await service.open_ticket(
                session, actor=Actor.system(), channel=TicketChannel.API, text=body
            )
            ids.append(ticket.id)
        for closed in (ids[0], ids[1], ids[2]):
            await service.close(session, closed, actor=Actor.system())
        await session.commit()
        # Matches: ids 0, 2 (closed), 4, 6 (new). "paneel stuk" holds an s: the index's
        # hits are checked against the rows; "zonnepaneel" is exact from the index alone.
        expected = {
            TicketStatus.NEW: 2,
            TicketStatus.OPEN: 0,
            TicketStatus.WAITING: 0,
            TicketStatus.CLOSED: 2,
        }
        for query in ("zonnepaneel", "PANEEL STUK"):
            new_only = await service.inbox(
                session, TicketFilter(query=query, status=TicketStatus.NEW), cap=1
            )
            assert new_only.cap is None and new_only.counts == expected, query
            assert [t.id for t in new_only.page.items] == [ids[6], ids[4]]
            first = await service.inbox(session, TicketFilter(query=query), limit=3, cap=1)
            rest = await service.inbox(
                session, TicketFilter(query=query), cursor=first.page.next_cursor, cap=1
            )
            assert [t.id for t in first.page.items + rest.page.items] == [
                ids[6],
                ids[4],
                ids[2],
                ids[0],
            ]
            assert rest.page.next_cursor is None and first.counts == rest.counts == expected
            assert await service.count_by_status(session, TicketFilter(query=query)) == expected
            capped = await service.count_by_status(session, TicketFilter(query=query), cap=1)
            assert capped[TicketStatus.NEW] == capped[TicketStatus.CLOSED] == 2  # cap + 1

    await login(world.client, "agent")
    badge = re.compile(r'<span class="badge"( title="(?:meer dan|more than) (\d+)")?>([^<]*)<')
    html = await (await world.client.get("/?q=zonnepaneel")).text()
    assert [m.group(3) for m in badge.finditer(html)] == ["2", "0", "0", "2"]
    assert all(m.group(1) is None for m in badge.finditer(html))
    # Without the index's help (a common string) a search's counts stop at their cap.
    monkeypatch.setattr("storage.services.tickets.SEARCH_CANDIDATES", 2)
    monkeypatch.setattr("admin.views.INBOX_SEARCH_COUNT_CAP", 1)
    html = await (await world.client.get("/?q=zonnepaneel")).text()
    found = [(m.group(2), m.group(3)) for m in badge.finditer(html)]
    assert found == [("1", "1+"), (None, "0"), (None, "0"), ("1", "1+")]
    assert "/tickets/" + str(ids[6]) in html and "/tickets/" + str(ids[5]) not in html
    # No search: the world's ticket and 4 of these are new.
    monkeypatch.setattr("admin.views.INBOX_COUNT_CAP", 3)
    html = await (await world.client.get("/")).text()
    found = [(m.group(2), m.group(3)) for m in badge.finditer(html)]
    assert found == [("3", "3+"), (None, "0"), (None, "0"), (None, "3")]
