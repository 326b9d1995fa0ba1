"""Range streaming through the admin, on the API route and the admin page route alike:
200/206/416, downloads, one play event per listening session, and clients that leave."""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import timedelta

import pytest
from aiohttp.test_utils import make_mocked_request
from recordings_web_fixtures import *  # noqa: F403  (fixture: vault)
from recordings_web_fixtures import Vault
from sqlalchemy import select

from recordings.streaming import stream_object
from storage.models import AuditEvent, Recording, RecordingListen, StaffRole
from storage.objectstore.base import ByteRange
from storage.objectstore.s3 import BODY_READ

pytestmark = pytest.mark.storage
SIZE = 2 * BODY_READ + 123  # several store chunks, not a round number


async def _stored_recording(vault: Vault, size: int = SIZE) -> tuple[int, bytes]:
    """A recording row over an object put straight into S3 (content need not be audio)."""
    body = os.urandom(size)
    key = f"recordings/test/{hashlib.sha256(body).hexdigest()[:16]}.ogg"
    put = await vault.store.put(key, body, content_type="audio/ogg", tags={"retention": "standard"})
    now = vault.clock.now()
    async with vault.sessions() as session:
        recording = Recording(
            object_key=key,
            version_id=put.version_id,
            sha256_original=hashlib.sha256(key.encode()).hexdigest(),
            sha256_archive=put.sha256,
            duration_seconds=60.0,
            original_format="wav/pcm_mulaw",
            sample_rate=8000,
            channels=1,
            original_size=size,
            archive_size=size,
            original_filename="call.wav",
            call_started_at=now,
            caller_withheld=False,
            created_at=now,
            expires_at=now + timedelta(days=90),
        )
        session.add(recording)
        await session.commit()
        return recording.id, body


@pytest.fixture(params=["api", "admin"])
def route(request: pytest.FixtureRequest) -> str:
    return request.param


async def _auth(vault: Vault, route: str, role: StaffRole = StaffRole.AGENT) -> dict[str, str]:
    if route == "api":
        return dict(vault.tokens[role])
    await vault.login(role)
    return {}


def _url(route: str, ident: int) -> str:
    return f"/api/v1/recordings/{ident}/audio" if route == "api" else f"/recordings/{ident}/audio"


async def test_range_cases(vault: Vault, route: str) -> None:
    ident, body = await _stored_recording(vault)
    headers = await _auth(vault, route)
    url, client = _url(route, ident), vault.client

    full = await client.get(url, headers=headers)
    assert full.status == 200 and full.headers["Accept-Ranges"] == "bytes"
    assert full.headers["Content-Length"] == str(SIZE)
    assert full.headers["Content-Type"] == "audio/ogg"
    assert full.headers["Content-Disposition"].startswith("inline")
    assert await full.read() == body

    cases = {
        "bytes=0-99": (0, 99),
        "bytes=1000-": (1000, SIZE - 1),
        "bytes=-500": (SIZE - 500, SIZE - 1),
        f"bytes=10-{SIZE + 50}": (10, SIZE - 1),  # end clipped to the object
        f"bytes=-{SIZE + 9}": (0, SIZE - 1),  # suffix longer than the object
        # Across the store's chunk boundaries (each chunk is one SDK read in a thread).
        f"bytes={BODY_READ - 5}-{BODY_READ + 5}": (BODY_READ - 5, BODY_READ + 5),
        f"bytes={BODY_READ - 1}-": (BODY_READ - 1, SIZE - 1),
        f"bytes=-{BODY_READ + 124}": (SIZE - BODY_READ - 124, SIZE - 1),
    }
    for header, (first, last) in cases.items():
        part = await client.get(url, headers={**headers, "Range": header})
        assert part.status == 206, header
        assert part.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}", header
        assert part.headers["Content-Length"] == str(last - first + 1)
        assert await part.read() == body[first : last + 1], header

    for header in (f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"):
        refused = await client.get(url, headers={**headers, "Range": header})
        assert refused.status == 416, header
        assert refused.headers["Content-Range"] == f"bytes */{SIZE}"

    # Malformed or multi-range headers are ignored: the whole object, 200.
    for header in ("bytes=5-2", "items=0-1", "bytes=0-1,5-6"):
        ignored = await client.get(url, headers={**headers, "Range": header})
        assert ignored.status == 200 and len(await ignored.read()) == SIZE, header

    download = await client.get(url + "?download=1", headers=headers)
    assert download.status == 200
    assert (
        download.headers["Content-Disposition"] == f'attachment; filename="recording-{ident}.ogg"'
    )
    assert await download.read() == body

    etag = full.headers["ETag"]
    same = await client.get(url, headers={**headers, "Range": "bytes=0-9", "If-Range": etag})
    assert same.status == 206 and await same.read() == body[:10]
    other = await client.get(url, headers={**headers, "Range": "bytes=0-9", "If-Range": '"x"'})
    assert other.status == 200 and len(await other.read()) == SIZE  # changed: send it whole

    head = await client.head(url, headers=headers)
    assert head.status == 200 and head.headers["Content-Length"] == str(SIZE)


async def test_one_play_per_listening_session_and_downloads_apart(vault: Vault, route: str) -> None:
    ident, _ = await _stored_recording(vault, 4096)
    headers = await _auth(vault, route)
    url, client = _url(route, ident), vault.client
    for header in ("bytes=0-", "bytes=1000-2000", "bytes=-10"):  # a player seeking
        response = await client.get(url, headers={**headers, "Range": header})
        assert response.status == 206
        await response.read()
        vault.clock.advance(timedelta(minutes=5))
    assert await _events(vault, ident) == ["recording.play"]
    vault.clock.advance(timedelta(minutes=31))  # past the 30-minute session window
    headers = await _auth(vault, route)  # (an idle admin login has lapsed by now too)
    await (await client.get(url, headers=headers)).read()
    await (await client.get(url + "?download=1", headers=headers)).read()
    assert await _events(vault, ident) == ["recording.play", "recording.play", "recording.download"]
    # Another listener has a session of their own.
    other = await _auth(vault, route, StaffRole.PRIVACY_OFFICER)
    await (await client.get(url, headers={**other, "Range": "bytes=0-1"})).read()
    assert (await _events(vault, ident)).count("recording.play") == 3
    assert await vault.count(RecordingListen) == 2  # one row per listener and recording


async def test_only_a_served_range_is_a_play(vault: Vault, route: str) -> None:
    """416, HEAD, 304 and 412 send no audio: none of them is audited as a play or a
    download; the first 200/206 is."""
    ident, body = await _stored_recording(vault, 4096)
    headers = await _auth(vault, route)
    url, client = _url(route, ident), vault.client
    for query in ("", "?download=1"):
        refused = await client.get(url + query, headers={**headers, "Range": "bytes=5000-"})
        assert refused.status == 416
        assert (await client.head(url + query, headers=headers)).status == 200
    etag = f'"{_sha256(body)}"'
    assert (await client.get(url, headers={**headers, "If-None-Match": etag})).status == 304
    assert (await client.get(url, headers={**headers, "If-Match": '"x"'})).status == 412
    assert await _events(vault, ident) == []
    assert await vault.count(RecordingListen) == 0
    played = await client.get(url, headers={**headers, "Range": "bytes=4000-"})
    assert played.status == 206 and await played.read() == body[4000:]
    assert await _events(vault, ident) == ["recording.play"]


async def _events(vault: Vault, ident: int) -> list[str]:
    async with vault.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.subject_type == "recording", AuditEvent.subject_id == str(ident))
            .order_by(AuditEvent.id)
        )
        return list(rows)


