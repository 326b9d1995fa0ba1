"""A recording Bot API session for tests, after aiogram's own MockedBot: every request is
recorded, answers are generated for the few methods the bot may call, queued errors are
raised in order, and any other API call fails the test."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict, deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from aiohttp import web
from pydantic import SecretStr

from storage.config import Settings

BOT_ID = 42
TOKEN = f"{BOT_ID}:TEST-token-for-the-fake-session"
_DATE = int(datetime(2026, 3, 2, 10, 0, tzinfo=UTC).timestamp())


class UnexpectedCall(AssertionError):
    pass


TEXT_LIMIT = 4096  # UTF-16 code units, as Telegram counts
CAPTION_LIMIT = 1024


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def refused(method: TelegramMethod[Any]) -> str | None:
    """What Telegram answers 400 to: an empty or too long text, a too long caption."""
    if method.__api_method__ in ("sendMessage", "editMessageText"):
        text = str(getattr(method, "text", "") or "")
        if not text.strip():
            return "message text is empty"
        if utf16_units(text) > TEXT_LIMIT:
            return "message is too long"
    caption = getattr(method, "caption", None)
    if caption is not None and utf16_units(str(caption)) > CAPTION_LIMIT:
        return "message caption is too long"
    return None


class RecordingSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.unexpected: list[str] = []
        self.downloads: list[str] = []
        self.errors: dict[str, deque[tuple[int, dict[str, Any]]]] = defaultdict(deque)
        self.passes: dict[str, int] = defaultdict(int)  # successes before the next error
        self._ids = itertools.count(1000)
        self.files: dict[str, bytes] = {}  # file_id -> content served by getFile + download
        self.documents: list[bytes] = []  # contents of sendDocument files
        self.refusals: list[str] = []  # what Telegram's limits refused (see `refused`)
        # Awaited as a file download starts (e.g. to look at the database meanwhile).
        self.on_download: Callable[[], Awaitable[None]] | None = None

    def fail_next(
        self, api_method: str, status: int, description: str, *, after: int = 0, **parameters: Any
    ) -> None:
        """Queue an error answer for the next call of `api_method` (e.g. 'sendMessage'), or
        for the one after `after` more successful calls."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.errors[api_method].append((status, body))
        self.passes[api_method] = after

    def calls(self, api_method: str) -> list[TelegramMethod[Any]]:
        return [r for r in self.requests if r.__api_method__ == api_method]

    def sent_texts(self) -> list[str]:
        return [str(r.text) for r in self.calls("sendMessage")]  # type: ignore[attr-defined]

    def _result(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        name = method.__api_method__
        if name == "sendMessage":
            return {
                "message_id": next(self._ids),
                "date": _DATE,
                "chat": {"id": method.chat_id, "type": "private"},  # type: ignore[attr-defined]
                "from": {"id": bot.id, "is_bot": True, "first_name": "Desk"},
                "text": method.text,  # type: ignore[attr-defined]
            }
        if name == "getFile" and method.file_id in self.files:  # type: ignore[attr-defined]
            file_id = method.file_id  # type: ignore[attr-defined]
            return {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(self.files[file_id]),
                "file_path": f"files/{file_id}",
            }
        if name == "sendDocument":  # the file is read now: senders remove it afterwards
            document = method.document  # type: ignore[attr-defined]
            path = getattr(document, "path", None)
            self.documents.append(Path(path).read_bytes() if path else b"")
            return {
                "message_id": next(self._ids),
                "date": _DATE,
                "chat": {"id": method.chat_id, "type": "private"},  # type: ignore[attr-defined]
                "document": {"file_id": "doc", "file_unique_id": "u-doc"},
            }
        if name == "answerCallbackQuery":
            return True
        if name == "getMe":
            return {"id": bot.id, "is_bot": True, "first_name": "Desk", "username": "desk_bot"}
        self.unexpected.append(name)
        raise UnexpectedCall(f"unexpected Bot API call {name}")

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        self.requests.append(method)
        name = method.__api_method__
        refusal = refused(method)
        if refusal is not None:
            body = {"ok": False, "error_code": 400, "description": f"Bad Request: {refusal}"}
            self.refusals.append(refusal)
            response = self.check_response(
                bot=bot, method=method, status_code=400, content=json.dumps(body)
            )
            return response.result  # type: ignore[return-value]  # (raises)
        if self.errors[name] and self.passes[name] > 0:
            self.passes[name] -= 1
            status, body = 200, {"ok": True, "result": self._result(bot, method)}
        elif self.errors[name]:
            status, body = self.errors[name].popleft()
        else:
            status, body = 200, {"ok": True, "result": self._result(bot, method)}
        response = self.check_response(
            bot=bot, method=method, status_code=status, content=json.dumps(body)
        )
        return response.result  # type: ignore[return-value]

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        self.downloads.append(url)
        file_id = url.rsplit("/files/", 1)[-1]
        if file_id not in self.files:
            self.unexpected.append(f"download {url}")
            raise UnexpectedCall(f"unexpected download {url}")
        content = self.files[file_id]
        if self.on_download is not None:
            await self.on_download()
        for start in range(0, len(content), chunk_size):
            yield content[start : start + chunk_size]

    async def close(self) -> None:
        pass


def make_bot() -> tuple[Bot, RecordingSession]:
    session = RecordingSession()
    return Bot(TOKEN, session=session), session


_update_ids = itertools.count(1)
_message_ids = itertools.count(1)


def user(user_id: int, language: str = "nl", first_name: str = "Anna") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language}


