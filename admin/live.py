"""The live inbox: new tickets and customer messages pushed to open inbox and ticket pages
as Server-Sent Events.

One poller per process asks the database for messages after the last id it saw (the
database is shared, so a message filed by any instance or by the bot reaches every
instance) and hands each event to the connected pages of this process. It only runs while
someone is connected."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from admin.auth import Permission, public, requires
from admin.keys import DB, READ_SESSIONMAKER
from admin.parsing import parse_id
from storage.services.live import NewMessage, latest_message_id, messages_after

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

POLL_INTERVAL = 0.5  # seconds between polls while pages listen: well within the 2 s promise
POLL_BATCH = 200
BACKLOG_LIMIT = 500  # events replayed to a page that reconnects (Last-Event-ID)
QUEUE_SIZE = 256  # a page this far behind is disconnected; it resumes from Last-Event-ID
# An id skipped by the poller may belong to a transaction that commits later (PostgreSQL
# hands out sequence values before commit): asked for again for this long.
GAP_SECONDS = 10.0
GAP_LIMIT = 1000
HEARTBEAT_SECONDS = 15.0
CHECK_SECONDS = 1.0  # how soon a closed connection releases its subscription
STREAM_SECONDS = 300.0  # then the browser reconnects, and its login is checked again
RETRY_MS = 2000


@dataclass(frozen=True, slots=True)
class LiveEvent:
    id: int
    kind: str  # "ticket" (a new ticket) or "message" (a customer message on a ticket)
    data: dict[str, object]

    def encode(self) -> bytes:
        body = json.dumps(self.data, separators=(",", ":"))
        return f"id: {self.id}\nevent: {self.kind}\ndata: {body}\n\n".encode()


class Subscription:
    """One connected page's queue of events."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(QUEUE_SIZE)
        self.closed = False

    def offer(self, event: LiveEvent) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.close()  # too slow: dropped, the page resumes from its Last-Event-ID

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def next(self, within: float) -> LiveEvent | None:
        """The next event, or None after `within` seconds or once closed."""
        try:
            return await asyncio.wait_for(self._queue.get(), within)
        except TimeoutError:
            return None