def _free_connections(vault: Vault) -> list[tuple[int, int]]:
    """(idle slots, size) per urllib3 pool of the store: a slot is missing while a
    connection is checked out and comes back only when the response is released."""
    pools = vault.store.client._http.pools
    return [(pools[key].pool.qsize(), pools[key].pool.maxsize) for key in pools.keys()]


async def test_client_leaving_mid_stream_releases_the_store_connection(
    vault: Vault, route: str
) -> None:
    ident, body = await _stored_recording(vault, 24 * 1024 * 1024)
    headers = await _auth(vault, route)
    url = _url(route, ident)
    for _ in range(3):
        response = await vault.client.get(url, headers=headers)
        assert response.status == 200
        assert len(await response.content.readexactly(64 * 1024)) == 64 * 1024
        assert any(idle < size for idle, size in _free_connections(vault))  # streaming now
        response.close()  # the listener leaves with most of the body unsent
        for _ in range(100):
            if all(idle == size for idle, size in _free_connections(vault)):
                break
            await asyncio.sleep(0.05)
        assert all(idle == size for idle, size in _free_connections(vault))
    # The admin and the store are fine afterwards.
    tail = await vault.client.get(url, headers={**headers, "Range": "bytes=-100"})
    assert tail.status == 206 and await tail.read() == body[-100:]


async def test_parallel_first_requests_make_one_play(vault: Vault) -> None:
    """A player opening a file often asks for its start and its end at once."""
    ident, body = await _stored_recording(vault, 8192)
    headers = vault.tokens[StaffRole.AGENT]
    url = _url("api", ident)

    async def fetch(header: str) -> bytes:
        response = await vault.client.get(url, headers={**headers, "Range": header})
        assert response.status == 206
        return await response.read()

    parts = await asyncio.gather(*(fetch(f"bytes={i * 1000}-{i * 1000 + 9}") for i in range(6)))
    assert parts == [body[i * 1000 : i * 1000 + 10] for i in range(6)]
    assert await _events(vault, ident) == ["recording.play"]


async def test_row_without_its_object_is_404_not_500(vault: Vault) -> None:
    ident, _ = await _stored_recording(vault, 100)
    async with vault.sessions() as session:
        recording = await session.get(Recording, ident)
        assert recording is not None
        key, version = recording.object_key, recording.version_id
    await vault.store.delete(key, version_id=version)  # e.g. lost in a restore
    for url, extra in (
        (_url("api", ident), {}),
        (_url("api", ident), {"Range": "bytes=10-"}),  # a ranged GET asks S3 differently
        (f"/api/v1/recordings/{ident}/audio?download=1", {}),
    ):
        missing = await vault.client.get(url, headers={**vault.tokens[StaffRole.AGENT], **extra})
        assert missing.status == 404
        assert "missing" in (await missing.json())["error"]["message"]
    # Nothing was left checked out of the store's connection pool.
    assert all(idle == size for idle, size in _free_connections(vault))


