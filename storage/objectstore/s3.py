"""S3/MinIO store through the minio SDK. The SDK blocks, so every call runs in a thread."""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.commonconfig import Tags
from minio.error import InvalidResponseError, S3Error, ServerError

from storage.objectstore.base import (
    ByteRange,
    ObjectHeld,
    ObjectInfo,
    ObjectNotFound,
    ObjectStoreUnavailable,
    ObjectStream,
    ObjectVersion,
    PutResult,
    PutSource,
    sha256_of,
    validate_key,
)
from storage.services.errors import N_

T = TypeVar("T")
PART_SIZE = 16 * 1024 * 1024
# Bodies are read 2 MiB per thread hop: per-hop wake-ups, not the copies, limit relaying
# speed. bench/stream.py: 1 MiB cost ~30% more admin CPU per byte; 4 MiB saved a little
# more but took the streaming RSS growth to the 20 MB budget.
BODY_READ = 2 * 1024 * 1024
_NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "NoSuchObject", "ResourceNotFound"}
_HELD = {"AccessDenied", "ObjectLocked", "InvalidRequest"}
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
# A refused or timed-out connect is retried once (nothing was sent yet). A read that timed
# out is not: the endpoint stalled, a retry doubles the wait, and a PUT sent again lands a
# second version. Error statuses are retried only for reads (GET/HEAD), never for writes.
CONNECT_RETRIES = 1
STATUS_RETRIES = 2
# urllib3's failures when the endpoint is stalled, dead or drops the connection.
_UNREACHABLE = (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)
# S3's own ways of saying "not now".
_BUSY = {"ServiceUnavailable", "SlowDown", "InternalError", "RequestTimeout"}
# "This version has no legal hold": moto answers with the hold off, AWS and SeaweedFS with
# NoSuchObjectLegalHold (a version never held), MinIO without lock config with the other.
_NO_HOLD = {"NoSuchObjectLegalHold", "NoSuchObjectLockConfiguration"}


