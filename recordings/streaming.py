"""HTTP Range streaming of a stored object through the admin, chunk by chunk.

Only single ranges are honoured (`a-b`, `a-`, `-n`); a malformed or multi-range header is
ignored and the whole object is served, as RFC 9110 allows. The object stream is closed
on every path, also when the client goes away mid-body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import hdrs, web

from storage.objectstore.base import ByteRange, ObjectStore, RangeNotSatisfiable

log = logging.getLogger(__name__)
# Store chunks queued per stream (2 MiB each from S3) while one is sent and one is read:
# the reads overlap the sends, and a stream holds at most ~6 chunks (12 MiB).
PREFETCH = 2
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None) -> ByteRange | None:
    """The requested byte range, or None to serve everything."""
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    try:
        if not first:
            return ByteRange.suffix(int(last)) if last else None
        return ByteRange(int(first), int(last) if last else None)
    except ValueError:
        return None  # e.g. b < a: not a valid range, so ignored


def served_range(request: web.Request, etag: str = "") -> ByteRange | None:
    """The range that will really be served: the Range header unless If-Range names
    another version (then the whole object goes out)."""
    byte_range = parse_range(request.headers.get(hdrs.RANGE))
    if byte_range is not None and etag and request.headers.get(hdrs.IF_RANGE, etag) != etag:
        return None  # the client's copy is of another version: send it whole
    return byte_range


def _etags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def precondition_status(request: web.Request, etag: str) -> int | None:
    """412 or 304 when If-Match / If-None-Match say so (RFC 9110 13.2.2: If-Match first,
    strong comparison; If-None-Match weak); None to serve normally."""
    if not etag:
        return None
    if_match = request.headers.get(hdrs.IF_MATCH)
    if if_match is not None:
        tags = _etags(if_match)
        if "*" not in tags and etag not in tags:  # a W/ tag never matches strongly
            return 412
    if_none_match = request.headers.get(hdrs.IF_NONE_MATCH)
    if if_none_match is not None:
        tags = [tag.removeprefix("W/") for tag in _etags(if_none_match)]
        if "*" in tags or etag in tags:
            return 304 if request.method in ("GET", "HEAD") else 412
    return None


def _disposition(filename: str, download: bool) -> str:
    return f'{"attachment" if download else "inline"}; filename="{filename}"'


async def stream_object(
    request: web.Request,
    store: ObjectStore,
    key: str,
    *,
    version_id: str | None,
    content_type: str,
    filename: str,
    download: bool,
    etag: str = "",
    before_body: Callable[[], Awaitable[None]] | None = None,
) -> web.StreamResponse:
    """Serve the object (200/206/416, 304/412 on If-None-Match/If-Match, HEAD).
    `before_body` (the caller's audit and commit) runs only when a body will really be
    served (200/206), after the store has opened the object and before anything is sent."""
    precondition = precondition_status(request, etag)
    if precondition is not None:
        # No body, so no play or download to audit: answered before `before_body`.
        return web.Response(status=precondition, headers={hdrs.ETAG: etag})
    byte_range = served_range(request, etag)
    headers = {
        hdrs.ACCEPT_RANGES: "bytes",
        hdrs.CONTENT_TYPE: content_type,
        hdrs.CONTENT_DISPOSITION: _disposition(filename, download),
    }
    if etag:
        headers[hdrs.ETAG] = etag
    if request.method == "HEAD":
        info = await store.stat(key, version_id=version_id)
        return web.Response(headers={**headers, hdrs.CONTENT_LENGTH: str(info.size)})
    try:
        stream = await store.get(key, version_id=version_id, byte_range=byte_range)
    except RangeNotSatisfiable as exc:
        # Nothing is played or downloaded: no audit.
        return web.Response(
            status=416,
            headers={hdrs.ACCEPT_RANGES: "bytes", hdrs.CONTENT_RANGE: f"bytes */{exc.size}"},
        )
    try:
        if before_body is not None:
            await before_body()
    except BaseException:
        await stream.aclose()
        raise
    # aclosing: the prefetcher stops (and so stops reading) before the stream is closed.
    async with stream, contextlib.aclosing(_prefetch(stream)) as chunks:
        response = web.StreamResponse(status=206 if byte_range else 200, headers=headers)
        if byte_range is not None:
            response.headers[hdrs.CONTENT_RANGE] = (
                f"bytes {stream.first}-{stream.last}/{stream.info.size}"
            )
        response.content_length = stream.length
        await response.prepare(request)
        try:
            async for chunk in chunks:
                await response.write(chunk)
            await response.write_eof()
        except ConnectionError:
            pass  # the listener seeked or left; the store's response is closed below
        except Exception as exc:  # the store failed (S3 error, timeout, reset)
            # Headers are gone: all we can do is cut the connection so the client sees
            # a short body instead of waiting for the rest.
            log.warning("object stream failed mid-body: %s", type(exc).__name__)
            if request.transport is not None:
                request.transport.close()
    return response


async def _prefetch(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Read the next chunks from the store while the current one goes to the client:
    the store read (a thread hop) and the socket write overlap. At most PREFETCH chunks
    wait in the queue (plus the one being read and the one being sent), so memory stays
    bounded."""
    queue: asyncio.Queue[bytes | Exception | None] = asyncio.Queue(PREFETCH)

    async def pump() -> None:
        try:
            async for chunk in stream:
                await queue.put(chunk)
        except Exception as exc:
            await queue.put(exc)
        else:
            await queue.put(None)

    task = asyncio.create_task(pump())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
