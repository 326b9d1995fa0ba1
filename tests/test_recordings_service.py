"""Recording vault service against both object stores (local directory, and moto's S3
server through the real minio SDK): ingest, holds, the single delete path, the sweeper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from minio.error import S3Error
from recording_audio_helpers import make_audio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from recordings.archive import RETENTION_RULE_ID, configure_lifecycle
from recordings.audio import AudioError, AudioLimits
from recordings.service import (
    IngestMetadata,
    RecordingHeld,
    RecordingPolicy,
    RecordingService,
    caller_for,
    may_delete_recording,
    may_release_hold,
)
from storage.clock import FrozenClock
from storage.models import (
    AuditEvent,
    HoldKind,
    PendingObject,
    Recording,
    RecordingHold,
    StaffRole,
)
from storage.objectstore import LocalObjectStore, ObjectStore, S3ObjectStore
from storage.retention.rules import schedule
from storage.retention.sweeper import Sweeper
from storage.services.audit import Actor
from storage.services.errors import Conflict, Forbidden, InvalidInput
from tests.lock_waits import lock_waits

pytestmark = pytest.mark.storage

T0 = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
ACTOR = Actor("staff", 1, "alice")
PO = StaffRole.PRIVACY_OFFICER
POLICY = RecordingPolicy(audio=AudioLimits(max_bytes=5 * 1024 * 1024, max_seconds=60))


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        instance: ObjectStore = LocalObjectStore(tmp_path / "objects")
    else:
        instance = S3ObjectStore(
            request.getfixturevalue("s3_endpoint"),
            "test",
            "testtest",
            request.getfixturevalue("s3_bucket"),
        )
    await configure_lifecycle(instance)
    try:
        yield instance
    finally:
        await instance.close()


@pytest.fixture
async def s3_store(s3_endpoint: str, s3_bucket: str) -> AsyncIterator[S3ObjectStore]:
    instance = S3ObjectStore(s3_endpoint, "test", "testtest", s3_bucket)
    assert await configure_lifecycle(instance) is True
    assert await configure_lifecycle(instance) is False  # idempotent
    try:
        yield instance
    finally:
        await instance.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0 + timedelta(hours=1))


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _ingest(
    svc: RecordingService, session: AsyncSession, path: Path, **meta: object
) -> Recording:
    result = await svc.ingest(session, path, IngestMetadata(started_at=T0, **meta), ACTOR)  # type: ignore[arg-type]
    await session.commit()
    return result.recording


async def test_ingest_is_idempotent_and_tagged(
    store: ObjectStore, session: AsyncSession, clock: FrozenClock, tmp_path: Path
) -> None:
    svc = RecordingService(clock, store, POLICY)
    path = make_audio(tmp_path, "wav_mulaw")
    first = await svc.ingest(
        session,
        path,
        IngestMetadata(started_at=T0, caller="+31201234567", caller_withheld=True, agent="bob"),
        ACTOR,
    )
    await session.commit()
    assert first.created
    rec = first.recording
    assert rec.version_id and rec.object_key.startswith("recordings/2026/01/")
    assert rec.expires_at == T0 + timedelta(days=90)
    assert rec.original_format == "wav/pcm_mulaw" and rec.sample_rate == 8000
    assert await store.get_tags(rec.object_key, version_id=rec.version_id) == {
        "retention": "standard"
    }
    stored = await (await store.get(rec.object_key, version_id=rec.version_id)).read_all()
    assert len(stored) == rec.archive_size
    again = await svc.ingest(session, path, IngestMetadata(started_at=T0), ACTOR)
    assert not again.created and again.recording.id == rec.id
    assert await _count(session, Recording) == 1
    assert len(await store.list("recordings/")) == 1
    actions = list(await session.scalars(select(AuditEvent.action)))
    assert actions.count("recording.ingest") == 1
    assert caller_for(rec, StaffRole.AGENT) == "afgeschermd"
    assert caller_for(rec, StaffRole.TRAINER) == "afgeschermd"
    assert caller_for(rec, StaffRole.PRIVACY_OFFICER) == "+31201234567"


async def test_bad_input_leaves_no_row_and_no_object(
    store: ObjectStore,
    session: AsyncSession,
    clock: FrozenClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc = RecordingService(clock, store, POLICY)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"\x00\x01not audio" * 500)
    good = make_audio(tmp_path, "mp3", seconds=2.0)
    truncated = tmp_path / "cut.wav"
    truncated.write_bytes(make_audio(tmp_path, "wav_alaw", seconds=2.0).read_bytes()[:9000])
    for path in (empty, junk, truncated, tmp_path / "missing.wav"):
        with pytest.raises(AudioError):
            await svc.ingest(session, path, IngestMetadata(started_at=T0), ACTOR)
    small = RecordingService(clock, store, RecordingPolicy(audio=AudioLimits(max_seconds=1)))
    with pytest.raises(AudioError, match="over the limit"):
        await small.ingest(session, good, IngestMetadata(started_at=T0), ACTOR)
    with pytest.raises(InvalidInput, match="ticket 999"):
        await svc.ingest(session, good, IngestMetadata(started_at=T0, ticket_id=999), ACTOR)
    with pytest.raises(InvalidInput, match="time zone"):
        await svc.ingest(session, good, IngestMetadata(started_at=datetime(2026, 1, 1)), ACTOR)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr("recordings.service.audit.record", broken)
    with pytest.raises(RuntimeError, match="went away"):
        await svc.ingest(session, good, IngestMetadata(started_at=T0), ACTOR)
    await session.rollback()
    assert await _count(session, Recording) == 0
    assert await _count(session, PendingObject) == 0
    assert await store.list("") == []


async def test_holds_stack_and_delete_is_refused_while_held(
    store: ObjectStore, session: AsyncSession, clock: FrozenClock, tmp_path: Path
) -> None:
    svc = RecordingService(clock, store, POLICY)
    rec = await _ingest(svc, session, make_audio(tmp_path, "ogg_opus"))
    key, version = rec.object_key, rec.version_id
    with pytest.raises(InvalidInput, match="reason"):
        await svc.place_hold(session, rec.id, kind=HoldKind.TRAINING, reason="  ", actor=ACTOR)
    training = await svc.place_hold(
        session, rec.id, kind=HoldKind.TRAINING, reason="good de-escalation", actor=ACTOR
    )
    evidence = await svc.place_hold(
        session, rec.id, kind=HoldKind.EVIDENCE, reason="verbal contract", actor=ACTOR
    )
    await session.commit()
    assert training.review_at == clock.now() + timedelta(days=365)
    assert evidence.review_at == clock.now() + timedelta(days=730)
    assert await store.get_tags(key, version_id=version) == {"retention": "held"}
    assert await store.is_legal_hold(key, version_id=version)

    with pytest.raises(RecordingHeld) as refused:
        await svc.delete_recording(session, rec.id, actor=ACTOR)
    assert isinstance(refused.value, Conflict) and refused.value.status == 409
    assert "good de-escalation" in refused.value.message
    assert "verbal contract" in refused.value.message
    assert {h.id for h in refused.value.holds} == {training.id, evidence.id}

    with pytest.raises(InvalidInput):
        await svc.release_hold(session, rec.id, training.id, reason="", actor=ACTOR, role=PO)
    await svc.release_hold(
        session, rec.id, training.id, reason="course done", actor=ACTOR, role=StaffRole.AGENT
    )
    await session.commit()
    assert await store.is_legal_hold(key, version_id=version)  # evidence still holds it
    with pytest.raises(RecordingHeld, match="verbal contract"):
        await svc.delete_recording(session, rec.id, actor=ACTOR)
    with pytest.raises(Conflict, match="already released"):
        await svc.release_hold(session, rec.id, training.id, reason="again", actor=ACTOR, role=PO)
    await svc.release_hold(
        session, rec.id, evidence.id, reason="dispute settled", actor=ACTOR, role=PO
    )
    await session.commit()
    assert await store.get_tags(key, version_id=version) == {"retention": "standard"}
    assert not await store.is_legal_hold(key, version_id=version)

    await svc.delete_recording(session, rec.id, actor=ACTOR, reason="requested")
    await session.commit()
    assert await _count(session, Recording) == 0
    assert await _count(session, RecordingHold) == 0
    assert not await store.exists(key, version_id=version)
    actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == [
        "recording.ingest",
        "recording.hold",
        "recording.hold",
        "recording.release",
        "recording.release",
        "recording.delete",
    ]


async def test_s3_bucket_lifecycle_tag_and_legal_hold_through_sdk(
    s3_store: S3ObjectStore, session: AsyncSession, clock: FrozenClock, tmp_path: Path
) -> None:
    client, bucket = s3_store.client, s3_store.bucket
    assert client.get_bucket_versioning(bucket).status == "Enabled"
    assert client.get_object_lock_config(bucket) is not None
    rules = {rule.rule_id: rule for rule in client.get_bucket_lifecycle(bucket).rules}
    retention = rules[RETENTION_RULE_ID]
    assert retention.status == "Enabled"
    assert retention.expiration.days == 90
    assert (retention.rule_filter.tag.key, retention.rule_filter.tag.value) == (
        "retention",
        "standard",
    )
    cleanup = next(r for r in rules.values() if r.rule_id != RETENTION_RULE_ID)
    assert cleanup.noncurrent_version_expiration.noncurrent_days >= 1
    assert cleanup.expiration.expired_object_delete_marker is True

    svc = RecordingService(clock, s3_store, POLICY)
    rec = await _ingest(svc, session, make_audio(tmp_path, "m4a_aac"))
    key, version = rec.object_key, rec.version_id
    assert dict(client.get_object_tags(bucket, key, version_id=version)) == {
        "retention": "standard"
    }
    assert not client.is_object_legal_hold_enabled(bucket, key, version_id=version)
    hold = await svc.place_hold(
        session, rec.id, kind=HoldKind.EVIDENCE, reason="agreement on price", actor=ACTOR
    )
    await session.commit()
    assert dict(client.get_object_tags(bucket, key, version_id=version)) == {"retention": "held"}
    assert client.is_object_legal_hold_enabled(bucket, key, version_id=version)
    with pytest.raises(S3Error):
        client.remove_object(bucket, key, version_id=version)
    assert client.stat_object(bucket, key, version_id=version).version_id == version
    await svc.release_hold(session, rec.id, hold.id, reason="settled", actor=ACTOR, role=PO)
    await session.commit()
    assert dict(client.get_object_tags(bucket, key, version_id=version)) == {
        "retention": "standard"
    }
    assert not client.is_object_legal_hold_enabled(bucket, key, version_id=version)


async def test_release_hold_enforces_the_release_roles(
    session: AsyncSession, clock: FrozenClock, tmp_path: Path
) -> None:
    """The service, not the views, refuses: so admin pages, API and CLI share the rule."""
    svc = RecordingService(clock, LocalObjectStore(tmp_path / "objects"), POLICY)
    rec = await _ingest(svc, session, make_audio(tmp_path, "wav_pcm"))
    training = await svc.place_hold(
        session, rec.id, kind=HoldKind.TRAINING, reason="example", actor=ACTOR
    )
    evidence = await svc.place_hold(
        session, rec.id, kind=HoldKind.EVIDENCE, reason="contract", actor=ACTOR
    )
    await session.commit()
    for role in (StaffRole.AGENT, StaffRole.TRAINER):
        with pytest.raises(Forbidden) as refused:
            await svc.release_hold(
                session, rec.id, evidence.id, reason="done", actor=ACTOR, role=role
            )
        assert refused.value.status == 403 and refused.value.code == "forbidden"
        assert refused.value.message.startswith("an evidence hold may not be released")
    with pytest.raises(Forbidden):  # refused before the reason is even looked at
        await svc.release_hold(
            session, rec.id, training.id, reason="", actor=ACTOR, role=StaffRole.TRAINER
        )
    assert [h.released_at for h in (await svc.get(session, rec.id)).holds] == [None, None]
    await svc.release_hold(
        session, rec.id, training.id, reason="done", actor=ACTOR, role=StaffRole.AGENT
    )
    await svc.release_hold(
        session, rec.id, evidence.id, reason="settled", actor=ACTOR, role=StaffRole.ADMIN
    )
    await session.commit()
    assert all(h.released_at is not None for h in (await svc.get(session, rec.id)).holds)


async def test_sweep_at_ninety_days(
    store: ObjectStore,
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    """The retention sweeper's recordings rule (the one sweep path) on both stores."""
    svc = RecordingService(clock, store, POLICY)
    rules = tuple(rule for rule in schedule() if rule.key == "recordings")
    sweeper = Sweeper(session_factory, store, clock, rules, recordings=svc)
    plain = await _ingest(svc, session, make_audio(tmp_path, "wav_pcm", frequency=300))
    held = await _ingest(svc, session, make_audio(tmp_path, "wav_pcm", frequency=500))
    later = await _ingest(
        svc,
        session,
        make_audio(tmp_path, "wav_pcm", frequency=700),
    )
    later.call_started_at = T0 + timedelta(days=1)
    later.expires_at = T0 + timedelta(days=91)
    await svc.place_hold(session, held.id, kind=HoldKind.TRAINING, reason="example", actor=ACTOR)
    await session.commit()
    deadline = T0 + timedelta(days=90)

    early = (await sweeper.run(now=deadline - timedelta(seconds=1))).rules["recordings"]
    assert (early.deleted, early.kept_held) == (0, 0)
    dry = await sweeper.run(now=deadline + timedelta(seconds=1), dry_run=True)
    assert (dry.rules["recordings"].deleted, dry.rules["recordings"].kept_held) == (1, 1)
    assert await _count(session, Recording) == 3
    await session.commit()  # end the read: SQLite transactions take the write lock

    clock.set(deadline + timedelta(seconds=1))
    report = (await sweeper.run()).rules["recordings"]
    assert (report.deleted, report.kept_held, report.failed) == (1, 1, [])
    remaining = set(await session.scalars(select(Recording.id)))
    assert remaining == {held.id, later.id}
    assert len(await store.list("recordings/")) == 2
    events = list(
        await session.scalars(select(AuditEvent).where(AuditEvent.action == "recording.delete"))
    )
    assert [(e.subject_id, e.actor_type) for e in events] == [(str(plain.id), "system")]