class S3ObjectStore:
    kind = "s3"

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        region: str = "us-east-1",
        *,
        max_connections: int = 32,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"S3 endpoint must be an http(s) URL, got {endpoint!r}")
        self.endpoint = endpoint
        self.bucket = bucket
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        http_client = urllib3.PoolManager(
            maxsize=max_connections,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=urllib3.Retry(
                total=CONNECT_RETRIES + STATUS_RETRIES,
                connect=CONNECT_RETRIES,
                read=0,
                status=STATUS_RETRIES,
                other=0,
                backoff_factor=0.2,
                status_forcelist=[500, 502, 503, 504],
                allowed_methods=frozenset({"GET", "HEAD"}),
                raise_on_status=False,
            ),
        )
        # Threads of its own: every open stream waits on its next read in one, and on the
        # loop's default executor (CPUs + 4 threads) a few streams would queue every other
        # call (a seek's stat, an upload) behind their reads.
        self._threads = ThreadPoolExecutor(max_connections, thread_name_prefix="s3")
        self.client = Minio(
            parts.netloc,
            access_key=access_key,
            secret_key=secret_key,
            secure=parts.scheme == "https",
            region=region,
            http_client=http_client,
        )

    @property
    def deadline(self) -> float:
        """The longest one call waits: every connect try, then one read."""
        return self.connect_timeout * (CONNECT_RETRIES + 1) + self.read_timeout

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn` in the store's threads."""
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await self._run(fn, *args, **kwargs)
        except _UNREACHABLE as exc:
            raise self.unavailable() from exc
        except S3Error as exc:
            if exc.code in _BUSY:
                raise self.unavailable() from exc
            raise
        except InvalidResponseError as exc:
            # Not an S3 answer at all: a proxy's error page (502/504), or no S3 there.
            raise self.unavailable() from exc
        except ServerError as exc:
            if exc.status_code >= 500:  # a 5xx without an S3 error body
                raise self.unavailable() from exc
            raise

    def unavailable(self) -> ObjectStoreUnavailable:
        return ObjectStoreUnavailable(
            N_(
                "the object store at {endpoint} did not answer within {seconds:.0f} s; "
                "please try again later"
            ),
            endpoint=self.endpoint,
            seconds=self.deadline,
        )

    async def ensure_bucket(self) -> None:
        if not await self._call(self.client.bucket_exists, self.bucket):
            try:
                await self._call(self.client.make_bucket, self.bucket, object_lock=True)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    async def bucket_exists(self) -> bool:
        return bool(await self._call(self.client.bucket_exists, self.bucket))

    async def put(
        self,
        key: str,
        source: PutSource,
        *,
        content_type: str = "application/octet-stream",
        tags: dict[str, str] | None = None,
    ) -> PutResult:
        validate_key(key)
        object_tags = None
        if tags:
            object_tags = Tags(for_object=True)
            object_tags.update(tags)

        def upload() -> PutResult:
            digest, size = sha256_of(source)
            if isinstance(source, bytes):
                stream: Any = io.BytesIO(source)
            elif isinstance(source, Path):
                stream = source.open("rb")
            else:
                stream = source
            try:
                result = self.client.put_object(
                    self.bucket,
                    key,
                    stream,
                    size,
                    content_type=content_type,
                    tags=object_tags,
                    part_size=PART_SIZE,
                )
            finally:
                if isinstance(source, Path):
                    stream.close()
            return PutResult(key=key, version_id=result.version_id, size=size, sha256=digest)

        return await self._call(upload)

    async def stat(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        validate_key(key)
        try:
            st = await self._call(self.client.stat_object, self.bucket, key, version_id=version_id)
        except S3Error as exc:
            raise self._translate(exc, key) from exc
        return ObjectInfo(
            key=key,
            size=int(st.size or 0),
            version_id=st.version_id,
            content_type=st.content_type or "application/octet-stream",
            last_modified=st.last_modified,
            etag=st.etag,
        )

    async def exists(self, key: str, *, version_id: str | None = None) -> bool:
        try:
            await self.stat(key, version_id=version_id)
        except ObjectNotFound:
            return False
        return True

    async def get(
        self, key: str, *, version_id: str | None = None, byte_range: ByteRange | None = None
    ) -> ObjectStream:
        if byte_range is None:
            return await self._get_whole(key, version_id)
        info = await self.stat(key, version_id=version_id)
        first, last = byte_range.resolve(info.size)
        length = last - first + 1
        if length <= 0:
            return ObjectStream(info=info, first=0, last=-1, _chunks=_empty())
        try:
            response = await self._call(
                self.client.get_object,
                self.bucket,
                key,
                offset=first,
                length=length,
                version_id=info.version_id,
            )
        except S3Error as exc:
            raise self._translate(exc, key) from exc
        return ObjectStream(
            info=info, first=first, last=last, _chunks=_Body(response, self.unavailable, self._run)
        )

    async def _get_whole(self, key: str, version_id: str | None) -> ObjectStream:
        """One plain GET and no HEAD first (the response headers describe the object):
        a round trip less per playback, and no Range for servers that copy to serve one."""
        validate_key(key)
        try:
            response = await self._call(
                self.client.get_object, self.bucket, key, version_id=version_id
            )
        except S3Error as exc:
            raise self._translate(exc, key) from exc
        headers = response.headers
        modified = headers.get("Last-Modified")
        info = ObjectInfo(
            key=key,
            size=int(headers.get("Content-Length") or 0),
            version_id=headers.get("x-amz-version-id") or version_id,
            content_type=headers.get("Content-Type") or "application/octet-stream",
            last_modified=parsedate_to_datetime(modified) if modified else None,
            etag=(headers.get("ETag") or "").strip('"') or None,
        )
        return ObjectStream(
            info=info,
            first=0,
            last=info.size - 1,
            _chunks=_Body(response, self.unavailable, self._run),
        )

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        validate_key(key)
        if version_id:
            versions = [(version_id, False)]
        else:
            versions = [(v.version_id, v.is_delete_marker) for v in await self._versions(key)]
        for version, marker in versions:
            # A delete marker has no legal hold (asking for one is an error on some servers).
            if not marker and await self._legal_hold_on(key, version):
                raise ObjectHeld(f"{key} (version {version}) is under legal hold")
        for version, _marker in versions:
            try:
                await self._call(self.client.remove_object, self.bucket, key, version_id=version)
            except S3Error as exc:
                if exc.code in _HELD:
                    raise ObjectHeld(f"{key}: {exc.message}") from exc
                if exc.code not in _NOT_FOUND:
                    raise

    async def remove_delete_marker(self, key: str, version_id: str) -> None:
        validate_key(key)
        markers = {v.version_id for v in await self._versions(key) if v.is_delete_marker}
        if version_id not in markers:
            raise ObjectNotFound(f"{key}: no delete marker {version_id}")
        try:
            await self._call(self.client.remove_object, self.bucket, key, version_id=version_id)
        except S3Error as exc:
            raise self._translate(exc, key) from exc

    async def _versions(self, key: str) -> list[ObjectVersion]:
        return [v for v in await self._list_versions(key, recursive=False) if v.key == key]

    async def list_versions(self, prefix: str = "") -> list[ObjectVersion]:
        return await self._list_versions(prefix, recursive=True)

    async def _list_versions(self, prefix: str, *, recursive: bool) -> list[ObjectVersion]:
        def collect() -> list[ObjectVersion]:
            return [
                ObjectVersion(
                    key=obj.object_name,
                    version_id=obj.version_id,
                    is_delete_marker=bool(obj.is_delete_marker),
                    # The SDK hands IsLatest over as the XML text.
                    is_latest=str(obj.is_latest).lower() == "true",
                    size=int(obj.size or 0),
                    last_modified=obj.last_modified,
                )
                for obj in self.client.list_objects(
                    self.bucket, prefix=prefix, recursive=recursive, include_version=True
                )
                if obj.object_name and not obj.is_dir
            ]

        return await self._call(collect)

    async def _legal_hold_on(self, key: str, version_id: str | None) -> bool:
        try:
            return bool(
                await self._call(
                    self.client.is_object_legal_hold_enabled,
                    self.bucket,
                    key,
                    version_id=version_id,
                )
            )
        except S3Error as exc:
            if exc.code in _NOT_FOUND or exc.code in _NO_HOLD:
                return False
            raise

    async def get_tags(self, key: str, *, version_id: str | None = None) -> dict[str, str]:
        validate_key(key)
        try:
            tags = await self._call(
                self.client.get_object_tags, self.bucket, key, version_id=version_id
            )
        except S3Error as exc:
            raise self._translate(exc, key) from exc
        return dict(tags or {})

    async def set_tags(
        self, key: str, tags: dict[str, str], *, version_id: str | None = None
    ) -> None:
        validate_key(key)
        object_tags = Tags(for_object=True)
        object_tags.update(tags)
        try:
            if tags:
                await self._call(
                    self.client.set_object_tags,
                    self.bucket,
                    key,
                    object_tags,
                    version_id=version_id,
                )
            else:
                await self._call(
                    self.client.delete_object_tags, self.bucket, key, version_id=version_id
                )
        except S3Error as exc:
            raise self._translate(exc, key) from exc

    async def set_legal_hold(self, key: str, on: bool, *, version_id: str | None = None) -> None:
        validate_key(key)
        version = version_id or (await self.stat(key)).version_id
        method = (
            self.client.enable_object_legal_hold if on else self.client.disable_object_legal_hold
        )
        try:
            await self._call(method, self.bucket, key, version_id=version)
        except S3Error as exc:
            raise self._translate(exc, key) from exc

    async def is_legal_hold(self, key: str, *, version_id: str | None = None) -> bool:
        validate_key(key)
        version = version_id or (await self.stat(key)).version_id
        return await self._legal_hold_on(key, version)

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        def collect() -> list[ObjectInfo]:
            return [
                ObjectInfo(
                    key=obj.object_name,
                    size=int(obj.size or 0),
                    version_id=obj.version_id,
                    content_type="application/octet-stream",
                    last_modified=obj.last_modified,
                    etag=obj.etag,
                )
                for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if obj.object_name and not obj.is_dir
            ]

        return await self._call(collect)

    async def check(self) -> dict[str, object]:
        exists = await self._call(self.client.bucket_exists, self.bucket)
        return {"kind": self.kind, "bucket": self.bucket, "bucket_exists": exists}

    async def close(self) -> None:
        await self._call(self.client._http.clear)
        self._threads.shutdown(wait=False)

    def _translate(self, exc: S3Error, key: str) -> Exception:
        if exc.code in _NOT_FOUND:
            return ObjectNotFound(key)
        return exc


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover


class _Body:
    """The response body, read in threads. Not an async generator: `aclose` must give the
    connection back also when nothing was read yet (say the listener left before the
    headers went out), and a generator never started skips its `finally`."""

    def __init__(
        self,
        response: Any,
        unavailable: Callable[[], Exception],
        run: Callable[..., Awaitable[Any]],
    ) -> None:
        self._response: Any = response
        self._unavailable = unavailable
        self._run = run

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        if self._response is None:
            raise StopAsyncIteration
        try:
            chunk = await self._run(self._response.read, BODY_READ)
        except _UNREACHABLE as exc:
            await self.aclose()
            raise self._unavailable() from exc
        except BaseException:
            await self.aclose()
            raise
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            # Closing without draining drops the connection rather than reading the rest.
            await self._run(_close_response, response)


def _close_response(response: Any) -> None:
    response.close()
    response.release_conn()
