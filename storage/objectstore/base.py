"""The object-store contract shared by the S3/MinIO store and the local-directory store."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from storage.services.errors import ServiceError

CHUNK_SIZE = 256 * 1024
MAX_KEY_BYTES = 1024

PutSource = bytes | Path | BinaryIO


class ObjectStoreError(Exception):
    """Base for every object-store failure."""


class InvalidObjectKey(ObjectStoreError, ValueError):
    pass


class ObjectNotFound(ObjectStoreError):
    pass


class ObjectHeld(ObjectStoreError):
    """The object (or one of its versions) is under legal hold: deletion refused."""


class ObjectStoreUnavailable(ServiceError, ObjectStoreError):
    """The endpoint did not answer within its deadline (stalled, down, unreachable): a
    refusal the caller may retry later, not a fault of ours (HTTP 503)."""

    code = "object_store_unavailable"
    status = 503


class RangeNotSatisfiable(ObjectStoreError):
    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for an object of {size} bytes")
        self.size = size


def validate_key(key: str) -> str:
    """Refuse keys that could escape a directory or confuse a backend."""
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidObjectKey("object key must be 1..1024 bytes")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise InvalidObjectKey("object key contains a control character")
    if "\\" in key or key.startswith("/"):
        raise InvalidObjectKey("object key must be a relative path with '/' separators")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidObjectKey("object key has an empty, '.' or '..' segment")
    return key


@dataclass(frozen=True)
class ByteRange:
    """An HTTP-style range: (a, b) inclusive, (a, None) open-ended, (None, n) the last n bytes."""

    start: int | None = None
    end: int | None = None

    def __post_init__(self) -> None:
        if self.start is None and self.end is None:
            raise ValueError("a byte range needs a start or a suffix length")
        if (self.start is not None and self.start < 0) or (self.end is not None and self.end < 0):
            raise ValueError("byte range positions are non-negative")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("byte range ends before it starts")

    @classmethod
    def suffix(cls, length: int) -> ByteRange:
        return cls(None, length)

    def resolve(self, size: int) -> tuple[int, int]:
        """Inclusive (first, last) within an object of `size` bytes, or RangeNotSatisfiable."""
        if self.start is None:
            assert self.end is not None
            if self.end == 0 or size == 0:
                raise RangeNotSatisfiable(size)
            return max(0, size - self.end), size - 1
        if self.start >= size:
            raise RangeNotSatisfiable(size)
        last = size - 1 if self.end is None else min(self.end, size - 1)
        return self.start, last


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    version_id: str | None
    content_type: str
    last_modified: datetime | None = None
    etag: str | None = None


@dataclass(frozen=True)
class ObjectVersion:
    """One stored version of a key, or a delete marker (a versioned bucket's "deleted"
    without erasing: the versions under it are still there, fetchable by version id)."""

    key: str
    version_id: str | None
    is_delete_marker: bool
    is_latest: bool
    size: int = 0
    last_modified: datetime | None = None


@dataclass
class PutResult:
    key: str
    version_id: str | None
    size: int
    sha256: str


@dataclass
class ObjectStream:
    """An open read: iterate for chunks; always closed (also when the reader stops early)."""

    info: ObjectInfo
    first: int
    last: int
    _chunks: AsyncIterator[bytes] = field(repr=False)

    @property
    def length(self) -> int:
        return max(0, self.last - self.first + 1)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def aclose(self) -> None:
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            await closer()

    async def read_all(self) -> bytes:
        try:
            return b"".join([chunk async for chunk in self])
        finally:
            await self.aclose()

    async def __aenter__(self) -> ObjectStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@runtime_checkable
class ObjectStore(Protocol):
    kind: str

    async def ensure_bucket(self) -> None:
        """Create the bucket (object lock, hence versioning) if missing. Idempotent."""

    async def bucket_exists(self) -> bool:
        """Whether the bucket is there; never creates it."""

    async def put(
        self,
        key: str,
        source: PutSource,
        *,
        content_type: str = "application/octet-stream",
        tags: dict[str, str] | None = None,
    ) -> PutResult:
        """Write an object with its tags in the same request."""

    async def get(
        self, key: str, *, version_id: str | None = None, byte_range: ByteRange | None = None
    ) -> ObjectStream:
        """Open an object (or a byte range of it) for streaming."""

    async def stat(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        """Size and type; ObjectNotFound when absent."""

    async def exists(self, key: str, *, version_id: str | None = None) -> bool: ...

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        """Remove one version, or every version when none is named (real erasure, not a
        delete marker). Absent is fine. ObjectHeld while any affected version is held."""

    async def get_tags(self, key: str, *, version_id: str | None = None) -> dict[str, str]: ...

    async def set_tags(
        self, key: str, tags: dict[str, str], *, version_id: str | None = None
    ) -> None:
        """Replace the object's tags."""

    async def set_legal_hold(self, key: str, on: bool, *, version_id: str | None = None) -> None:
        """Turn the legal hold on or off for one version (the newest if none is named)."""

    async def is_legal_hold(self, key: str, *, version_id: str | None = None) -> bool: ...

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Current versions of every object under the prefix."""

    async def list_versions(self, prefix: str = "") -> list[ObjectVersion]:
        """Every version and delete marker under the prefix (a store without versioning
        lists its one version per key)."""

    async def remove_delete_marker(self, key: str, version_id: str) -> None:
        """Remove one delete marker (a DELETE naming its version id), bringing back the
        version under it. Refuses (ObjectNotFound) a version id that is no delete marker,
        so it can never erase data."""

    async def check(self) -> dict[str, object]:
        """Reachability for /healthz and /readyz; raises when the store is unusable."""

    async def close(self) -> None: ...


def sha256_of(source: PutSource) -> tuple[str, int]:
    """Digest and size of a put source without loading a file into memory."""
    digest = hashlib.sha256()
    if isinstance(source, bytes):
        digest.update(source)
        return digest.hexdigest(), len(source)
    if isinstance(source, Path):
        with source.open("rb") as fh:
            return _digest_stream(fh, digest)
    position = source.tell()
    result = _digest_stream(source, digest)
    source.seek(position)
    return result


def _digest_stream(fh: BinaryIO, digest: hashlib._Hash) -> tuple[str, int]:
    size = 0
    while chunk := fh.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