def message_update(
    user_id: int,
    text: str | None = None,
    *,
    language: str = "nl",
    reply_to: dict[str, Any] | None = None,
    **content: Any,
) -> Update:
    """An Update with a private message from the user (text, or other content fields)."""
    message: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": _DATE,
        "chat": {"id": user_id, "type": "private", "first_name": "Anna"},
        "from": user(user_id, language),
        **content,
    }
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    if reply_to is not None:
        message["reply_to_message"] = reply_to
    return Update.model_validate({"update_id": next(_update_ids), "message": message})


def text_update_json(
    update_id: int, user_id: int, text: str, *, language: str = "nl"
) -> dict[str, Any]:
    """A private text message as Telegram sends it (JSON), with its own update id: what a
    webhook receives or getUpdates answers. A leading command carries its entity."""
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": _DATE,
        "chat": {"id": user_id, "type": "private"},
        "from": user(user_id, language, first_name="A"),
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message}


def bot_message(chat_id: int, text: str) -> dict[str, Any]:
    """A message the bot sent earlier, for reply_to."""
    return {
        "message_id": next(_message_ids),
        "date": _DATE,
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Desk"},
        "text": text,
    }


def callback_update(user_id: int, data: str, *, language: str = "nl") -> Update:
    return Update.model_validate(
        {
            "update_id": next(_update_ids),
            "callback_query": {
                "id": str(next(_update_ids)),
                "from": user(user_id, language),
                "chat_instance": "ci",
                "data": data,
                "message": bot_message(user_id, "buttons"),
            },
        }
    )


class HttpBotApi:
    """The Bot API over HTTP (127.0.0.1, SUPPORTDESK_TELEGRAM_API_BASE) with injectable
    faults, for end-to-end tests of the outbox: `outage` (every sending method answers 502
    while it is on), `drop(n)` (the next n sending calls lose their connection before the
    server acts on them), `fail_next(...)` (a queued error answer, e.g. 429 with
    retry_after). `shown[chat_id]` is what each chat shows, in the order the server took
    it: a message appears there once per call the server accepted."""

    SENDING = frozenset(
        {
            "sendMessage",
            "editMessageText",
            "editMessageReplyMarkup",
            "answerCallbackQuery",
            "deleteMessage",
        }
    )

    def __init__(self, token: str) -> None:
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self.shown: dict[int, list[str]] = defaultdict(list)
        self.message_ids: dict[int, list[int]] = defaultdict(list)  # of shown sendMessages
        self.markups: dict[int, list[Any]] = defaultdict(list)  # their reply_markup (or None)
        self.calls: list[str] = []
        self.refused: list[str] = []  # "method: status" of every fault answered
        self.outage = False
        self.dropping = 0
        self.errors: deque[tuple[str, int, dict[str, Any]]] = deque()
        self._ids = itertools.count(5000)

    def fail_next(self, api_method: str, status: int, description: str, **parameters: Any) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.errors.append((api_method, status, body))

    def drop(self, count: int = 1) -> None:
        self.dropping += count

    def texts(self, chat_id: int) -> list[str]:
        return list(self.shown[chat_id])

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert request.match_info["token"] == self.token
        method = request.match_info["method"]
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.calls.append(method)
        if method in self.SENDING:
            if self.dropping:
                self.dropping -= 1
                self.refused.append(f"{method}: dropped")
                request.transport.close()  # the client sees a dropped connection
                raise web.HTTPBadRequest  # never reaches the client
            if self.outage:
                self.refused.append(f"{method}: 502")
                return web.Response(status=502, text="Bad Gateway")
            if self.errors and self.errors[0][0] == method:
                _, status, body = self.errors.popleft()
                self.refused.append(f"{method}: {status}")
                return web.json_response(body, status=status)
        result: Any = True
        if method == "getMe":
            result = {"id": BOT_ID, "is_bot": True, "first_name": "Desk", "username": "desk"}
        elif method == "getUpdates":
            offset = int(form.get("offset", 0))
            result = [u for u in self.updates if u["update_id"] >= offset]
            if not result:
                await asyncio.sleep(0.05)
        elif method == "sendMessage":
            chat_id = int(form["chat_id"])
            self.shown[chat_id].append(form["text"])
            self.message_ids[chat_id].append(next(self._ids))
            markup = form.get("reply_markup")
            self.markups[chat_id].append(json.loads(markup) if markup else None)
            result = {
                "message_id": self.message_ids[chat_id][-1],
                "date": _DATE,
                "chat": {"id": chat_id, "type": "private"},
                "text": form["text"],
            }
        elif method == "editMessageText":
            self.shown[int(form["chat_id"])].append("[edit] " + form["text"])
            result = {
                "message_id": int(form["message_id"]),
                "date": _DATE,
                "chat": {"id": int(form["chat_id"]), "type": "private"},
                "text": form["text"],
            }
        return web.json_response({"ok": True, "result": result})

    async def serve(self) -> tuple[web.AppRunner, str]:
        """Start on a free port; returns the runner (call cleanup()) and the base URL."""
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return runner, f"http://{host}:{port}"


@pytest.fixture
async def http_bot_api() -> AsyncIterator[tuple[HttpBotApi, str]]:
    """The HTTP Bot API fake on a free loopback port: (api, its base URL)."""
    api = HttpBotApi(TOKEN)
    runner, base = await api.serve()
    yield api, base
    await runner.cleanup()


def bot_settings(settings: Settings, base: str, **extra: Any) -> Settings:
    """`settings` for a bot with this module's token, talking to a fake at `base`."""
    return settings.model_copy(
        update={"telegram_token": SecretStr(TOKEN), "telegram_api_base": base, **extra}
    )