class LiveFeed:
    """The process's poller and its subscribers."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        ticket_url: Callable[[int], str],
        *,
        interval: float = POLL_INTERVAL,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._ticket_url = ticket_url
        self._interval = interval
        self.heartbeat = heartbeat  # seconds of silence before a stream sends a comment
        self._subscribers: set[Subscription] = set()
        self._cursor = 0
        self._gaps: dict[int, float] = {}  # skipped id -> when to stop asking
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def polling(self) -> bool:
        return self._task is not None

    @property
    def seen_up_to(self) -> int:
        """Every message up to this id has been handed to the subscribers: the newest id
        below any skipped one a slower transaction may still commit."""
        if self._gaps:
            return min(self._cursor, min(self._gaps) - 1)
        return self._cursor

    @asynccontextmanager
    async def subscription(self) -> AsyncIterator[Subscription]:
        """Subscribed before the caller reads its backlog, so nothing falls in between."""
        subscription = Subscription()
        try:
            if self._closed:
                subscription.close()
            else:
                self._subscribers.add(subscription)
                await self._ensure_polling()  # may fail (database away): nothing left behind
            yield subscription
        finally:
            subscription.close()
            self._subscribers.discard(subscription)
            await self._stop_if_idle()

    async def _ensure_polling(self) -> None:
        async with self._starting:
            if self._task is not None:
                return
            async with self._sessionmaker() as session:
                self._cursor = await latest_message_id(session)
            self._task = asyncio.create_task(self._run(), name="live-feed")

    async def _stop_if_idle(self) -> None:
        """Nobody listens: stop asking the database. A later page starts the poller again
        from the newest id and reads what it missed itself (`after`, Last-Event-ID)."""
        async with self._starting:
            if self._subscribers or self._task is None:
                return
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            self._gaps.clear()

    async def close(self) -> None:
        """App shutdown: end every stream now, so graceful shutdown does not wait on them."""
        self._closed = True
        for subscription in list(self._subscribers):
            subscription.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                found = await self.poll()
            except Exception:  # the database away for a moment: keep serving, try again
                log.warning("live feed poll failed", exc_info=True)
                await asyncio.sleep(self._interval * 4)
                continue
            if found < POLL_BATCH:
                await asyncio.sleep(self._interval)

    async def poll(self) -> int:
        """One look at the database; returns how many messages it found."""
        now = time.monotonic()
        self._gaps = {key: until for key, until in self._gaps.items() if until > now}
        async with self._sessionmaker() as session:
            found = await messages_after(
                session, self._cursor, also=self._gaps.keys(), limit=POLL_BATCH
            )
        for message in found:
            self._gaps.pop(message.message_id, None)
            if message.message_id > self._cursor:
                self._note_gaps(self._cursor, message.message_id, now)
                self._cursor = message.message_id
            if message.from_customer:
                event = self.event(message)
                for subscription in list(self._subscribers):
                    subscription.offer(event)
        return len(found)

    def _note_gaps(self, cursor: int, seen: int, now: float) -> None:
        for skipped in range(cursor + 1, min(seen, cursor + 1 + GAP_LIMIT)):
            if len(self._gaps) >= GAP_LIMIT:
                return
            self._gaps[skipped] = now + GAP_SECONDS

    def event(self, message: NewMessage) -> LiveEvent:
        return LiveEvent(
            id=message.message_id,
            kind="ticket" if message.opens_ticket else "message",
            data={
                "ticket_id": message.ticket_id,
                "message_id": message.message_id,
                "reference": message.reference,
                "subject": message.subject,  # shown with textContent by the page
                "assignee_id": message.assignee_id,
                "unread": message.unanswered,
                "url": self._ticket_url(message.ticket_id),
            },
        )


LIVE_FEED = web.AppKey("live_feed", LiveFeed)


async def _live_ctx(app: web.Application) -> AsyncIterator[None]:
    """The feed for this app (needs the read sessions of the database context)."""
    router = app.router

    def ticket_url(ticket_id: int) -> str:
        return str(router["ticket"].url_for(id=str(ticket_id)))

    feed = LiveFeed(app[READ_SESSIONMAKER], ticket_url)
    app[LIVE_FEED] = feed
    yield
    await feed.close()  # normally done already by on_shutdown


async def close_streams(app: web.Application) -> None:
    feed = app.get(LIVE_FEED)
    if feed is not None:
        await feed.close()


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_live_ctx)
    app.on_shutdown.append(close_streams)


async def page_context(request: web.Request) -> dict[str, object]:
    """For a page with live.html: where its stream starts, so nothing between the render and
    the connection is missed."""
    return {"live_after": await latest_message_id(request[DB])}


def resume_after(request: web.Request) -> int | None:
    """Where the page's stream starts: the browser's Last-Event-ID on a reconnect, else the
    newest message id the page was rendered with; None: from now on."""
    for value in (request.headers.get("Last-Event-ID", ""), request.query.get("after", "")):
        parsed = parse_id(value)
        if parsed is not None:
            return parsed
    return None


def _closing(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@requires(Permission.TICKETS_VIEW)
async def live_events(request: web.Request) -> web.StreamResponse:
    feed = request.config_dict[LIVE_FEED]
    after = resume_after(request)
    async with feed.subscription() as subscription:
        backlog: list[LiveEvent] = []
        if after is not None:
            # Customer messages only, in SQL: desk replies since would crowd them out.
            found = await messages_after(
                request[DB], after, limit=BACKLOG_LIMIT, customer_only=True
            )
            backlog = [feed.event(m) for m in found]
        # Give the connection back: the stream lasts minutes, the session is not used again.
        await request[DB].commit()
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # nginx: pass each event on at once
            }
        )
        await response.prepare(request)
        try:
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            for event in backlog:
                await response.write(event.encode())
            sent = {event.id for event in backlog}
            start = max(sent, default=after or 0)
            await _stream(request, response, subscription, sent, feed, start)
        except ConnectionError:
            pass  # the page has gone; nothing to tell it
    return response


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    subscription: Subscription,
    sent: set[int],
    feed: LiveFeed,
    last_id: int,
) -> None:
    """Live events until the page leaves, the app shuts down or the stream is old enough
    to check the login again (the browser reconnects by itself)."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_SECONDS
    quiet_since = loop.time()
    while not subscription.closed and loop.time() < ends and not _closing(request):
        event = await subscription.next(CHECK_SECONDS)
        if event is not None and event.id not in sent:
            await response.write(event.encode())
            last_id = max(last_id, event.id)
            quiet_since = loop.time()
        elif loop.time() - quiet_since >= feed.heartbeat:
            last_id = max(last_id, feed.seen_up_to)
            await response.write(heartbeat(last_id))
            quiet_since = loop.time()


def heartbeat(last_id: int) -> bytes:
    """A comment that keeps proxies from closing a quiet stream; its `id:` (an event with
    no data is not dispatched, but its id is kept) moves the page's Last-Event-ID past the
    desk's replies, so a reconnect asks only for what came after."""
    if last_id <= 0:
        return b": heartbeat\n\n"
    return f": heartbeat\nid: {last_id}\n\n".encode()


@public
async def live_script(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "live.js", headers={"Cache-Control": "public, max-age=3600"})
