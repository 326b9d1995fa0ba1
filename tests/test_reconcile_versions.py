"""Reconcile checks the exact object version each row names, on moto and on SeaweedFS:
a delete marker never costs a row its recording, a bucket copied elsewhere (new version
ids) is found and repaired by `--adopt-current` after a sha256 check, and report-only
mode changes nothing, not even a missing bucket."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from retention_helpers import T0, closed_ticket, hold, recording
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.archive import configure_lifecycle
from recordings.reconcile import reconcile
from storage.clock import FrozenClock
from storage.models import Attachment, AuditEvent, Recording
from storage.objectstore import S3ObjectStore
from tests.cli_fixtures import ainvoke, cli_env

pytestmark = pytest.mark.storage
Sessions = async_sessionmaker[AsyncSession]
LATER = FrozenClock(T0 + timedelta(days=400))  # every object is past reconcile's min age


@pytest.fixture
async def store(s3_server: str, s3_bucket: str) -> AsyncIterator[S3ObjectStore]:
    instance = S3ObjectStore(s3_server, "test", "testtest", s3_bucket)
    await configure_lifecycle(instance)
    try:
        yield instance
    finally:
        await instance.close()


async def _recording(sessions: Sessions, store: S3ObjectStore, *, held: bool) -> Recording:
    clock = FrozenClock(T0)
    async with sessions() as s:
        row = await recording(s, store, T0)
        await s.commit()
    if held:
        async with sessions() as s:
            await hold(s, store, clock, row.id)
            await s.commit()
    return row


async def _audio(store: S3ObjectStore, sessions: Sessions, recording_id: int) -> bytes:
    """What the audio route serves: the version the row names."""
    async with sessions() as s:
        row = await s.get(Recording, recording_id)
    assert row is not None
    return await (await store.get(row.object_key, version_id=row.version_id)).read_all()


@pytest.mark.parametrize("held", [False, True], ids=["unheld", "held"])
async def test_a_delete_marker_never_costs_the_row_its_recording(
    session_factory: Sessions, store: S3ObjectStore, held: bool
) -> None:
    row = await _recording(session_factory, store, held=held)
    body = await _audio(store, session_factory, row.id)
    # A plain DELETE without a version id: only a delete marker, the version stays.
    store.client.remove_object(store.bucket, row.object_key)
    assert not await store.exists(row.object_key)

    report = await reconcile(session_factory, store, LATER)
    assert report.missing_objects == [] and report.missing_versions == {}
    [marker] = report.stray_markers
    assert marker.startswith(f"{row.object_key} (")
    assert not report.removed_markers
    assert any(v.is_delete_marker for v in await store.list_versions(row.object_key))

    fixed = await reconcile(session_factory, store, LATER, fix=True)
    assert fixed.removed_markers == [marker]
    assert fixed.cleaned_rows == [] and fixed.removed_objects == []
    async with session_factory() as s:
        kept = await s.get(Recording, row.id)
        assert kept is not None and kept.version_id == row.version_id
        assert not await s.scalar(
            select(AuditEvent.id).where(AuditEvent.action == "recording.delete")
        )
    assert await _audio(store, session_factory, row.id) == body
    assert (await store.stat(row.object_key)).version_id == row.version_id  # current again
    assert await store.is_legal_hold(row.object_key, version_id=row.version_id) is held
    assert (await reconcile(session_factory, store, LATER)).clean


async def _copy_bucket(source: S3ObjectStore, target: S3ObjectStore, tamper: str = "") -> None:
    """Copy every current object into another object-lock bucket: same keys, new version
    ids (what a restore or a bucket-to-bucket copy leaves). `tamper` gets other bytes."""
    await configure_lifecycle(target)
    for info in await source.list():
        body = await (await source.get(info.key)).read_all()
        if info.key == tamper:
            body += b" changed"
        target.client.put_object(target.bucket, info.key, io.BytesIO(body), len(body))


async def test_a_copied_bucket_is_reported_and_adopted_after_a_sha256_check(
    session_factory: Sessions, store: S3ObjectStore, s3_server: str
) -> None:
    clock = FrozenClock(T0)
    async with session_factory() as s:
        await closed_ticket(s, store, clock, close=False)
        attachment_id = await s.scalar(select(Attachment.id))
        await s.commit()
    good = await _recording(session_factory, store, held=True)
    bad = await _recording(session_factory, store, held=False)
    copy = S3ObjectStore(s3_server, "test", "testtest", f"{store.bucket}-copy")
    try:
        await _copy_bucket(store, copy, tamper=bad.object_key)

        report = await reconcile(session_factory, copy, LATER, fix=True)
        assert report.restored
        assert sorted(report.missing_versions) == sorted(
            [f"attachment {attachment_id}", f"recording {good.id}", f"recording {bad.id}"]
        )
        assert report.cleaned_rows == [] and report.removed_objects == []
        assert report.orphan_objects == []
        assert any("--adopt-current" in line for line in report.lines())
        async with session_factory() as s:
            assert len(list(await s.scalars(select(Recording.id)))) == 2

        adopted = await reconcile(session_factory, copy, LATER, adopt_current=True)
        assert sorted(adopted.adopted) == sorted(
            [f"attachment {attachment_id}", f"recording {good.id}"]
        )
        assert list(adopted.not_adopted) == [f"recording {bad.id}"]  # its bytes differ
        async with session_factory() as s:
            now_good = await s.get(Recording, good.id)
            now_bad = await s.get(Recording, bad.id)
            assert now_good is not None and now_bad is not None
            assert now_good.version_id != good.version_id
            assert now_good.version_id == (await copy.stat(good.object_key)).version_id
            assert now_bad.version_id == bad.version_id  # left for a person to look at
        # The adopted version serves the audio and carries the recording's hold again.
        original = await (await store.get(good.object_key, version_id=good.version_id)).read_all()
        assert await _audio(copy, session_factory, good.id) == original
        assert await copy.is_legal_hold(good.object_key, version_id=now_good.version_id)

        after = await reconcile(session_factory, copy, LATER, fix=True)
        assert list(after.missing_versions) == [f"recording {bad.id}"]
        assert not after.restored
        async with session_factory() as s:
            assert await s.get(Recording, bad.id) is not None  # never deleted
        await copy.set_legal_hold(good.object_key, False, version_id=now_good.version_id)
    finally:
        await copy.close()


async def test_report_only_creates_no_bucket(
    tmp_path: Path, database_url: str, s3_server: str, s3_bucket: str
) -> None:
    env = cli_env(
        tmp_path / "var",
        database_url,
        SUPPORTDESK_S3_ENDPOINT=s3_server,
        SUPPORTDESK_S3_ACCESS_KEY="test",
        SUPPORTDESK_S3_SECRET_KEY="testtest",
        SUPPORTDESK_S3_BUCKET=s3_bucket,
    )
    for args in (("reconcile",), ("reconcile", "--fix")):
        result = await ainvoke(env, *args)
        assert result.exit_code == 1, result.stdout
        assert "the bucket does not exist" in result.stdout
    probe = S3ObjectStore(s3_server, "test", "testtest", s3_bucket)
    try:
        assert not await probe.bucket_exists()
    finally:
        await probe.close()