async def test_tags_and_permissions(
    store: ObjectStore, session: AsyncSession, clock: FrozenClock, tmp_path: Path
) -> None:
    svc = RecordingService(clock, store, POLICY)
    rec = await _ingest(svc, session, make_audio(tmp_path, "raw_gsm"))
    assert await svc.set_tags(
        session, rec.id, ["escalation", " billing   dispute ", "escalation", ""], actor=ACTOR
    ) == ["billing dispute", "escalation"]
    await session.commit()
    assert await svc.set_tags(session, rec.id, ["escalation", "vip"], actor=ACTOR) == [
        "escalation",
        "vip",
    ]
    await session.commit()
    assert [t.tag for t in (await svc.get(session, rec.id)).tags] == ["escalation", "vip"]
    assert await store.get_tags(rec.object_key, version_id=rec.version_id) == {
        "retention": "standard"
    }
    with pytest.raises(InvalidInput):
        await svc.set_tags(session, rec.id, ["x" * 65], actor=ACTOR)
    assert may_release_hold(HoldKind.EVIDENCE, StaffRole.PRIVACY_OFFICER)
    assert may_release_hold(HoldKind.EVIDENCE, StaffRole.ADMIN)
    assert not may_release_hold(HoldKind.EVIDENCE, StaffRole.TRAINER)
    assert not may_release_hold(HoldKind.EVIDENCE, StaffRole.AGENT)
    assert may_release_hold(HoldKind.TRAINING, StaffRole.AGENT)
    assert not may_release_hold(HoldKind.TRAINING, StaffRole.TRAINER)
    assert may_delete_recording(StaffRole.ADMIN) and not may_delete_recording(StaffRole.AGENT)


