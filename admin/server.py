"""Running the admin app on a socket, with one `Server` header on every response.

aiohttp answers a request it cannot parse (b"GARBAGE\\r\\n\\r\\n", an oversized header line,
TLS sent to the plain port) itself, in its protocol layer: no middleware, no route and no
`on_response_prepare` signal sees that 400 (the request has no match info), and the
response falls back to aiohttp's `Server: Python/3.x aiohttp/3.x`. Every response, that
one included, is written through the stream writer the runner's request factory receives,
so the runner's public `server.request_factory` is wrapped to hand requests a writer
(aiohttp.abc.AbstractStreamWriter, the public writer interface) that names us instead.
`security_headers` still sets the header for every routed response; this covers the rest.
"""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from multidict import CIMultiDict

from admin.middleware import SERVER


class ServerHeaderWriter(AbstractStreamWriter):
    """The protocol's writer, with our `Server` header on the response head."""

    def __init__(self, inner: AbstractStreamWriter) -> None:
        self._inner = inner

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        headers[hdrs.SERVER] = SERVER
        await self._inner.write_headers(status_line, headers)

    def send_headers(self) -> None:
        self._inner.send_headers()

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        await self._inner.write(chunk)

    async def write_eof(self, chunk: bytes = b"") -> None:
        await self._inner.write_eof(chunk)

    async def drain(self) -> None:
        await self._inner.drain()

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        self._inner.enable_compression(encoding, strategy)

    def enable_chunking(self) -> None:
        self._inner.enable_chunking()

    @property
    def transport(self) -> Any:
        return self._inner.transport

    # The response reads and sets these on the writer: they live on the inner one.
    @property  # type: ignore[override]
    def buffer_size(self) -> int:
        return self._inner.buffer_size

    @property  # type: ignore[override]
    def output_size(self) -> int:
        return self._inner.output_size

    @property  # type: ignore[override]
    def length(self) -> int | None:
        return self._inner.length

    @length.setter
    def length(self, value: int | None) -> None:
        self._inner.length = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def name_every_response(runner: web.BaseRunner) -> None:
    """After `runner.setup()`, before a site starts: requests get the header-setting writer."""
    server = runner.server
    assert server is not None, "call after runner.setup()"
    make_request = server.request_factory

    def request_factory(message, payload, protocol, writer, task):  # type: ignore[no-untyped-def]
        return make_request(message, payload, protocol, ServerHeaderWriter(writer), task)

    server.request_factory = request_factory


async def start_runner(app: web.Application, **runner_args: Any) -> web.AppRunner:
    """An AppRunner set up for `app`, every response naming only "supportdesk"."""
    runner = web.AppRunner(app, **runner_args)
    await runner.setup()
    name_every_response(runner)
    return runner
