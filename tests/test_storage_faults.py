"""Faults of real processes: an S3 endpoint (moto's server, and SeaweedFS) stalled (SIGSTOP)
and killed (SIGKILL) under the real admin app and sweeper, and a sweeper killed (SIGKILL)
while it holds the lease, on the local store and on SeaweedFS."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cli_fixtures import Env, ainvoke, cli_env
from moto_process import MotoProcess, moto_process  # noqa: F401  (fixture)
from recording_audio_helpers import make_audio
from recordings_web_fixtures import *  # noqa: F403  (fixture: vault)
from recordings_web_fixtures import Vault
from retention_helpers import recording, sweeper
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.reconcile import reconcile
from recordings.service import SYNC_LEASE, RecordingService
from storage.clock import SystemClock
from storage.config import Settings
from storage.db import is_postgres
from storage.models import (
    PendingObject,
    Recording,
    RecordingHold,
    RecordingTombstone,
    RetentionRun,
    StaffRole,
)
from storage.objectstore import (
    LocalObjectStore,
    ObjectStore,
    ObjectStoreUnavailable,
    S3ObjectStore,
    create_object_store,
)
from storage.retention.pending import GRACE
from storage.services.audit import Actor
from tests.seaweed import SeaweedProcess

pytestmark = pytest.mark.storage
CONNECT, READ = 1.0, 1.0
# One connect retry, then one read: the longest a call may take, plus scheduling slack.
DEADLINE = CONNECT * 2 + READ
SLACK = 4.0
ROOT = Path(__file__).resolve().parent.parent
_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class SharedSeaweed:
    """One SeaweedFS for the module: a test that stalled it resumes it, and the next test
    that finds it killed starts a fresh one (in a directory of its own)."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.starts = directory, 0
        self.server: SeaweedProcess | None = None

    def running(self) -> SeaweedProcess:
        if self.server is None or not self.server.alive():
            self.starts += 1
            self.server = SeaweedProcess(self.directory / f"start-{self.starts}")
        return self.server

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture(scope="module")
def shared_seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedSeaweed]:
    shared = SharedSeaweed(tmp_path_factory.mktemp("seaweedfs-faults"))
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture(params=["moto", "seaweedfs"])
def s3_process(request: pytest.FixtureRequest) -> Iterator[MotoProcess | SeaweedProcess]:
    """An S3 server in a process of its own that a test may stall, resume and kill."""
    if request.param == "moto":
        yield request.getfixturevalue("moto_process")
        return
    server = request.getfixturevalue("shared_seaweed").running()
    try:
        yield server
    finally:
        if server.alive():
            server.resume()  # a no-op unless the test left it stalled


@pytest.fixture
def s3_endpoint(s3_process: MotoProcess | SeaweedProcess) -> str:
    """The vault's S3 is the child-process server (overrides the session's in-process one)."""
    return s3_process.endpoint


@pytest.fixture
def s3_store_options() -> dict[str, Any]:
    return {"connect_timeout": CONNECT, "read_timeout": READ}