async def test_streams_closed_unread_give_their_connection_back(vault: Vault) -> None:
    """A listener may leave before the headers go out: the opened S3 response is then
    closed without a chunk read, and its connection must still return to the pool."""
    ident, _ = await _stored_recording(vault, 100)
    async with vault.sessions() as session:
        recording = await session.get(Recording, ident)
        assert recording is not None
        key, version = recording.object_key, recording.version_id
    for byte_range in (None, ByteRange(10, 20)):
        stream = await vault.store.get(key, version_id=version, byte_range=byte_range)
        assert any(idle < size for idle, size in _free_connections(vault))
        await stream.aclose()
        assert all(idle == size for idle, size in _free_connections(vault))


async def test_failed_audit_closes_the_object_opened_meanwhile(vault: Vault) -> None:
    """The caller audits once the store has opened the object; when the audit fails nothing
    is sent and the opened response is closed."""
    ident, _ = await _stored_recording(vault, 100)
    async with vault.sessions() as session:
        recording = await session.get(Recording, ident)
        assert recording is not None
        key, version = recording.object_key, recording.version_id

    async def failing_audit() -> None:
        await asyncio.sleep(0.05)  # the store's GET is under way by now
        raise RuntimeError("database gone")

    for headers in ({}, {"Range": "bytes=0-9"}):
        request = make_mocked_request("GET", "/audio", headers=headers)
        with pytest.raises(RuntimeError, match="database gone"):
            await stream_object(
                request,
                vault.store,
                key,
                version_id=version,
                content_type="audio/ogg",
                filename="x.ogg",
                download=False,
                before_body=failing_audit,
            )
        assert all(idle == size for idle, size in _free_connections(vault))


async def test_every_download_that_may_send_the_whole_file_is_audited(
    vault: Vault, route: str
) -> None:
    """Only an honoured `a-`/`a-b` with a > 0 continues a download unaudited; a range that
    If-Range turns into the whole file, or a suffix as long as the file, is audited."""
    ident, body = await _stored_recording(vault, 4096)
    headers = await _auth(vault, route)
    url, client = _url(route, ident) + "?download=1", vault.client

    async def downloads() -> int:
        return (await _events(vault, ident)).count("recording.download")

    stale = await client.get(url, headers={**headers, "Range": "bytes=1-", "If-Range": '"x"'})
    assert stale.status == 200 and await stale.read() == body  # If-Range: the whole file
    assert await downloads() == 1
    suffix = await client.get(url, headers={**headers, "Range": "bytes=-99999999"})
    assert suffix.status == 206 and await suffix.read() == body
    assert await downloads() == 2
    # A resumed download (the rest of a copy the client has) is part of the one audited.
    for extra in ({}, {"If-Range": f'"{_sha256(body)}"'}):
        rest = await client.get(url, headers={**headers, "Range": "bytes=1000-", **extra})
        assert rest.status == 206 and await rest.read() == body[1000:]
    assert await downloads() == 2


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def test_conditional_requests_304_and_412(vault: Vault, route: str) -> None:
    """RFC 9110: If-None-Match with the current ETag is 304 (no body, no audit event);
    If-Match with another ETag is 412; a matching If-Match serves as usual."""
    ident, body = await _stored_recording(vault, 4096)
    headers = await _auth(vault, route)
    url, client = _url(route, ident), vault.client
    async with vault.sessions() as session:
        archive = await session.scalar(select(Recording.sha256_archive))
    etag = f'"{archive}"'

    async def events() -> int:
        async with vault.sessions() as session:
            return len(list(await session.scalars(select(AuditEvent.id))))

    before = await events()
    for value in (etag, f'"x", W/{etag}', "*"):
        for dl in ("", "?download=1"):
            cached = await client.get(url + dl, headers={**headers, "If-None-Match": value})
            assert cached.status == 304, value
            assert cached.headers["ETag"] == etag and await cached.read() == b""
    head = await client.head(url, headers={**headers, "If-None-Match": etag})
    assert head.status == 304
    for value in ('"other"', f"W/{etag}"):  # If-Match compares strongly
        refused = await client.get(
            url, headers={**headers, "If-Match": value, "Range": "bytes=0-9"}
        )
        assert refused.status == 412, value
        assert await refused.read() == b""
    assert await events() == before  # nothing was played or downloaded

    changed = await client.get(url, headers={**headers, "If-None-Match": '"old"'})
    assert changed.status == 200 and await changed.read() == body
    matched = await client.get(
        url, headers={**headers, "If-Match": f'"x", {etag}', "Range": "bytes=0-9"}
    )
    assert matched.status == 206 and await matched.read() == body[:10]
    assert await events() == before + 1  # one listening session
