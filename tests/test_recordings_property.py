"""Property: random ingest / hold / release / sweep-at-T / delete sequences never delete a
held recording, and a sweep at T leaves no recording past its 90 days that is not held."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recording_audio_helpers import make_audio
from sqlalchemy import select

from recordings.audio import AudioLimits
from recordings.service import (
    IngestMetadata,
    RecordingDeleted,
    RecordingHeld,
    RecordingPolicy,
    RecordingService,
    active_holds,
)
from storage.clock import FrozenClock
from storage.db import create_engine, create_sessionmaker
from storage.models import HoldKind, Recording, StaffRole
from storage.objectstore import LocalObjectStore
from storage.retention.rules import schedule
from storage.retention.sweeper import Sweeper
from storage.services.audit import Actor
from tests.db_template import copy_sqlite_template

pytestmark = pytest.mark.storage

T0 = datetime(2026, 3, 1, tzinfo=UTC)
ACTOR = Actor("staff", 1, "prop")
POOL = 4

op = st.one_of(
    st.tuples(st.just("ingest"), st.integers(0, POOL - 1), st.integers(0, 120)),
    st.tuples(st.just("hold"), st.integers(0, POOL - 1), st.sampled_from(list(HoldKind))),
    st.tuples(st.just("release"), st.integers(0, POOL - 1), st.just(0)),
    st.tuples(st.just("sweep"), st.integers(0, 250), st.just(0)),
    st.tuples(st.just("delete"), st.integers(0, POOL - 1), st.just(0)),
)


@pytest.fixture(scope="module")
def audio_pool(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("pool")
    return [
        make_audio(directory, "wav_pcm", seconds=0.2, frequency=200 + 100 * i) for i in range(POOL)
    ]


async def _scenario(
    pool: list[Path], template: Path, steps: list[tuple[str, object, object]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(copy_sqlite_template(template, Path(tmp) / "p.sqlite3"))
        store = LocalObjectStore(Path(tmp) / "objects")
        await store.ensure_bucket()
        # Past every call start the steps use: a call start in the future is refused.
        clock = FrozenClock(T0 + timedelta(days=121))
        svc = RecordingService(
            clock, store, RecordingPolicy(audio=AudioLimits(max_seconds=10), temp_dir=Path(tmp))
        )
        sessions = create_sessionmaker(engine)
        recordings_rule = tuple(rule for rule in schedule() if rule.key == "recordings")
        sweeper = Sweeper(sessions, store, clock, recordings_rule, batch=2, recordings=svc)
        ids: dict[int, int] = {}  # pool index -> recording id
        try:
            async with sessions() as session:
                for name, a, b in steps:
                    held_before = {r.id for r in await _all(session, svc) if active_holds(r)}
                    if name == "ingest":
                        meta = IngestMetadata(started_at=T0 + timedelta(days=int(b)))  # type: ignore[arg-type]
                        try:
                            result = await svc.ingest(session, pool[int(a)], meta, ACTOR)  # type: ignore[arg-type]
                        except RecordingDeleted:  # deleted before: it never comes back
                            assert await session.get(Recording, ids[int(a)]) is None  # type: ignore[arg-type]
                        else:
                            ids[int(a)] = result.recording.id  # type: ignore[arg-type]
                    elif name in ("hold", "release", "delete") and int(a) in ids:  # type: ignore[arg-type]
                        rid = ids[int(a)]  # type: ignore[arg-type]
                        if await session.get(Recording, rid) is None:
                            continue
                        if name == "hold":
                            await svc.place_hold(
                                session,
                                rid,
                                kind=b,
                                reason="keep",
                                actor=ACTOR,  # type: ignore[arg-type]
                            )
                        elif name == "release":
                            rec = await svc.get(session, rid)
                            holds = active_holds(rec)
                            if holds:
                                await svc.release_hold(
                                    session,
                                    rid,
                                    holds[0].id,
                                    reason="done",
                                    actor=ACTOR,
                                    role=StaffRole.ADMIN,
                                )
                        else:
                            try:
                                await svc.delete_recording(session, rid, actor=ACTOR)
                            except RecordingHeld:
                                assert rid in held_before
                            else:
                                assert rid not in held_before
                    elif name == "sweep":
                        moment = T0 + timedelta(days=int(a))  # type: ignore[arg-type]
                        await session.commit()  # the sweeper writes in its own sessions
                        await sweeper.run(now=moment)
                        session.expunge_all()  # forget the rows the sweeper deleted
                        for rec in await _all(session, svc):
                            assert rec.expires_at > moment or active_holds(rec)
                    await session.commit()
                    remaining = await _all(session, svc)
                    assert held_before <= {r.id for r in remaining}
                    for rec in remaining:
                        assert await store.exists(rec.object_key, version_id=rec.version_id)
                        held = bool(active_holds(rec))
                        assert await store.is_legal_hold(rec.object_key) == held
        finally:
            await engine.dispose()


async def _all(session, svc: RecordingService) -> list[Recording]:  # type: ignore[no-untyped-def]
    ids = list(await session.scalars(select(Recording.id)))
    return [await svc.get(session, rid) for rid in ids]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(op, min_size=1, max_size=12))
def test_holds_are_never_deleted_and_sweep_leaves_nothing_due(
    audio_pool: list[Path], sqlite_template: Path, steps: list[tuple[str, object, object]]
) -> None:
    asyncio.run(_scenario(audio_pool, sqlite_template, steps))