async def timed(call: Awaitable[Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> bool:
    """Wait for a state another process brings about (the resumed server's late write)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def _unavailable(response: Any, elapsed: float) -> None:
    assert response.status == 503, await response.text()
    body = (await response.json())["error"]
    assert body["code"] == "object_store_unavailable"
    assert "did not answer within" in body["message"]
    assert elapsed < DEADLINE + SLACK, elapsed


async def _pending(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return list(await session.scalars(select(PendingObject.key)))


async def _has_pending(sessions: async_sessionmaker[AsyncSession]) -> bool:
    return bool(await _pending(sessions))


async def test_a_stalled_store_answers_503_in_time_and_its_late_write_is_settled(
    vault: Vault, s3_process: MotoProcess | SeaweedProcess, tmp_path: Path
) -> None:
    api, headers = vault.client, vault.tokens[StaffRole.AGENT]
    kept = await vault.create(make_audio(tmp_path, "wav_pcm", seconds=1))
    base = f"/api/v1/recordings/{kept['id']}"
    late_audio = make_audio(tmp_path, "wav_pcm", seconds=1, frequency=660)

    s3_process.stop()
    try:
        uploading = asyncio.create_task(timed(vault.upload(late_audio)))
        # Its key is on record (committed) before the write: the upload now waits on S3...
        assert await eventually(lambda: _has_pending(vault.sessions), within=DEADLINE)
        # ...with no transaction open: another writer gets the database meanwhile.
        async with vault.sessions() as session:
            session.add(PendingObject(key="probe", created_at=vault.clock.now()))
            await session.commit()
            await session.delete(await session.get(PendingObject, "probe"))
            await session.commit()
        assert not uploading.done(), "the probe was meant to run during the upload"
        upload, elapsed = await uploading
        await _unavailable(upload, elapsed)
        hold, elapsed = await timed(
            api.post(f"{base}/holds", json={"kind": "evidence", "reason": "x"}, headers=headers)
        )
        await _unavailable(hold, elapsed)
        stream, elapsed = await timed(api.get(f"{base}/audio", headers=headers))
        await _unavailable(stream, elapsed)
        # The hold is on record (the store follows at the sweep, once the claim on the
        # recording's store calls has lapsed). The sweeper, too, gives up within the
        # deadline and says why.
        vault.clock.advance(SYNC_LEASE + timedelta(seconds=1))
        due = sweeper(vault.sessions, vault.store, vault.clock)
        result, elapsed = await timed(due.run(now=vault.clock.now() + timedelta(days=1000)))
        assert elapsed < DEADLINE * 3 + SLACK, elapsed
        assert result.failed
    finally:
        s3_process.resume()

    assert await vault.count(Recording) == 1
    assert len(await _pending(vault.sessions)) == 1
    # Resumed, the server stores what it had received: the upload's object, without a row.
    assert await eventually(lambda: _has_objects(vault, 2)), "the late write never landed"
    vault.clock.advance(GRACE + timedelta(seconds=1))
    swept = await sweeper(vault.sessions, vault.store, vault.clock).run()
    assert swept.pending is not None and len(swept.pending.removed) == 1
    assert await _pending(vault.sessions) == []
    async with vault.sessions() as session:
        named = set(await session.scalars(select(Recording.object_key)))
    assert {o.key for o in await vault.store.list("")} == named == {kept["object_key"]}
    assert swept.store is not None and swept.store.synced == [kept["id"]]
    assert await _legal_hold(vault, kept["object_key"], kept["version_id"])


async def _has_objects(vault: Vault, n: int) -> bool:
    return len(await vault.store.list("")) >= n


async def _legal_hold(vault: Vault, key: str, version: str) -> bool:
    return await vault.store.is_legal_hold(key, version_id=version)


async def _row(vault: Vault, recording_id: int) -> Recording | None:
    async with vault.sessions() as session:
        return await session.get(Recording, recording_id)


async def _claimed(vault: Vault, recording_id: int) -> bool:
    """The request has committed its change and claim: it is calling the store now."""
    row = await _row(vault, recording_id)
    return row is not None and row.sync_claim is not None


async def _write_to_the_same_recording(vault: Vault, recording_id: int) -> None:
    """Another writer: on SQLite it needs the write lock, on PostgreSQL the row's lock."""
    async with vault.sessions() as session:
        await RecordingService(vault.clock, vault.store).set_tags(
            session, recording_id, ["written meanwhile"], actor=Actor.system("probe")
        )
        await session.commit()


@pytest.mark.parametrize(
    ("operation", "settle", "s3_process"),
    # Each path once; both servers among them (the stall itself runs on both above).
    [
        ("hold", "sweep", "seaweedfs"),
        ("release", "reconcile", "moto"),
        ("delete", "sweep", "seaweedfs"),
        ("delete", "reconcile", "moto"),
    ],
    indirect=["s3_process"],
)
async def test_a_stalled_store_during_a_hold_release_or_delete_holds_no_lock_and_is_settled(
    vault: Vault,
    s3_process: MotoProcess | SeaweedProcess,
    tmp_path: Path,
    operation: str,
    settle: str,
) -> None:
    api = vault.client
    agent, officer = vault.tokens[StaffRole.AGENT], vault.tokens[StaffRole.PRIVACY_OFFICER]
    created = await vault.create(make_audio(tmp_path, "wav_pcm", seconds=1))
    ident, key, version = created["id"], created["object_key"], created["version_id"]
    base = f"/api/v1/recordings/{ident}"
    hold_id = 0
    if operation == "release":
        placed = await api.post(
            f"{base}/holds", json={"kind": "training", "reason": "course"}, headers=agent
        )
        assert placed.status == 201, await placed.text()
        hold_id = (await placed.json())["id"]
        assert await _legal_hold(vault, key, version)
    calls = {
        "hold": lambda: api.post(
            f"{base}/holds", json={"kind": "evidence", "reason": "claim"}, headers=agent
        ),
        "release": lambda: api.post(
            f"{base}/holds/{hold_id}/release", json={"reason": "done"}, headers=agent
        ),
        "delete": lambda: api.delete(base, json={"reason": "asked"}, headers=officer),
    }

    s3_process.stop()
    try:
        calling = asyncio.create_task(timed(calls[operation]()))
        assert await eventually(lambda: _claimed(vault, ident), within=DEADLINE)
        # While the request waits on the store, another write transaction commits.
        await _write_to_the_same_recording(vault, ident)
        assert not calling.done(), "the write was meant to run during the store call"
        response, elapsed = await calling
        await _unavailable(response, elapsed)
    finally:
        s3_process.resume()

    # The change (or the decided delete) is on record; the claim stays until its lease ends.
    row = await _row(vault, ident)
    assert row is not None and row.sync_claim is not None
    if operation == "delete":
        assert row.delete_requested_at is not None and row.delete_reason == "asked"
    else:
        assert row.hold_revision != row.synced_revision
    # Once the claim has lapsed (a call given up may land until then), the next sweep or
    # `reconcile --fix` settles it.
    vault.clock.advance(SYNC_LEASE + timedelta(seconds=1))
    if settle == "sweep":
        settled = (await sweeper(vault.sessions, vault.store, vault.clock).run()).store
    else:
        vault_service = RecordingService(vault.clock, vault.store)
        report = await reconcile(
            vault.sessions, vault.store, vault.clock, fix=True, recordings=vault_service
        )
        assert report.clean, report.lines()
        settled = report.settled
    assert settled is not None and settled.failed == {}, settled
    if operation == "delete":
        assert settled.deleted == [ident]
        assert await _row(vault, ident) is None
        assert await vault.count(RecordingTombstone) == 1
        assert not await vault.store.exists(key, version_id=version)
        return
    assert settled.synced == [ident]
    row = await _row(vault, ident)
    assert row is not None and row.synced_revision == row.hold_revision
    assert row.sync_claim is None
    held = operation == "hold"
    assert await _legal_hold(vault, key, version) is held
    tags = await vault.store.get_tags(key, version_id=version)
    assert tags["retention"] == ("held" if held else "standard")


async def test_a_hold_answered_503_says_it_is_recorded_and_a_retry_returns_the_same_hold(
    vault: Vault, s3_process: MotoProcess | SeaweedProcess, tmp_path: Path
) -> None:
    api, agent = vault.client, vault.tokens[StaffRole.AGENT]
    created = await vault.create(make_audio(tmp_path, "wav_pcm", seconds=1))
    key, version = created["object_key"], created["version_id"]
    holds = f"/api/v1/recordings/{created['id']}/holds"
    claim = {"kind": "evidence", "reason": "claim"}

    s3_process.stop()
    try:
        first, elapsed = await timed(api.post(holds, json=claim, headers=agent))
        await _unavailable(first, elapsed)
        error = (await first.json())["error"]
        hold_id = error["details"]["hold_id"]
        assert f"hold {hold_id} is recorded" in error["message"]
        # A retry while the first call's claim on the store calls lasts: the same hold.
        again = await api.post(holds, json=claim, headers=agent)
        assert again.status == 200, await again.text()
        assert (await again.json())["id"] == hold_id
        assert await vault.count(RecordingHold) == 1
    finally:
        s3_process.resume()

    # Once the first call's claim has lapsed, a retry brings the store in step: 200, same hold.
    vault.clock.advance(SYNC_LEASE + timedelta(seconds=1))
    retried = await api.post(holds, json=claim, headers=agent)
    assert retried.status == 200, await retried.text()
    assert (await retried.json())["id"] == hold_id
    assert await vault.count(RecordingHold) == 1
    assert await _legal_hold(vault, key, version)
    # Another reason is another hold.
    other = await api.post(holds, json={"kind": "evidence", "reason": "audit"}, headers=agent)
    assert other.status == 201, await other.text()
    assert await vault.count(RecordingHold) == 2


# --- a sweeper killed while it holds the lease -----------------------------------------


@pytest.fixture(params=["local", "seaweedfs"])
def sweep_store(request: pytest.FixtureRequest) -> dict[str, str]:
    """The object store of the killed sweeper and of the sweep after it, as SUPPORTDESK_*
    settings: the local directory, or a fresh bucket on SeaweedFS."""
    if request.param == "local":
        return {}
    server = request.getfixturevalue("shared_seaweed").running()
    return {
        "SUPPORTDESK_S3_ENDPOINT": server.endpoint,
        "SUPPORTDESK_S3_ACCESS_KEY": "test",
        "SUPPORTDESK_S3_SECRET_KEY": "testtest",
        "SUPPORTDESK_S3_BUCKET": f"sweep-{uuid.uuid4().hex[:12]}",
    }


def _settings(env: Env) -> Settings:
    """What `supportdesk` reads from `env`."""
    prefix = "SUPPORTDESK_"
    return Settings(
        **{name.removeprefix(prefix).lower(): value for name, value in env.items() if value}
    )


def _start_child(env: Env) -> subprocess.Popen[bytes]:
    outer = {name: value for name, value in os.environ.items() if name not in env}
    given = {name: value for name, value in env.items() if value is not None}
    child = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "sweeper_child.py")],
        stdout=subprocess.PIPE,
        env={**outer, **given, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    line = child.stdout.readline()  # blocks until the child holds the lease (or dies)
    assert line.strip() == b"holding", line
    return child


async def _runs(sessions: async_sessionmaker[AsyncSession]) -> dict[int, str]:
    async with sessions() as session:
        rows = (await session.execute(select(RetentionRun.pid, RetentionRun.status))).all()
    return {pid: status for pid, status in rows}


async def _due_recording(sessions: async_sessionmaker[AsyncSession], store: ObjectStore) -> None:
    """A recording past its 90 days, with its object: what the sweep after the kill deletes."""
    await store.ensure_bucket()
    async with sessions() as session:
        await recording(session, store, SystemClock().now() - timedelta(days=200))
        await session.commit()


async def test_a_live_holder_makes_sweep_exit_75_naming_it_and_a_killed_one_is_taken_over(
    database_url: str,
    session_factory: async_sessionmaker[AsyncSession],
    sweep_store: dict[str, str],
    tmp_path: Path,
) -> None:
    async with session_factory() as session:
        postgres = is_postgres(session)
    env = cli_env(tmp_path / "var", database_url, **sweep_store)
    store = create_object_store(_settings(env))
    try:
        await _due_recording(session_factory, store)
        child = await asyncio.to_thread(_start_child, env)
        try:
            assert (await _runs(session_factory)).get(child.pid) == "running"
            beside = await ainvoke(env, "sweep", "--dry-run")
            if postgres:  # no lease: sweeps run side by side, the live one is left running
                assert beside.exit_code == 0, beside.output
            else:
                assert beside.exit_code == 75, beside.output
                assert f"host {socket.gethostname()}, pid {child.pid}, since" in beside.stderr
            assert (await _runs(session_factory)).get(child.pid) == "running"
        finally:
            child.send_signal(signal.SIGKILL)
            await asyncio.to_thread(child.wait)
        # At once, not after a lease timeout: the holder's process is gone from this host.
        after = await ainvoke(env, "sweep")
        assert after.exit_code == 0, after.output
        assert "sweep skipped" not in after.output
        assert (await _runs(session_factory))[child.pid] == "interrupted"
        assert await _recordings(session_factory) == 0
        assert await store.list_versions("") == []  # the stored version itself, not hidden
    finally:
        await store.close()


async def _recordings(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Recording)) or 0)