async def test_parallel_holds_and_releases_keep_s3_in_step_with_the_rows(
    s3_store: S3ObjectStore,
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    """Each call in its own session and transaction, several at once: the row lock makes
    them take turns, so the tag and legal hold always end as the hold rows say."""
    svc = RecordingService(clock, s3_store, POLICY)
    rec = await _ingest(svc, session, make_audio(tmp_path, "wav_pcm"))
    key, version = rec.object_key, rec.version_id
    client, bucket = s3_store.client, s3_store.bucket

    async def place(reason: str) -> int:
        async with session_factory() as own:
            hold = await svc.place_hold(
                own, rec.id, kind=HoldKind.TRAINING, reason=reason, actor=ACTOR
            )
            await own.commit()
            return hold.id

    async def release(hold_id: int) -> None:
        async with session_factory() as own:
            await svc.release_hold(
                own, rec.id, hold_id, reason="done", actor=ACTOR, role=StaffRole.AGENT
            )
            await own.commit()

    async def assert_in_step() -> None:
        async with session_factory() as own:
            active = await own.scalar(
                select(func.count())
                .select_from(RecordingHold)
                .where(RecordingHold.recording_id == rec.id, RecordingHold.released_at.is_(None))
            )
        tags = await asyncio.to_thread(client.get_object_tags, bucket, key, version_id=version)
        legal = await asyncio.to_thread(
            client.is_object_legal_hold_enabled, bucket, key, version_id=version
        )
        expected = "held" if active else "standard"
        assert (dict(tags or {}), legal) == ({"retention": expected}, bool(active)), active

    for _ in range(4):
        # (A) the last holds released at the same time: nothing may stay held in S3.
        holds = await asyncio.gather(*(place(f"example {i}") for i in range(3)))
        await assert_in_step()
        await asyncio.gather(*(release(h) for h in holds))
        await assert_in_step()
        # (B) the last hold released while a new one is placed: S3 must stay held.
        old = await place("old")
        _, new = await asyncio.gather(release(old), place("new"))
        await assert_in_step()
        await release(new)
        await assert_in_step()


async def test_deleted_audio_is_not_imported_again(
    store: ObjectStore, session: AsyncSession, clock: FrozenClock, tmp_path: Path
) -> None:
    """The tombstone keeps the original's sha256 (not personal data): a re-run import of the
    same export does not bring a deleted recording back with a fresh 90 days."""
    from recordings.service import RecordingDeleted
    from storage.models import RecordingTombstone

    svc = RecordingService(clock, store, POLICY)
    path = make_audio(tmp_path, "wav_mulaw")
    rec = await _ingest(svc, session, path)
    sha, rec_id = rec.sha256_original, rec.id
    await svc.delete_recording(session, rec_id, actor=ACTOR, reason="by hand")
    await session.commit()
    tombstone = await session.scalar(select(RecordingTombstone))
    assert tombstone is not None and tombstone.sha256_original == sha
    with pytest.raises(RecordingDeleted) as refused:
        await svc.ingest(session, path, IngestMetadata(started_at=T0), ACTOR)
    assert refused.value.status == 409 and refused.value.code == "recording_deleted"
    assert f"recording {rec_id}" in refused.value.message
    await session.rollback()
    assert await _count(session, Recording) == 0
    assert await store.list("recordings/") == []
    # Other audio is still welcome.
    assert (await svc.ingest(session, make_audio(tmp_path, "mp3"), IngestMetadata(), ACTOR)).created


async def test_future_call_start_is_refused(
    store: ObjectStore, session: AsyncSession, clock: FrozenClock, tmp_path: Path
) -> None:
    svc = RecordingService(clock, store, POLICY)
    path = make_audio(tmp_path, "wav_pcm")
    for ahead in (timedelta(minutes=6), timedelta(days=365 * 70)):
        with pytest.raises(InvalidInput, match="in the future"):
            await svc.ingest(session, path, IngestMetadata(started_at=clock.now() + ahead), ACTOR)
    assert await _count(session, Recording) == 0 and await store.list("") == []
    skewed = clock.now() + timedelta(minutes=4)  # a PBX clock a little ahead is fine
    rec = (await svc.ingest(session, path, IngestMetadata(started_at=skewed), ACTOR)).recording
    assert rec.expires_at == skewed + timedelta(days=90)


async def test_a_lying_header_neither_passes_the_limit_nor_stores_its_length(
    store: ObjectStore, session: AsyncSession, clock: FrozenClock, tmp_path: Path
) -> None:
    from recording_audio_helpers import make_lying_mp3

    liar = make_lying_mp3(tmp_path, seconds=8, claimed=1)
    small = RecordingService(clock, store, RecordingPolicy(audio=AudioLimits(max_seconds=5)))
    with pytest.raises(AudioError, match="over the limit of 5 s"):
        await small.ingest(session, liar, IngestMetadata(started_at=T0), ACTOR)
    await session.rollback()
    assert await _count(session, Recording) == 0 and await store.list("") == []
    rec = await _ingest(RecordingService(clock, store, POLICY), session, liar)
    assert rec.duration_seconds == pytest.approx(8, abs=0.2)


async def test_parallel_tag_edits_take_turns(
    store: ObjectStore,
    engine: AsyncEngine,
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    """A second edit while the first is uncommitted waits for it (row lock) and then adds
    only its own tag, instead of inserting the same (recording, tag) again."""
    svc = RecordingService(clock, store, POLICY)
    rec = await _ingest(svc, session, make_audio(tmp_path, "raw_gsm"))
    async with session_factory() as first, session_factory() as second:
        assert await svc.set_tags(first, rec.id, ["Escalation"], actor=ACTOR) == ["escalation"]

        async def edit() -> list[str]:
            tags = await svc.set_tags(second, rec.id, ["escalation", "VIP"], actor=ACTOR)
            await second.commit()
            return tags

        async with lock_waits(engine) as waits:
            waiting = asyncio.create_task(edit())
            await waits.blocked()
        assert not waiting.done()  # held up by the first edit's lock
        await first.commit()
        assert await asyncio.wait_for(waiting, 10) == ["escalation", "vip"]
    async with session_factory() as check:
        assert [t.tag for t in (await svc.get(check, rec.id)).tags] == ["escalation", "vip"]
        details = list(
            await check.scalars(
                select(AuditEvent.details)
                .where(AuditEvent.action == "recording.tags")
                .order_by(AuditEvent.id)
            )
        )
    assert [d["added"] for d in details] == [["escalation"], ["vip"]]
