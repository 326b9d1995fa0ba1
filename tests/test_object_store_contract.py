"""One contract suite for both object stores: the local directory and S3 (moto's server and
SeaweedFS on loopback, driven through the real minio SDK)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from minio.error import S3Error

from storage.objectstore import (
    ByteRange,
    InvalidObjectKey,
    LocalObjectStore,
    ObjectHeld,
    ObjectNotFound,
    ObjectStore,
    RangeNotSatisfiable,
    S3ObjectStore,
)

pytestmark = pytest.mark.storage

DATA = bytes(range(256)) * 4  # 1024 bytes, every byte value distinct within a 256 block
BAD_KEYS = ["../escape", "a/../b", "nul\x00byte", "/leading", "back\\slash", ""]


@pytest.fixture(params=["local", "moto", "seaweedfs"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        instance: ObjectStore = LocalObjectStore(tmp_path / "objects")
    else:
        fixture = "s3_endpoint" if request.param == "moto" else "seaweedfs_endpoint"
        endpoint = request.getfixturevalue(fixture)
        bucket = request.getfixturevalue("s3_bucket")
        instance = S3ObjectStore(endpoint, "test", "testtest", bucket)
    await instance.ensure_bucket()
    await instance.ensure_bucket()  # idempotent
    try:
        yield instance
    finally:
        await instance.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_round_trip_bytes(store: ObjectStore) -> None:
    result = await store.put("t/bytes.bin", DATA, content_type="application/x-test")
    assert result.key == "t/bytes.bin"
    assert result.size == len(DATA)
    assert result.sha256 == _sha(DATA)
    assert result.version_id
    stream = await store.get("t/bytes.bin")
    assert (stream.first, stream.last, stream.length) == (0, len(DATA) - 1, len(DATA))
    assert await stream.read_all() == DATA


async def test_round_trip_path(store: ObjectStore, tmp_path: Path) -> None:
    payload = b"from a file on disk\n" * 100
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    result = await store.put("t/path.bin", source)
    assert (result.size, result.sha256) == (len(payload), _sha(payload))
    assert result.version_id
    assert await (await store.get("t/path.bin")).read_all() == payload


async def test_round_trip_file_object(store: ObjectStore) -> None:
    payload = b"from a file object" * 50
    fh = io.BytesIO(payload)
    result = await store.put("t/fileobj.bin", fh)
    assert (result.size, result.sha256) == (len(payload), _sha(payload))
    assert result.version_id
    assert await (await store.get("t/fileobj.bin")).read_all() == payload


async def test_stat(store: ObjectStore) -> None:
    put = await store.put("t/stat.txt", b"hello", content_type="text/plain")
    info = await store.stat("t/stat.txt")
    assert info.key == "t/stat.txt"
    assert info.size == 5
    assert info.content_type.startswith("text/plain")
    assert info.version_id == put.version_id
    assert info.last_modified is not None
    assert await store.exists("t/stat.txt")
    assert not await store.exists("t/missing.txt")


@pytest.mark.parametrize(
    ("byte_range", "first", "last"),
    [
        (ByteRange(1000, None), 1000, 1023),
        (ByteRange(10, 19), 10, 19),
        (ByteRange(0, 0), 0, 0),
        (ByteRange.suffix(24), 1000, 1023),
        (ByteRange.suffix(5000), 0, 1023),
        (ByteRange(1020, 5000), 1020, 1023),
        (ByteRange(1023, None), 1023, 1023),
    ],
)
async def test_byte_ranges(
    store: ObjectStore, byte_range: ByteRange, first: int, last: int
) -> None:
    await store.put("t/range.bin", DATA)
    stream = await store.get("t/range.bin", byte_range=byte_range)
    assert (stream.first, stream.last, stream.length) == (first, last, last - first + 1)
    body = await stream.read_all()
    assert body == DATA[first : last + 1]
    assert len(body) == stream.length


@pytest.mark.parametrize("start", [1024, 5000])
async def test_range_start_past_end(store: ObjectStore, start: int) -> None:
    await store.put("t/range.bin", DATA)
    with pytest.raises(RangeNotSatisfiable) as excinfo:
        await store.get("t/range.bin", byte_range=ByteRange(start, None))
    assert excinfo.value.size == len(DATA)


async def test_tags(store: ObjectStore) -> None:
    await store.put("t/tags.bin", b"x", tags={"kind": "recording", "ticket": "42"})
    assert await store.get_tags("t/tags.bin") == {"kind": "recording", "ticket": "42"}
    await store.set_tags("t/tags.bin", {"kind": "attachment"})
    assert await store.get_tags("t/tags.bin") == {"kind": "attachment"}
    await store.set_tags("t/tags.bin", {})
    assert await store.get_tags("t/tags.bin") == {}


async def test_legal_hold_blocks_delete(store: ObjectStore) -> None:
    put = await store.put("t/held.bin", b"evidence")
    assert not await store.is_legal_hold("t/held.bin")
    await store.set_legal_hold("t/held.bin", True)
    assert await store.is_legal_hold("t/held.bin")

    with pytest.raises(ObjectHeld):
        await store.delete("t/held.bin")
    assert await store.exists("t/held.bin")
    assert await (await store.get("t/held.bin")).read_all() == b"evidence"

    if isinstance(store, S3ObjectStore):
        # The server itself refuses, not only our wrapper.
        with pytest.raises(S3Error) as excinfo:
            store.client.remove_object(store.bucket, "t/held.bin", version_id=put.version_id)
        assert excinfo.value.code == "AccessDenied"
        assert await store.exists("t/held.bin")

    await store.set_legal_hold("t/held.bin", False)
    assert not await store.is_legal_hold("t/held.bin")
    await store.delete("t/held.bin")
    assert not await store.exists("t/held.bin")
    with pytest.raises(ObjectNotFound):
        await store.get("t/held.bin")

    if isinstance(store, S3ObjectStore):
        left = list(
            store.client.list_objects(store.bucket, prefix="t/held.bin", include_version=True)
        )
        assert left == []


async def test_delete_erases_every_version(store: ObjectStore) -> None:
    await store.put("t/multi.bin", b"one")
    await store.put("t/multi.bin", b"two")
    await store.delete("t/multi.bin")
    assert not await store.exists("t/multi.bin")
    if isinstance(store, S3ObjectStore):
        left = list(
            store.client.list_objects(store.bucket, prefix="t/multi.bin", include_version=True)
        )
        assert left == []


async def test_delete_absent_is_harmless(store: ObjectStore) -> None:
    await store.delete("t/never-existed.bin")
    await store.delete("t/never-existed.bin")


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
async def test_invalid_keys_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidObjectKey):
        await store.put(key, b"x")
    with pytest.raises(InvalidObjectKey):
        await store.get(key)
    with pytest.raises(InvalidObjectKey):
        await store.delete(key)


async def test_list_prefix(store: ObjectStore) -> None:
    assert await store.list() == []
    await store.put("rec/2026/a.wav", b"a")
    await store.put("rec/2026/b.wav", b"bb")
    await store.put("att/c.pdf", b"ccc")
    listed = await store.list("rec/")
    assert sorted((info.key, info.size) for info in listed) == [
        ("rec/2026/a.wav", 1),
        ("rec/2026/b.wav", 2),
    ]
    assert sorted(info.key for info in await store.list()) == [
        "att/c.pdf",
        "rec/2026/a.wav",
        "rec/2026/b.wav",
    ]
    assert await store.list("nothing/") == []


async def test_large_object_early_close(store: ObjectStore) -> None:
    big = (b"0123456789abcdef" * 65536) * 3  # 3 MiB
    result = await store.put("t/big.bin", big)
    assert result.size == len(big)
    stream = await store.get("t/big.bin")
    assert stream.length == len(big)
    async for chunk in stream:
        assert chunk == big[: len(chunk)]
        break
    await stream.aclose()
    await stream.aclose()  # closing twice is harmless
    # The store is still fully usable afterwards.
    assert await (await store.get("t/big.bin")).read_all() == big
    async with await store.get("t/big.bin", byte_range=ByteRange(1, None)) as ranged:
        async for _chunk in ranged:
            break


async def test_get_absent(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await store.get("t/absent.bin")
    with pytest.raises(ObjectNotFound):
        await store.stat("t/absent.bin")


async def test_s3_bucket_has_object_lock_and_versioning(s3_server: str, s3_bucket: str) -> None:
    store = S3ObjectStore(s3_server, "test", "testtest", s3_bucket)
    try:
        await store.ensure_bucket()
        await store.ensure_bucket()
        lock = store.client.get_object_lock_config(s3_bucket)
        assert lock is not None
        assert store.client.get_bucket_versioning(s3_bucket).status == "Enabled"
    finally:
        await store.close()


async def test_empty_object(store: ObjectStore) -> None:
    result = await store.put("t/empty.bin", b"")
    assert (result.size, result.sha256) == (0, _sha(b""))
    stream = await store.get("t/empty.bin")
    assert stream.length == 0
    assert await stream.read_all() == b""
    with pytest.raises(RangeNotSatisfiable):
        await store.get("t/empty.bin", byte_range=ByteRange(0, None))
    with pytest.raises(RangeNotSatisfiable):
        await store.get("t/empty.bin", byte_range=ByteRange.suffix(10))


@pytest.mark.parametrize("key", ["sp ace/ü ñ.txt", "plus+sign&amp=x.txt", "q?uery#frag.txt"])
async def test_unusual_but_valid_keys(store: ObjectStore, key: str) -> None:
    # S3 restricts tag characters to letters, digits, spaces and _ . : / = + - @
    await store.put(key, b"payload", tags={"note": "a b=c+d:e/f@g"})
    assert await (await store.get(key)).read_all() == b"payload"
    assert await store.get_tags(key) == {"note": "a b=c+d:e/f@g"}
    assert [info.key for info in await store.list(key.split("/")[0])] == [key]
    await store.delete(key)
    assert not await store.exists(key)


async def test_bucket_exists_never_creates(store: ObjectStore, tmp_path: Path) -> None:
    assert await store.bucket_exists()
    if isinstance(store, S3ObjectStore):
        other: ObjectStore = S3ObjectStore(store.endpoint, "test", "testtest", "never-made")
    else:
        other = LocalObjectStore(tmp_path / "never-made")
    try:
        assert not await other.bucket_exists()
        assert not await other.bucket_exists()
    finally:
        await other.close()
    if isinstance(other, S3ObjectStore):
        assert not other.client.bucket_exists("never-made")
    else:
        assert not (tmp_path / "never-made").exists()


async def test_list_versions(store: ObjectStore) -> None:
    a = await store.put("v/a.bin", b"a")
    b = await store.put("v/sub/b.bin", b"bb")
    listed = sorted(await store.list_versions("v/"), key=lambda v: v.key)
    assert [(v.key, v.version_id, v.size, v.is_delete_marker, v.is_latest) for v in listed] == [
        ("v/a.bin", a.version_id, 1, False, True),
        ("v/sub/b.bin", b.version_id, 2, False, True),
    ]
    assert await store.list_versions("none/") == []


async def test_a_never_held_version_reads_as_not_held(store: ObjectStore) -> None:
    """SeaweedFS (like AWS) answers NoSuchObjectLegalHold here; that is "no hold"."""
    put = await store.put("t/never-held.bin", b"x")
    assert not await store.is_legal_hold("t/never-held.bin", version_id=put.version_id)
    assert not await store.is_legal_hold("t/never-held.bin")
    await store.delete("t/never-held.bin", version_id=put.version_id)
    assert not await store.exists("t/never-held.bin")


async def test_remove_delete_marker_refuses_a_stored_version(store: ObjectStore) -> None:
    put = await store.put("t/not-a-marker.bin", b"data")
    assert put.version_id
    with pytest.raises(ObjectNotFound):
        await store.remove_delete_marker("t/not-a-marker.bin", put.version_id)
    assert await (await store.get("t/not-a-marker.bin")).read_all() == b"data"


@pytest.fixture
async def s3_store(s3_server: str, s3_bucket: str) -> AsyncIterator[S3ObjectStore]:
    """S3 only (moto and SeaweedFS): the local store keeps one version per key."""
    instance = S3ObjectStore(s3_server, "test", "testtest", s3_bucket)
    await instance.ensure_bucket()
    try:
        yield instance
    finally:
        await instance.close()


@pytest.mark.parametrize("held", [False, True], ids=["unheld", "held"])
async def test_plain_s3_delete_only_adds_a_marker(s3_store: S3ObjectStore, held: bool) -> None:
    store = s3_store
    put = await store.put("t/marked.bin", b"kept")
    if held:
        await store.set_legal_hold("t/marked.bin", True, version_id=put.version_id)
    store.client.remove_object(store.bucket, "t/marked.bin")  # no version id: a marker
    assert not await store.exists("t/marked.bin")
    assert await store.exists("t/marked.bin", version_id=put.version_id)
    versions = await store.list_versions("t/marked.bin")
    markers = [v for v in versions if v.is_delete_marker]
    assert len(markers) == 1 and markers[0].is_latest and markers[0].version_id
    assert [v.version_id for v in versions if not v.is_delete_marker] == [put.version_id]

    await store.remove_delete_marker("t/marked.bin", markers[0].version_id)
    assert (await store.stat("t/marked.bin")).version_id == put.version_id
    assert await (await store.get("t/marked.bin")).read_all() == b"kept"
    assert [v.is_delete_marker for v in await store.list_versions("t/marked.bin")] == [False]
    assert await store.is_legal_hold("t/marked.bin") is held
    if held:
        await store.set_legal_hold("t/marked.bin", False, version_id=put.version_id)
    await store.delete("t/marked.bin")