# --- a dead store (after the other SeaweedFS tests: it kills the module's server) ------


async def test_a_dead_store_answers_503_in_time(
    vault: Vault, s3_process: MotoProcess | SeaweedProcess, tmp_path: Path
) -> None:
    api, headers = vault.client, vault.tokens[StaffRole.AGENT]
    kept = await vault.create(make_audio(tmp_path, "wav_pcm", seconds=1))
    base = f"/api/v1/recordings/{kept['id']}"
    audio = make_audio(tmp_path, "wav_pcm", seconds=1, frequency=660)
    s3_process.kill()
    upload, elapsed = await timed(vault.upload(audio))
    await _unavailable(upload, elapsed)
    hold, elapsed = await timed(
        api.post(f"{base}/holds", json={"kind": "evidence", "reason": "x"}, headers=headers)
    )
    await _unavailable(hold, elapsed)
    stream, elapsed = await timed(api.get(f"{base}/audio", headers=headers))
    await _unavailable(stream, elapsed)
    assert await vault.count(Recording) == 1
    if not isinstance(s3_process, SeaweedProcess):
        return  # moto kept its objects in memory: nothing comes back
    # SeaweedFS comes back with what it had stored; the sweep settles the failed write.
    s3_process.restart()
    vault.clock.advance(GRACE + timedelta(seconds=1))
    swept = await sweeper(vault.sessions, vault.store, vault.clock).run()
    assert swept.pending is not None and not swept.failed
    assert await _pending(vault.sessions) == []
    assert {o.key for o in await vault.store.list("")} == {kept["object_key"]}


