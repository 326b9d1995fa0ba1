"""Recordings API on the real app, moto S3 and both databases."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from recording_audio_helpers import make_audio
from recordings_web_fixtures import *  # noqa: F403  (fixture: vault)
from recordings_web_fixtures import MAX_BYTES, Vault
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from admin.app import create_app
from admin.keys import ENGINE, RECORDINGS
from admin.uploads import safe_filename
from storage.models import AuditEvent, Recording, RecordingHold, StaffRole, TicketChannel
from storage.services.audit import Actor
from storage.services.tickets import TicketService
from tests.lock_waits import lock_waits

pytestmark = pytest.mark.storage
AGENT, PO, TRAINER = StaffRole.AGENT, StaffRole.PRIVACY_OFFICER, StaffRole.TRAINER


async def test_ingest_list_tags_holds_delete(vault: Vault, tmp_path: Path) -> None:
    async with vault.sessions() as session:
        ticket, _ = await TicketService(vault.clock).open_ticket(
            session, actor=Actor.system("t"), channel=TicketChannel.TELEGRAM, text="no dial tone"
        )
        await session.commit()
        ticket_id = ticket.id
    audio = make_audio(tmp_path, "wav_mulaw", seconds=2)
    created = await vault.create(
        audio,
        caller="+31201234567",
        callee="+31207654321",
        agent="bob",
        started_at="2026-11-26T10:00:00+01:00",
        ticket_id=str(ticket_id),
    )
    assert {"id", "duration_seconds", "sha256", "object_key", "version_id"} <= set(created)
    assert created["duration_seconds"] == pytest.approx(2, abs=0.1)
    assert created["started_at"] == "2026-11-26T09:00:00+00:00"
    assert created["ticket_id"] == ticket_id and created["tags"] == [] and not created["held"]
    assert await vault.store.get_tags(created["object_key"], version_id=created["version_id"]) == {
        "retention": "standard"
    }
    again = await vault.upload(audio)  # same sha256: the existing recording, not a copy
    assert again.status == 200 and (await again.json())["id"] == created["id"]
    assert await vault.count(Recording) == 1 and await vault.objects() == 1

    api, headers = vault.client, vault.tokens[AGENT]
    base = f"/api/v1/recordings/{created['id']}"
    tagged = await api.put(f"{base}/tags", json={"tags": ["billing dispute", "x"]}, headers=headers)
    assert tagged.status == 200 and (await tagged.json())["tags"] == ["billing dispute", "x"]
    listed = await (await api.get("/api/v1/recordings?tag=x", headers=headers)).json()
    assert [r["id"] for r in listed["items"]] == [created["id"]] and listed["next_cursor"] is None
    none = await (await api.get("/api/v1/recordings?tag=nope", headers=headers)).json()
    assert none["items"] == []

    placed = await api.post(
        f"{base}/holds", json={"kind": "evidence", "reason": "agreed price"}, headers=headers
    )
    assert placed.status == 201
    hold = await placed.json()
    assert hold["id"] and hold["kind"] == "evidence" and hold["review_at"].startswith("2028-11-26")
    assert await vault.store.is_legal_hold(created["object_key"], version_id=created["version_id"])
    held = await (await api.get("/api/v1/recordings?held=true", headers=headers)).json()
    assert [r["id"] for r in held["items"]] == [created["id"]]
    unheld = await (await api.get("/api/v1/recordings?held=false", headers=headers)).json()
    assert unheld["items"] == []
    one = await (await api.get(base, headers=headers)).json()
    assert one["held"] and one["holds"][0]["reason"] == "agreed price"

    refused = await api.delete(base, headers=vault.tokens[PO])
    assert refused.status == 409
    error = (await refused.json())["error"]
    assert error["code"] == "recording_held" and error["holds"][0]["id"] == hold["id"]
    assert "agreed price" in error["message"]
    release = f"{base}/holds/{hold['id']}/release"
    # Evidence holds are released by the privacy officer or an admin only.
    assert (await api.post(release, json={"reason": "done"}, headers=headers)).status == 403
    assert (await api.post(release, json={}, headers=vault.tokens[PO])).status == 422
    released = await api.post(release, json={"reason": "settled"}, headers=vault.tokens[PO])
    assert released.status == 200 and (await released.json())["active"] is False
    assert (await api.delete(base, headers=vault.tokens[AGENT])).status == 403
    assert (await api.delete(base, headers=vault.tokens[PO])).status == 204
    assert (await api.get(base, headers=headers)).status == 404
    assert await vault.count(Recording) == 0 and await vault.objects() == 0
    actions = await _actions(vault)
    for action in ("ingest", "tags", "hold", "release", "delete"):
        assert f"recording.{action}" in actions


async def _actions(vault: Vault) -> list[str]:
    async with vault.sessions() as session:
        return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


async def test_bad_input_is_4xx_and_stores_nothing(vault: Vault, tmp_path: Path) -> None:
    good = make_audio(tmp_path, "wav_pcm", seconds=1)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 50)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.mp3"
    truncated.write_bytes(make_audio(tmp_path, "mp3", seconds=2).read_bytes()[:300])
    cut_wav = tmp_path / "cut-call.wav"
    cut_wav.write_bytes(make_audio(tmp_path, "wav_alaw", seconds=2).read_bytes()[:3001])
    big = tmp_path / "big.wav"
    with big.open("wb") as fh:
        fh.write(good.read_bytes())
        fh.write(b"\0" * (MAX_BYTES + 1))
    long = make_audio(tmp_path, "wav_mulaw", seconds=130)  # over the 120 s limit
    cases = [
        (text, {}, 422),
        (empty, {}, 422),
        (truncated, {}, 422),
        (cut_wav, {}, 422),
        (big, {}, 413),
        (long, {}, 422),
        (None, {"caller": "+31 20 1"}, 422),
        (good, {"started_at": "yesterday"}, 422),
        (good, {"ticket_id": "99999"}, 422),
        (good, {"ticket_id": "abc"}, 422),
        (good, {"ticket_id": "99999999999999999999999"}, 422),
        (good, {"caller": "<script>"}, 422),
    ]
    for path, fields, status in cases:
        response = await vault.upload(path, **fields)
        assert response.status == status, (path, fields, await response.text())
        body = await response.json()
        assert body["error"]["message"], body
        if path is not None and status == 422 and not fields:
            # The user's own file name (made safe), never our temp directory or name.
            message = body["error"]["message"]
            assert message.startswith(path.name + ": "), message
            assert "sd-upload" not in message and "upload." not in message, message
            assert str(vault.settings.data_dir) not in message, message
    not_multipart = await vault.client.post(
        "/api/v1/recordings", data=b"RIFF", headers=vault.tokens[AGENT]
    )
    assert not_multipart.status == 422
    assert await vault.count(Recording) == 0 and await vault.objects() == 0
    assert not list((vault.settings.data_dir / "tmp").iterdir())  # temp files removed


def test_upload_names_are_made_safe() -> None:
    assert safe_filename("../../etc/pass wd.wav") == "pass_wd.wav"
    assert safe_filename("-rf .wav") == "rf_.wav"
    assert safe_filename("..") == "upload" and safe_filename("") == "upload"
    assert safe_filename("a" * 300 + ".gsm").endswith(".gsm")
    assert len(safe_filename("a" * 300 + ".gsm")) == 100


async def test_hold_review_at_takes_a_date_and_echoes_utc(vault: Vault, tmp_path: Path) -> None:
    created = await vault.create(make_audio(tmp_path, "wav_alaw"))
    api, headers = vault.client, vault.tokens[AGENT]
    base = f"/api/v1/recordings/{created['id']}"

    async def hold(review_at: str) -> dict:
        body = {"kind": "training", "reason": "r", "review_at": review_at}
        response = await api.post(f"{base}/holds", json=body, headers=headers)
        assert response.status == 201, await response.text()
        return await response.json()

    # A date alone: the start of that day in the office zone (Europe/Amsterdam, CEST).
    by_day = await hold("2027-06-01")
    assert by_day["review_at"] == "2027-05-31T22:00:00+00:00"
    # A date/time in another offset comes back as the same moment in UTC, in POST and GET.
    by_moment = await hold("2027-06-01T09:30:00+02:00")
    assert by_moment["review_at"] == "2027-06-01T07:30:00+00:00"
    one = await (await api.get(base, headers=headers)).json()
    echoed = {h["id"]: h["review_at"] for h in one["holds"]}
    assert echoed == {by_day["id"]: by_day["review_at"], by_moment["id"]: by_moment["review_at"]}
    for h in [by_day, by_moment, *one["holds"]]:
        assert h["placed_at"].endswith("+00:00")
    assert one["started_at"].endswith("+00:00") and one["expires_at"].endswith("+00:00")
    for bad in ("2027-06-01T09:30:00", "2027-13-01", "next week", "2020-01-01"):
        body = {"kind": "training", "reason": "r", "review_at": bad}
        response = await api.post(f"{base}/holds", json=body, headers=headers)
        assert response.status == 422, bad
        assert (await response.json())["error"]["code"] == "invalid_input"


async def test_access_and_withheld_caller(vault: Vault, tmp_path: Path) -> None:
    api = vault.client
    anonymous = await api.get("/api/v1/recordings")
    assert anonymous.status == 401 and (await anonymous.json())["error"]["code"] == "unauthorized"
    assert (await vault.upload(make_audio(tmp_path, "mp3"), TRAINER)).status == 403
    assert (await api.get("/api/v1/recordings", headers=vault.tokens[TRAINER])).status == 403
    # Named as FreePBX names its recordings: the caller id is in the file name.
    pbx_name = tmp_path / "in-0612345678-1001-20261128-103000-1732789800.123.wav"
    make_audio(tmp_path, "wav_alaw").rename(pbx_name)
    created = await vault.create(pbx_name, caller="0612345678", caller_withheld="1")
    url = f"/api/v1/recordings/{created['id']}"
    assert created["caller"] == "afgeschermd"  # the uploading agent does not see it either
    assert "0612345678" not in created["original_filename"]
    assert created["original_filename"].startswith("in-afgeschermd-1001-")
    agent = await (await api.get(url, headers=vault.tokens[AGENT])).json()
    officer = await (await api.get(url, headers=vault.tokens[PO])).json()
    assert agent["caller"] == "afgeschermd" and officer["caller"] == "0612345678"
    assert officer["original_filename"] == pbx_name.name
    async with vault.sessions() as session:
        details = await session.scalar(
            select(AuditEvent.details).where(AuditEvent.action == "recording.ingest")
        )
    assert "0612345678" not in json.dumps(details)  # admins read the audit
    search = "/api/v1/recordings?number=0612345678"
    hidden = await (await api.get(search, headers=vault.tokens[AGENT])).json()
    shown = await (await api.get(search, headers=vault.tokens[PO])).json()
    assert hidden["items"] == [] and [r["id"] for r in shown["items"]] == [created["id"]]
    maybe = await api.get("/api/v1/recordings?held=maybe", headers=vault.tokens[AGENT])
    assert maybe.status == 422
    trainer = await api.get(f"{url}/audio", headers=vault.tokens[TRAINER])
    assert trainer.status == 403
    hold = await api.post(
        f"{url}/holds", json={"kind": "training", "reason": "good"}, headers=vault.tokens[TRAINER]
    )
    assert hold.status == 403
    assert (
        await api.put(f"{url}/tags", json={"tags": "x"}, headers=vault.tokens[AGENT])
    ).status == 422
    bad_kind = await api.post(
        f"{url}/holds", json={"kind": "forever", "reason": "r"}, headers=vault.tokens[AGENT]
    )
    assert bad_kind.status == 422 and await vault.count(RecordingHold) == 0


async def test_cursor_pages_through_every_recording(vault: Vault, tmp_path: Path) -> None:
    for i in range(3):
        await vault.create(
            make_audio(tmp_path, "ogg_opus", frequency=300 + i),
            started_at=f"2026-11-2{i}T10:00:00+00:00",
        )
    seen, cursor = [], ""
    while True:
        url = "/api/v1/recordings?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await (await vault.client.get(url, headers=vault.tokens[AGENT])).json()
        seen += [r["started_at"][:10] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["2026-11-22", "2026-11-21", "2026-11-20"]
    bad = await vault.client.get("/api/v1/recordings?cursor=zzz", headers=vault.tokens[AGENT])
    assert bad.status == 422


async def test_future_start_deleted_audio_and_far_dates_are_refused(
    vault: Vault, tmp_path: Path
) -> None:
    audio = make_audio(tmp_path, "wav_pcm", seconds=1)
    future = await vault.upload(audio, started_at="2099-01-01T00:00:00Z")
    assert future.status == 422
    assert "in the future" in (await future.json())["error"]["message"]
    created = await vault.create(audio, started_at="2026-11-27T09:04:00Z")  # 4 min skew: fine
    deleted = await vault.client.delete(
        f"/api/v1/recordings/{created['id']}", headers=vault.tokens[PO]
    )
    assert deleted.status == 204
    again = await vault.upload(audio)
    assert again.status == 409
    error = (await again.json())["error"]
    assert error["code"] == "recording_deleted" and "deleted" in error["message"]
    assert await vault.count(Recording) == 0 and await vault.objects() == 0

    headers = vault.tokens[AGENT]
    for query in ("from=0001-01-01", "until=9999-12-31"):
        response = await vault.client.get(f"/api/v1/recordings?{query}", headers=headers)
        assert response.status == 422, query
        assert "out of range" in (await response.json())["error"]["message"]


async def _s3_state(vault: Vault, key: str, version: str) -> tuple[dict[str, str], bool]:
    """The tag and legal hold as the minio SDK reads them from the server."""
    client, bucket = vault.store.client, vault.store.bucket
    tags = await asyncio.to_thread(client.get_object_tags, bucket, key, version_id=version)
    legal = await asyncio.to_thread(
        client.is_object_legal_hold_enabled, bucket, key, version_id=version
    )
    return dict(tags or {}), legal


async def test_parallel_holds_and_releases_keep_s3_in_step(vault: Vault, tmp_path: Path) -> None:
    created = await vault.create(make_audio(tmp_path, "wav_pcm", seconds=1))
    base, api, headers = f"/api/v1/recordings/{created['id']}", vault.client, vault.tokens[AGENT]

    async def place(reason: str) -> int:
        response = await api.post(
            f"{base}/holds", json={"kind": "training", "reason": reason}, headers=headers
        )
        assert response.status == 201, await response.text()
        return (await response.json())["id"]

    async def release(hold_id: int) -> None:
        response = await api.post(
            f"{base}/holds/{hold_id}/release", json={"reason": "done"}, headers=headers
        )
        assert response.status == 200, await response.text()

    async def assert_in_step() -> None:
        one = await (await api.get(base, headers=headers)).json()
        state = await _s3_state(vault, created["object_key"], created["version_id"])
        assert state == ({"retention": "held" if one["held"] else "standard"}, one["held"])

    for _ in range(3):
        holds = await asyncio.gather(place("a"), place("b"))
        await asyncio.gather(*(release(h) for h in holds))  # (A) both released at once
        await assert_in_step()
        old = await place("old")
        _, new = await asyncio.gather(release(old), place("new"))  # (B) release vs new hold
        await assert_in_step()
        await release(new)
        await assert_in_step()


async def test_hold_placed_while_the_recording_is_deleted_is_a_clean_404(
    vault: Vault, tmp_path: Path
) -> None:
    """The delete holds the recording's lock; the hold request waits for it and then
    finds the recording gone (not a 500 from the legal hold on a deleted version)."""
    created = await vault.create(make_audio(tmp_path, "wav_pcm", seconds=1))
    ident = created["id"]
    async with vault.sessions() as session:
        await vault.client.app[RECORDINGS].delete_recording(
            session, ident, actor=Actor.system("t"), reason="requested"
        )
        async with lock_waits(vault.client.app[ENGINE]) as waits:
            placing = asyncio.ensure_future(
                vault.client.post(
                    f"/api/v1/recordings/{ident}/holds",
                    json={"kind": "evidence", "reason": "agreement"},
                    headers=vault.tokens[AGENT],
                )
            )
            await waits.blocked()  # the hold request waits for the delete's lock
        assert not placing.done()
        await session.commit()
    response = await placing
    assert response.status == 404, await response.text()
    assert await vault.count(Recording) == 0 and await vault.count(RecordingHold) == 0
    assert await vault.objects() == 0

    # Raced for real, whichever wins: a 204 and a 404 (or a 409: the hold came while the
    # decided delete called the store), or a 201 and a 409; never a 500.
    for round_ in range(3):
        audio = make_audio(tmp_path, "wav_pcm", seconds=1, frequency=300 + 100 * round_)
        created = await vault.create(audio)
        url = f"/api/v1/recordings/{created['id']}"
        deleted, placed = await asyncio.gather(
            vault.client.delete(url, headers=vault.tokens[PO]),
            vault.client.post(
                f"{url}/holds",
                json={"kind": "evidence", "reason": "agreement"},
                headers=vault.tokens[AGENT],
            ),
        )
        assert (deleted.status, placed.status) in ((204, 404), (204, 409), (409, 201))
        if placed.status == 409:
            assert "being deleted" in (await placed.json())["error"]["message"]
        if placed.status == 201:
            state = await _s3_state(vault, created["object_key"], created["version_id"])
            assert state == ({"retention": "held"}, True)
            hold_id = (await placed.json())["id"]
            released = await vault.client.post(
                f"{url}/holds/{hold_id}/release", json={"reason": "x"}, headers=vault.tokens[PO]
            )
            assert released.status == 200
            assert (await vault.client.delete(url, headers=vault.tokens[PO])).status == 204


async def test_withheld_flag_takes_clear_spellings_only(vault: Vault, tmp_path: Path) -> None:
    """A misread flag would expose a shielded number: unclear values are a 422."""
    for value in ("maybe", "2", "withheld"):
        refused = await vault.upload(
            make_audio(tmp_path, "mp3"), caller="0612345678", **{"caller_withheld": value}
        )
        assert refused.status == 422, value
        assert "caller_withheld" in (await refused.json())["error"]["message"]
    assert await vault.count(Recording) == 0 and await vault.objects() == 0
    spellings = {"ja": True, "ON": True, "Yes": True, "nee": False, "off": False, "": False}
    for frequency, (value, withheld) in enumerate(spellings.items(), start=300):
        audio = make_audio(tmp_path, "mp3", frequency=frequency)
        created = await vault.create(audio, caller="0612345678", caller_withheld=value)
        assert (created["caller"] == "afgeschermd") is withheld, value


async def test_number_filter_matches_the_number_in_any_notation(
    vault: Vault, tmp_path: Path
) -> None:
    mobile = await vault.create(make_audio(tmp_path, "mp3", frequency=300), caller="+31612345678")
    landline = await vault.create(
        make_audio(tmp_path, "mp3", frequency=400), callee="020-765 43 21"
    )
    shielded = await vault.create(
        make_audio(tmp_path, "mp3", frequency=500), caller="0031687654321", caller_withheld="1"
    )

    async def found(number: str, role: StaffRole = AGENT) -> set[int]:
        query = f"/api/v1/recordings?number={quote(number)}"
        response = await vault.client.get(query, headers=vault.tokens[role])
        assert response.status == 200, await response.text()
        return {r["id"] for r in (await response.json())["items"]}

    for number in ("0612345678", "06-12345678", "0031612345678", "+31 6 1234 5678"):
        assert await found(number) == {mobile["id"]}, number
    for number in ("+31207654321", "0207654321", "020 7654321"):
        assert await found(number) == {landline["id"]}, number
    # By identity, not by text: a piece of a number or a wildcard is no number to look for.
    for number in ("5555", "%", "_", "0%", "anonymous"):
        query = f"/api/v1/recordings?number={quote(number)}"
        refused = await vault.client.get(query, headers=vault.tokens[AGENT])
        assert refused.status == 422, number
        assert "not a phone number" in (await refused.json())["error"]["message"]
    # The shielded caller stays unfindable for the agent, in every notation.
    assert await found("0687654321") == set()
    assert await found("+31687654321") == set()
    assert await found("0687654321", PO) == {shielded["id"]}


async def test_tags_are_unique_ignoring_case(vault: Vault, tmp_path: Path) -> None:
    created = await vault.create(make_audio(tmp_path, "mp3"))
    api, headers = vault.client, vault.tokens[AGENT]
    url = f"/api/v1/recordings/{created['id']}/tags"
    tagged = await api.put(url, json={"tags": ["Escalation", "escalation", "VIP"]}, headers=headers)
    assert tagged.status == 200 and (await tagged.json())["tags"] == ["escalation", "vip"]
    for tag in ("ESCALATION", "Vip", "escalation"):
        listed = await (await api.get(f"/api/v1/recordings?tag={tag}", headers=headers)).json()
        assert [r["id"] for r in listed["items"]] == [created["id"]], tag
    await vault.login(AGENT)
    page = await (await api.get("/recordings")).text()
    assert '<option value="escalation">' in page and "Escalation" not in page


async def test_upload_aborted_by_the_client_is_no_server_error(
    vault: Vault, engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Half a multipart body, then the socket closes: an info line, no traceback, no 500
    in the access log, and the partial temp file is gone. Served as `supportdesk admin`
    serves (no handler cancellation, unlike the test client's server)."""
    caplog.set_level(logging.INFO)
    app = create_app(vault.settings, clock=vault.clock, engine=engine, object_store=vault.store)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    audio = make_audio(tmp_path, "wav_pcm", seconds=5).read_bytes()
    boundary = "halfwayboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="call.wav"\r\nContent-Type: audio/wav\r\n\r\n'
    ).encode()
    body = head + audio + f"\r\n--{boundary}--\r\n".encode()
    token = vault.tokens[AGENT]["Authorization"]
    request = (
        f"POST /api/v1/recordings HTTP/1.1\r\nHost: localhost\r\nAuthorization: {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()

    def access() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "supportdesk.access"]

    try:
        _, writer = await asyncio.open_connection(host, port)
        writer.write(request + body[: len(body) // 2])
        await writer.drain()
        for _ in range(100):  # until the handler has written part of the file
            if any((vault.settings.data_dir / "tmp").glob("*/call.wav")):
                break
            await asyncio.sleep(0.02)
        writer.transport.abort()  # the client goes away mid-body
        for _ in range(100):
            if access():
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    assert [r.getMessage() for r in access()] == ["POST /api/v1/recordings 499"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert any("upload aborted by the client" in r.getMessage() for r in caplog.records)
    assert list((vault.settings.data_dir / "tmp").iterdir()) == []
    assert await vault.count(Recording) == 0 and await vault.objects() == 0


async def test_training_hold_review_is_bounded_and_renewed(vault: Vault, tmp_path: Path) -> None:
    """Now is 2026-11-27 10:00 Amsterdam: a training hold's review date is at most
    2027-11-27 (12 months); renewing sets a new date within the same bound, in the API and
    on the page, with the reason in both languages."""
    created = await vault.create(make_audio(tmp_path, "wav_alaw"))
    api, headers = vault.client, vault.tokens[AGENT]
    base = f"/api/v1/recordings/{created['id']}"
    too_far = {"kind": "training", "reason": "r", "review_at": "2027-11-28T12:00:00+01:00"}
    refused = await api.post(f"{base}/holds", json=too_far, headers=headers)
    assert refused.status == 422
    assert "at most 12 months ahead" in (await refused.json())["error"]["message"]
    evidence = {"kind": "evidence", "reason": "r", "review_at": "2029-01-01"}
    assert (await api.post(f"{base}/holds", json=evidence, headers=headers)).status == 201
    ok = {"kind": "training", "reason": "r", "review_at": "2027-11-27"}
    placed = await api.post(f"{base}/holds", json=ok, headers=headers)
    assert placed.status == 201
    hold_id = (await placed.json())["id"]
    renew = f"{base}/holds/{hold_id}/renew"
    assert (await api.post(renew, json={}, headers=headers)).status == 422
    beyond = await api.post(renew, json={"review_at": "2027-12-01"}, headers=headers)
    assert beyond.status == 422
    renewed = await api.post(renew, json={"review_at": "2027-03-01"}, headers=headers)
    assert renewed.status == 200
    assert (await renewed.json())["review_at"] == "2027-02-28T23:00:00+00:00"
    trainer = vault.tokens[TRAINER]
    assert (await api.post(renew, json={"review_at": "2027-03-01"}, headers=trainer)).status == 403

    csrf = await vault.login(AGENT)
    page = await api.post(
        f"/recordings/{created['id']}/holds",
        data={"csrf_token": csrf, "kind": "training", "reason": "r", "review_at": "2028-01-01"},
    )
    assert page.status == 422 and "hoogstens 12 maanden vooruit" in await page.text()
    again = await api.post(
        f"/recording-holds/{hold_id}/renew",
        data={"csrf_token": csrf, "review_at": "2027-06-01"},
        allow_redirects=False,
    )
    assert again.status == 303
    async with vault.sessions() as s:
        hold = await s.get(RecordingHold, hold_id)
        assert hold is not None and hold.review_at.isoformat() == "2027-05-31T22:00:00+00:00"
        renewals = await s.scalars(
            select(AuditEvent).where(AuditEvent.action == "recording.hold_renewed")
        )
        assert len(list(renewals)) == 2
