"""Bot throughput benchmark (issue 3): customer messages into tickets per second through the
full dispatcher (`create_dispatcher`, SQLite, real ticket service) next to a bare aiogram
dispatcher with an empty handler, in the same run.

    .venv/bin/python bench/bot_throughput.py [--messages 2000] [--users 100]

Prints both rates and the ratio (targets: >= 500 msg/s and >= 0.3x). The Bot API is a null
session that answers sendMessage locally, so only our own work is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.types import Message, Update

from bot.dispatcher import create_dispatcher
from storage import migrate
from storage.clock import SystemClock
from storage.config import Settings
from storage.db import create_engine, create_sessionmaker
from storage.objectstore.local import LocalObjectStore
from storage.services.tickets import TicketService

DATE = 1772445600


class NullSession(BaseSession):
    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: Any = None) -> Any:  # noqa: ASYNC109
        result = {
            "message_id": 1,
            "date": DATE,
            "chat": {"id": getattr(method, "chat_id", 1), "type": "private"},
            "text": getattr(method, "text", ""),
        }
        body = json.dumps(
            {"ok": True, "result": result if method.__api_method__ == "sendMessage" else True}
        )
        return self.check_response(bot=bot, method=method, status_code=200, content=body).result

    async def stream_content(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        # The benchmark sends text only; a download would be a bug in the benchmark.
        raise RuntimeError("the throughput benchmark downloads no files")

    async def close(self) -> None:
        pass


def updates(count: int, users: int) -> list[Update]:
    return [
        Update.model_validate(
            {
                "update_id": i + 1,
                "message": {
                    "message_id": i + 1,
                    "date": DATE,
                    "chat": {"id": 10_000 + i % users, "type": "private"},
                    "from": {
                        "id": 10_000 + i % users,
                        "is_bot": False,
                        "first_name": "B",
                        "language_code": "nl",
                    },
                    "text": f"bericht {i}: de verbinding valt steeds weg",
                },
            }
        )
        for i in range(count)
    ]


async def rate(dp: Dispatcher, bot: Bot, batch: list[Update]) -> float:
    start = time.perf_counter()
    for update in batch:
        await dp.feed_update(bot, update)
    return len(batch) / (time.perf_counter() - start)


async def main(messages: int, users: int) -> None:
    bot = Bot("1:bench", session=NullSession())
    bare = Dispatcher()

    @bare.message()
    async def empty(message: Message) -> None:
        return None

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        engine = create_engine(settings.effective_database_url)
        await migrate.upgrade(engine)
        clock = SystemClock()
        full = create_dispatcher(
            sessionmaker=create_sessionmaker(engine),
            ticket_service=TicketService(clock),
            object_store=LocalObjectStore(Path(tmp) / "objects"),
            settings=settings,
            clock=clock,
        )
        batch = updates(messages, users)
        await rate(bare, bot, batch[:50])  # warm-up
        bare_rate = await rate(bare, bot, batch)
        full_rate = await rate(full, bot, batch)
        await engine.dispose()
    print(f"bare aiogram dispatcher, empty handler: {bare_rate:10.0f} msg/s")
    print(f"supportdesk dispatcher (SQLite):       {full_rate:10.0f} msg/s")
    print(f"ratio: {full_rate / bare_rate:.3f}x   (targets: >= 500 msg/s and >= 0.3x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--users", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.users))
