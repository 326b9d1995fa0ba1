"""Every response of a real server says `Server: supportdesk`, aiohttp's own answers to
requests it cannot parse included (those never reach a middleware or signal)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from admin.app import create_app
from admin.auth import public
from admin.server import start_runner
from storage.config import Settings

pytestmark = pytest.mark.storage


@public
async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("a handler fault")


@pytest.fixture
async def base_url(settings: Settings, engine: AsyncEngine) -> AsyncIterator[str]:
    app = create_app(settings, engine=engine)
    # A handler that fails, so that a 500 is among the answers.
    app.router.add_get("/test-boom", _boom, name="test_boom")
    runner = await start_runner(app, access_log=None)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def _raw(base_url: str, request: bytes) -> tuple[str, dict[str, str]]:
    """Send bytes as they are; the status line and headers of the answer."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    finally:
        writer.close()
    status, *lines = head.decode("latin-1").strip().split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


@pytest.mark.parametrize(
    "garbage",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # TLS on the plain port
    ],
)
async def test_aiohttps_own_400_for_a_malformed_request_says_supportdesk(
    base_url: str, garbage: bytes
) -> None:
    status, headers = await _raw(base_url, garbage)
    assert " 400 " in status, status
    assert headers["server"] == "supportdesk"


async def test_normal_and_error_answers_of_the_real_server_say_supportdesk(
    base_url: str,
) -> None:
    async with aiohttp.ClientSession() as client:
        answers = [
            await client.get(f"{base_url}/login"),
            await client.get(f"{base_url}/no/such/page"),
            await client.put(f"{base_url}/login"),
            await client.get(f"{base_url}/test-boom"),
            await client.head(f"{base_url}/login"),
        ]
        for answer in answers:
            answer.release()
    assert [a.status for a in answers] == [200, 404, 405, 500, 200]
    servers = [a.headers.get("Server") for a in answers]
    assert servers == ["supportdesk"] * len(answers)
    # A request line with a path aiohttp rejects is one more answer of its own.
    status, headers = await _raw(base_url, b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert " 400 " in status and headers["server"] == "supportdesk"
