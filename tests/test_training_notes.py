"""Trainers' timestamped notes on recordings held for training: the listening room's form
(roles, CSRF, bad input stores nothing), the audit trail, and notes going with their
recording (hand delete, retention sweep)."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from recording_audio_helpers import make_audio
from recordings_web_fixtures import *  # noqa: F403  (fixture: vault)
from recordings_web_fixtures import Vault
from retention_helpers import T0, count, recording, sweeper
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.archive import configure_lifecycle
from recordings.notes import NOTE_ADDED, NOTE_DELETED, add_note, list_notes
from recordings.service import RecordingService
from storage.clock import FrozenClock
from storage.models import (
    AuditEvent,
    HoldKind,
    RecordingNote,
    StaffRole,
    StaffUser,
)
from storage.objectstore import S3ObjectStore
from storage.services.audit import Actor
from storage.services.errors import InvalidInput
from storage.services.privacy_erasure import erase_request
from storage.services.privacy_export import export_contact
from tests.privacy_fixtures import OTHER, STAFF, SUBJECT, PrivacyWorld, pworld

pytestmark = pytest.mark.storage
__all__ = ["pworld"]
AGENT, PO, TRAINER, ADMIN = (
    StaffRole.AGENT,
    StaffRole.PRIVACY_OFFICER,
    StaffRole.TRAINER,
    StaffRole.ADMIN,
)
SECONDS = 12  # the test recording's length


async def _held_for_training(vault: Vault, tmp_path: Path, frequency: int = 440) -> int:
    audio = make_audio(tmp_path, "wav_mulaw", seconds=SECONDS, frequency=frequency)
    created = await vault.create(audio)
    placed = await vault.client.post(
        f"/api/v1/recordings/{created['id']}/holds",
        json={"kind": "training", "reason": "Nette de-escalatie"},
        headers=vault.tokens[AGENT],
    )
    assert placed.status == 201, await placed.text()
    return int(created["id"])


async def _actions(vault: Vault, recording_id: int) -> list[str]:
    async with vault.sessions() as session:
        return list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_type == "recording")
                .where(AuditEvent.subject_id == str(recording_id))
                .order_by(AuditEvent.id)
            )
        )


async def test_trainer_adds_notes_at_moments_and_bad_input_stores_nothing(
    vault: Vault, tmp_path: Path
) -> None:
    ident = await _held_for_training(vault, tmp_path)
    client = vault.client
    room = f"/training/{ident}"
    csrf = await vault.login(TRAINER)
    page = await client.get(room)
    html = await page.text()
    assert page.status == 200, html
    assert f'action="/training/{ident}/notes"' in html and 'name="position_ms"' in html
    assert re.findall(r"<audio[^>]*>", html) == [
        f'<audio controls preload="none" src="/training/{ident}/audio">'
    ]
    assert '<script src="/static/player.js" defer>' in html

    async def post(**fields: str):  # type: ignore[no-untyped-def]
        return await client.post(f"{room}/notes", data=fields, allow_redirects=False)

    # CSRF: missing or forged token, nothing stored.
    assert (await post(position_ms="5000", text="Mooi begin")).status == 403
    assert (await post(csrf_token="forged", position_ms="5000", text="x")).status == 403
    assert await vault.count(RecordingNote) == 0

    # Bad input: a clear error and nothing stored.
    bad = {
        "the moment must lie within the recording": [
            {"position_ms": "-1"},
            {"at": "-0:01"},
            {"position_ms": str(SECONDS * 1000 + 500)},
            {"at": "5:00"},
        ],
        "minutes:seconds": [{"at": "1:75"}, {"at": "soon"}, {"position_ms": "12.5s"}],
        "a note is at most 2000 characters": [{"position_ms": "1000", "text": "x" * 2001}],
        "a note needs a text": [{"position_ms": "1000", "text": "   "}],
        "the moment in the recording": [{"text": "no moment"}],
    }
    await client.get("/lang/en")
    for expected, cases in bad.items():
        for case in cases:
            fields = {"csrf_token": csrf, "text": "Goed", **case}
            refused = await post(**fields)
            body = await refused.text()
            assert refused.status == 422 and expected in body, (case, refused.status, body[:300])
    assert await vault.count(RecordingNote) == 0
    assert NOTE_ADDED not in await _actions(vault, ident)

    # The player's moment (hidden field), or a typed mm:ss that wins over it.
    done = await post(csrf_token=csrf, position_ms="5250", text="Hier benoemt ze het probleem")
    assert done.status == 303, await done.text()
    assert re.fullmatch(rf"/training/{ident}#note-\d+", done.headers["Location"])
    typed = await post(csrf_token=csrf, at="0:07", position_ms="5250", text="Goede samenvatting")
    assert typed.status == 303
    async with vault.sessions() as session:
        notes = await list_notes(session, ident)
    assert [(n.position_ms, n.text, n.author) for n in notes] == [
        (5250, "Hier benoemt ze het probleem", "trainer"),
        (7000, "Goede samenvatting", "trainer"),
    ]
    html = await (await client.get(room)).text()
    assert re.search(r'data-seek-ms="5250"[^>]*>0:05</a>', html)
    assert re.search(r'data-seek-ms="7000"[^>]*>0:07</a>', html)
    assert await _actions(vault, ident) == [
        "recording.ingest",
        "recording.hold",
        NOTE_ADDED,
        NOTE_ADDED,
    ]
    async with vault.sessions() as session:
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == NOTE_ADDED).order_by(AuditEvent.id)
        )
    assert event is not None and event.actor_label == "trainer"
    assert event.details == {"note_id": notes[0].id, "position_ms": 5250}
    # The library shows how many notes a recording has and links the room.
    library = await (await client.get("/training")).text()
    assert f'href="/training/{ident}"' in library and "2 training notes" in library


async def test_notes_are_for_trainers_and_admins_on_the_training_library_only(
    vault: Vault, tmp_path: Path
) -> None:
    ident = await _held_for_training(vault, tmp_path)
    other = await vault.create(make_audio(tmp_path, "wav_mulaw", seconds=2, frequency=880))
    client = vault.client
    for role in (AGENT, PO):
        csrf = await vault.login(role)
        assert (await client.get(f"/training/{ident}")).status == 403
        refused = await client.post(
            f"/training/{ident}/notes",
            data={"csrf_token": csrf, "position_ms": "1000", "text": "x"},
            allow_redirects=False,
        )
        assert refused.status == 403
    csrf = await vault.login(TRAINER)
    # Not held for training: not in the library, so no room and no notes.
    assert (await client.get(f"/training/{other['id']}")).status == 404
    refused = await client.post(
        f"/training/{other['id']}/notes",
        data={"csrf_token": csrf, "position_ms": "1000", "text": "x"},
        allow_redirects=False,
    )
    assert refused.status == 404
    trainer_note = await client.post(
        f"/training/{ident}/notes",
        data={"csrf_token": csrf, "position_ms": "1000", "text": "Van de trainer"},
        allow_redirects=False,
    )
    assert trainer_note.status == 303
    admin_csrf = await vault.login(ADMIN)
    admin_note = await client.post(
        f"/training/{ident}/notes",
        data={"csrf_token": admin_csrf, "position_ms": "2000", "text": "Van de beheerder"},
        allow_redirects=False,
    )
    assert admin_note.status == 303
    # The recording page links admins to the listening room.
    assert f'href="/training/{ident}"' in await (await client.get(f"/recordings/{ident}")).text()
    async with vault.sessions() as session:
        notes = {n.text: n.id for n in await list_notes(session, ident)}
    # Delete own only: the admin may not delete the trainer's note.
    page = await (await client.get(f"/training/{ident}")).text()
    assert f'action="/training-notes/{notes["Van de trainer"]}/delete"' not in page
    assert f'action="/training-notes/{notes["Van de beheerder"]}/delete"' in page
    forbidden = await client.post(
        f"/training-notes/{notes['Van de trainer']}/delete",
        data={"csrf_token": admin_csrf},
        allow_redirects=False,
    )
    assert forbidden.status == 403
    csrf = await vault.login(TRAINER)
    no_token = await client.post(
        f"/training-notes/{notes['Van de trainer']}/delete", allow_redirects=False
    )
    assert no_token.status == 403
    deleted = await client.post(
        f"/training-notes/{notes['Van de trainer']}/delete",
        data={"csrf_token": csrf},
        allow_redirects=False,
    )
    assert deleted.status == 303 and deleted.headers["Location"] == f"/training/{ident}#notes"
    async with vault.sessions() as session:
        left = [n.text for n in await list_notes(session, ident)]
    assert left == ["Van de beheerder"]
    assert (await _actions(vault, ident))[-3:] == [NOTE_ADDED, NOTE_ADDED, NOTE_DELETED]


async def test_notes_go_when_the_recording_is_deleted(vault: Vault, tmp_path: Path) -> None:
    ident = await _held_for_training(vault, tmp_path)
    keep = await _held_for_training(vault, tmp_path, 660)  # another one keeps its notes
    csrf = await vault.login(TRAINER)
    for recording_id in (ident, ident, keep):
        added = await vault.client.post(
            f"/training/{recording_id}/notes",
            data={"csrf_token": csrf, "position_ms": "1000", "text": "Let op de toon"},
            allow_redirects=False,
        )
        assert added.status == 303
    recording_info = await (
        await vault.client.get(f"/api/v1/recordings/{ident}", headers=vault.tokens[ADMIN])
    ).json()
    hold_id = recording_info["holds"][0]["id"]
    released = await vault.client.post(
        f"/api/v1/recordings/{ident}/holds/{hold_id}/release",
        json={"reason": "klaar met de training"},
        headers=vault.tokens[AGENT],
    )
    assert released.status == 200, await released.text()
    gone = await vault.client.delete(
        f"/api/v1/recordings/{ident}", headers=vault.tokens[ADMIN], json={"reason": "verzoek"}
    )
    assert gone.status in (200, 204), await gone.text()
    async with vault.sessions() as session:
        assert [n.recording_id for n in await session.scalars(select(RecordingNote))] == [keep]
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "recording.delete")
        )
        assert event is not None and event.details["notes_deleted"] == 2
        # The notes' events are about the recording: their details go with it.
        stripped = list(
            await session.scalars(
                select(AuditEvent.details).where(
                    AuditEvent.action == NOTE_ADDED, AuditEvent.subject_id == str(ident)
                )
            )
        )
    assert stripped == [{"stripped": "subject deleted"}] * 2


@pytest.fixture
async def store(s3_endpoint: str, s3_bucket: str) -> AsyncIterator[S3ObjectStore]:
    instance = S3ObjectStore(s3_endpoint, "test", "testtest", s3_bucket)
    await configure_lifecycle(instance)  # creates the bucket with object lock
    try:
        yield instance
    finally:
        await instance.close()


async def _trainer(session: AsyncSession) -> StaffUser:
    user = StaffUser(username="tess", password_hash="x", role=TRAINER, created_at=T0, updated_at=T0)
    session.add(user)
    await session.flush()
    return user


async def test_notes_go_with_the_recording_in_the_retention_sweep(
    session_factory: async_sessionmaker[AsyncSession], store: S3ObjectStore
) -> None:
    """A training hold ends on its review date; the sweep then deletes the expired
    recording, and its notes with it."""
    clock = FrozenClock(T0)
    vault = RecordingService(clock, store)
    async with session_factory() as s:
        trainer = await _trainer(s)
        rec = await recording(s, store, T0)
        await vault.place_hold(
            s, rec.id, kind=HoldKind.TRAINING, reason="voorbeeld", actor=Actor.staff(trainer)
        )
        for moment in (1000, 20_000):
            await add_note(s, rec.id, position_ms=moment, text="toon", author=trainer, now=T0)
        with pytest.raises(InvalidInput):
            await add_note(s, rec.id, position_ms=42_001, text="te laat", author=trainer, now=T0)
        await s.commit()
        rec_id = rec.id
    clock.set(T0 + timedelta(days=200))
    first = await sweeper(session_factory, store, clock).run()
    assert first.failed == 0, first.rules
    async with session_factory() as s:
        assert await count(s, RecordingNote) == 2  # still held for training
    clock.set(T0 + timedelta(days=366))
    result = await sweeper(session_factory, store, clock).run()
    assert result.failed == 0, result.rules
    assert result.rules["recordings"].deleted == 1
    async with session_factory() as s:
        assert await count(s, RecordingNote) == 0
        deleted = await s.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "recording.delete", AuditEvent.subject_id == str(rec_id)
            )
        )
        assert deleted is not None and deleted.details["notes_deleted"] == 2


async def test_export_lists_the_notes_and_erasure_takes_them(
    pworld: PrivacyWorld, tmp_path: Path
) -> None:
    """Notes are staff notes about the subject's call: exported with the hold history
    (free text redacted like it); an erasure deletes them with the recording, and a note on
    someone else's recording that names the subject loses the mention."""
    trained, others = SUBJECT.recording_ids[0], OTHER.recording_ids[0]
    async with pworld.sessions() as s:
        trainer = await _trainer(s)
        for recording_id in (trained, others):
            await pworld.recordings.place_hold(
                s, recording_id, kind=HoldKind.TRAINING, reason="voorbeeld", actor=STAFF
            )
        own = await add_note(
            s, trained, position_ms=750, text="Rustig uitgelegd", author=trainer, now=T0
        )
        mention = await add_note(
            s,
            others,
            position_ms=500,
            text=f"Hij noemt {SUBJECT.name} als collega",
            author=trainer,
            now=T0,
        )
        own_id, mention_id = own.id, mention.id
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        await s.commit()
        document = await export_contact(pworld.privacy, s, SUBJECT.contact_id, actor=STAFF)
        await s.commit()
        body = await (await pworld.store.get(document.object_key)).read_all()
    (tmp_path / "export.zip").write_bytes(body)
    zf = zipfile.ZipFile(tmp_path / "export.zip")
    notes = json.loads(zf.read("recording_notes.json"))
    assert [(n["id"], n["recording_id"], n["position_ms"], n["text"]) for n in notes] == [
        (own_id, trained, 750, "Rustig uitgelegd")
    ]
    assert "recording_notes" in zf.read("README.txt").decode()

    async with pworld.sessions() as s:
        result = await erase_request(
            pworld.privacy, pworld.recordings, s, pworld.request_id, actor=STAFF
        )
        await s.commit()
        outcomes = {(i.type, i.id): i.outcome for i in result.items}
        assert outcomes[("recording", trained)] == "erased"
        assert outcomes[("recording_note", mention_id)] == "anonymised"
        assert await s.get(RecordingNote, own_id, populate_existing=True) is None
        left = await s.get(RecordingNote, mention_id, populate_existing=True)
        assert left is not None and SUBJECT.name.split()[0] not in left.text