async def test_reconcile_fix_settles_a_pending_write_that_no_row_names(
    database_url: str, session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    env = cli_env(tmp_path / "var", database_url)
    store = LocalObjectStore(Settings(data_dir=tmp_path / "var").local_store_dir)
    old = SystemClock().now() - GRACE - timedelta(minutes=1)
    async with session_factory() as session:
        for key in ("recordings/2026/01/late.ogg", "recordings/2026/01/fresh.ogg"):
            session.add(PendingObject(key=key, created_at=old))
            await store.put(key, b"OggS landed after its deadline")
        young = PendingObject(key="recordings/2026/01/young.ogg", created_at=SystemClock().now())
        session.add(young)
        await session.commit()
    report = await ainvoke(env, "reconcile")  # without --fix: reported, nothing changes
    assert report.exit_code == 0, report.output
    assert "2 orphaned" not in report.output and "3 waiting" in report.output
    fixed = await ainvoke(env, "reconcile", "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert "2 orphaned (objects deleted)" in fixed.output and "1 waiting" in fixed.output
    assert await store.list("") == []
    assert await _pending(session_factory) == ["recordings/2026/01/young.ogg"]


@pytest.mark.parametrize("body", [_SLOW_DOWN, b"<html>502 bad gateway</html>"])
async def test_an_endpoint_that_answers_busy_is_unavailable(aiohttp_server, body: bytes) -> None:
    """S3's "slow down" (XML) and a bare 5xx page (a proxy) read as unavailable, not 500."""

    async def busy(request: web.Request) -> web.Response:
        xml = body.startswith(b"<?xml")
        return web.Response(
            status=503 if xml else 502,
            body=body,
            content_type="application/xml" if xml else "text/html",
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", busy)
    server = await aiohttp_server(app)
    endpoint = f"http://127.0.0.1:{server.port}"
    store = S3ObjectStore(
        endpoint, "k", "secretkey", "busy-bucket", connect_timeout=CONNECT, read_timeout=READ
    )
    try:
        with pytest.raises(ObjectStoreUnavailable):
            await store.put("recordings/x.ogg", b"OggS")
        with pytest.raises(ObjectStoreUnavailable):
            await store.get("recordings/x.ogg")
    finally:
        await store.close()


async def test_streams_waiting_on_a_slow_endpoint_hold_up_no_other_store_call(
    aiohttp_server,
) -> None:
    """Every open stream waits on its next read in a thread. On the loop's shared executor
    (a small machine's: a few threads) some listeners of a slow endpoint would queue every
    other store call (a seek's stat, an upload) until their reads time out."""
    release = asyncio.Event()
    size = 1024
    headers = {
        "ETag": '"0123456789abcdef"',
        "Last-Modified": "Mon, 07 Dec 2026 09:00:00 GMT",
        "Content-Type": "audio/ogg",
    }

    async def slow(request: web.Request) -> web.StreamResponse:
        if request.method == "HEAD":
            return web.Response(body=bytes(size), headers=headers)
        response = web.StreamResponse(headers=headers)
        response.content_length = size
        await response.prepare(request)
        await response.write(b"O")  # the headers and a byte, then nothing until released
        await release.wait()
        await response.write(bytes(size - 1))
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    server = await aiohttp_server(app)
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
    store = S3ObjectStore(
        f"http://127.0.0.1:{server.port}", "k", "secretkey", "slow", read_timeout=5.0
    )
    streams = [await store.get(f"recordings/{n}.ogg") for n in range(4)]
    reads = [asyncio.create_task(anext(aiter(stream))) for stream in streams]
    try:
        await asyncio.sleep(0)  # let every read start waiting in its thread
        info, elapsed = await timed(store.stat("recordings/other.ogg"))
        assert info.size == size
        assert elapsed < DEADLINE, elapsed
    finally:
        release.set()
        await asyncio.gather(*reads, return_exceptions=True)
        for stream in streams:
            await stream.aclose()
        await store.close()
