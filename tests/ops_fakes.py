"""Edges for the operations tests: an HTTP fake of the Telegram Bot API on 127.0.0.1
(getMe, optionally slow; getUpdates; sendMessage) and a real Redis."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aiohttp import web

BOT_TOKEN = "777001:AAfake-ops-token-never-logged"


class FakeTelegram:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.sent: list[dict[str, str]] = []
        self.calls: list[str] = []
        self.get_me_delay = 0.0
        self.get_me_started = asyncio.Event()
        self.next_id = 100

    def add_text_update(self, update_id: int, user_id: int, text: str) -> None:
        self.updates.append(
            {
                "update_id": update_id,
                "message": {
                    "message_id": update_id,
                    "date": 1772445600,
                    "chat": {"id": user_id, "type": "private"},
                    "from": {
                        "id": user_id,
                        "is_bot": False,
                        "first_name": "Klant",
                        "language_code": "nl",
                    },
                    "text": text,
                },
            }
        )

    async def handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != BOT_TOKEN:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        self.calls.append(method)
        form = dict(await request.post())
        result: Any = True
        if method == "getMe":
            self.get_me_started.set()
            await asyncio.sleep(self.get_me_delay)
            result = {"id": 777001, "is_bot": True, "first_name": "Desk", "username": "desk_bot"}
        elif method == "getUpdates":
            offset = int(str(form.get("offset", 0)))
            result = [u for u in self.updates if u["update_id"] >= offset]
            if not result:
                await asyncio.sleep(0.05)
        elif method == "sendMessage":
            self.sent.append({k: str(v) for k, v in form.items()})
            self.next_id += 1
            result = {
                "message_id": self.next_id,
                "date": 1772445600,
                "chat": {"id": int(str(form["chat_id"])), "type": "private"},
                "text": str(form["text"]),
            }
        return web.json_response({"ok": True, "result": result})


@asynccontextmanager
async def running_fake_telegram() -> AsyncIterator[tuple[FakeTelegram, str]]:
    """Serve a FakeTelegram; yields it and its base URL."""
    fake = FakeTelegram()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield fake, f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def wait_until(predicate: Any, seconds: float = 10.0) -> None:
    """Poll an async predicate until it holds."""
    for _ in range(int(seconds / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server() -> Iterator[str]:
    """The Redis on 127.0.0.1:6379 when one runs there, otherwise a private `redis-server`
    (Debian's package, installed by .ci/setup) on a free port for the test session."""
    if _answers_ping(6379):
        yield "redis://127.0.0.1:6379/0"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("no Redis on 127.0.0.1:6379 and no redis-server: run .ci/setup")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _answers_ping(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
