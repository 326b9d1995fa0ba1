"""Handles stored updates: one ordered lane per Telegram user behind a per-user rate limit
(queued, never dropped), failed updates retried from the inbox with backoff.

A failed update blocks its user's later updates until its retry succeeds, so the ticket
thread keeps the chat's order: they wait stored and leased (`blocked_lanes`), and arrive behind it.
A poison update cannot silence a customer: after BLOCK_ATTEMPTS failed attempts or BLOCK_FOR
since its first failure it blocks nothing any more and keeps retrying on its own. An instance
that stores a later update of a user whose earlier one failed elsewhere blocks it the same way
(the inbox knows each update's user); whichever instance handles the retry, the next scan
sees it handled and lets the blocked updates go.

Updates arriving together (concurrent webhook calls, a getUpdates batch) are stored in one
transaction (`receive`), which is what the store-then-200 contract costs per update. On SQLite
one update is handled at a time: its writes serialise anyway, and waiting in asyncio is
cheaper than SQLite's busy-wait."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.enums import ContentType
from aiogram.types import Update
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import answers, inbox, outbox
from bot.contacts import known_contacts
from bot.inbox_notice import received_notice
from bot.middlewares import InboxBatch
from storage.clock import Clock

log = logging.getLogger(__name__)

BLOCK_ATTEMPTS = 3  # with inbox.backoff: retried after ~2 s and ~4 s (at the next scan)
BLOCK_FOR = timedelta(minutes=2)
BATCH = 20  # at most this many of a user's queued updates share one transaction
GROUP = 100  # at most this many updates, of several users, share one transaction

Queued = tuple[int, Update, int]  # update_id, update, failed attempts so far


@dataclass
class BlockedLane:
    """A user's updates waiting behind `blocker`, a failed update due for a retry."""

    blocker: int
    waiting: deque[Queued] = field(default_factory=deque)


class RateLimiter:
    """A token bucket per user: `rate` messages per second after a burst of `burst`.
    `delay()` books the next message and says how long to wait for it."""

    def __init__(
        self, rate: float, burst: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.monotonic = monotonic
        self.buckets: dict[int, tuple[float, float]] = {}

    def delay(self, key: int) -> float:
        now = self.monotonic()
        tokens, last = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if len(self.buckets) > 10_000:  # forget users whose bucket has refilled
            self.buckets = {
                k: v
                for k, v in self.buckets.items()
                if v[0] + (now - v[1]) * self.rate < self.burst
            }
        self.buckets[key] = (tokens - 1, now)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


@dataclass
class Outcome:
    """Filled in by DbSessionMiddleware: did the update's transaction commit?"""

    handled: bool = False
    error: str = ""


def user_of(update: Update) -> int | None:
    try:
        event = update.event
    except Exception:  # an update type this aiogram does not know
        return None
    user = getattr(event, "from_user", None) or getattr(event, "user", None)
    return getattr(user, "id", None)


def readable_update(raw: dict[str, Any], bot: Bot) -> Update:
    """The update as aiogram reads it. One this version cannot validate (a newer Bot API
    shape) is never dropped: a private chat's message becomes a text placeholder naming its
    fields, filed on the customer's ticket like a sticker's note; anything else becomes an
    empty update, which `handle` marks handled and logs. `raw` has an integer update_id."""
    try:
        return Update.model_validate(raw, context={"bot": bot})
    except ValidationError:
        log.warning(
            "bot update %s cannot be read by this version; filed as a note", raw["update_id"]
        )
    update_id = raw["update_id"]
    message = raw.get("message")
    sender = message.get("from") if isinstance(message, dict) else None
    chat = message.get("chat") if isinstance(message, dict) else None
    user_id = sender.get("id") if isinstance(sender, dict) else None
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    if (
        not isinstance(message, dict)
        or not isinstance(user_id, int)
        or not isinstance(chat_id, int)
        # a private chat's id is its user's; the type may be what could not be read
        or chat.get("type", "private" if chat_id == user_id else None) != "private"
        or sender.get("is_bot") is True
    ):
        return Update(update_id=update_id)
    date, message_id = message.get("date"), message.get("message_id")
    language = sender.get("language_code")
    first_name = sender.get("first_name")
    placeholder = {
        "message_id": message_id if isinstance(message_id, int) else 0,
        "date": date if isinstance(date, int) else 0,
        "chat": {"id": chat_id, "type": "private"},
        "from": {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name if isinstance(first_name, str) else "",
            "language_code": language if isinstance(language, str) else None,
        },
        "text": f"[message this bot version cannot read: {', '.join(message)}]",
    }
    return Update.model_validate(
        {"update_id": update_id, "message": placeholder}, context={"bot": bot}
    )


def _has_event(update: Update) -> bool:
    try:
        update.event_type  # noqa: B018 - raises for an update without a known event
    except Exception:
        return False
    return True


def _light(update: Update) -> bool:
    """Readable, and no file to fetch: text messages, edits and button presses."""
    if not _has_event(update):
        return False
    message = update.message or update.edited_message
    return message is None or message.content_type == ContentType.TEXT


class _RunFailed(Exception):
    """An update of a batch was not handled (the errors router took its exception)."""


class UpdateProcessor:
    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        limiter: RateLimiter,
        *,
        scan_interval: float = 3.0,
        concurrency: int | None = None,
    ) -> None:
        self.dp = dp
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.limiter = limiter
        self.scan_interval = scan_interval
        # Queued or being handled here: update id -> its failed attempts as we know them.
        self.inflight: dict[int, int] = {}
        self.lanes: dict[int | None, deque[Queued]] = {}
        self.blocked_lanes: dict[int, BlockedLane] = {}  # by user
        self.block_until: dict[int, datetime] = {}  # by failed update: first failure + BLOCK_FOR
        self.tasks: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        bind = sessionmaker.kw.get("bind")
        self.serial = bind is None or bind.dialect.name == "sqlite"
        self.parallel = concurrency or (1 if self.serial else 16)
        self.slots = asyncio.Semaphore(self.parallel)
        self.incoming: list[tuple[int, Update, str, asyncio.Future[bool]]] = []
        self.storing: asyncio.Task[None] | None = None
        self.notified: set[int] = set()
        # Failed in a lane here, which is still finishing it: a retry the scan claims
        # meanwhile (its attempts) is queued by that lane when it is done.
        self.settling: dict[int, int | None] = {}
        self.waiting_runs: deque[tuple[list[Queued], asyncio.Future[list[bool]]]] = deque()
        self.group_runners = 0

    def kick(self) -> None:
        """Scan the inbox now (pending and due updates), not at the next interval."""
        self.wake.set()

    async def receive(self, update_id: int, update: Update, payload: str) -> bool:
        """Store one update (committed on return) and queue it; False if it was known."""
        return (await self.receive_many([(update_id, update, payload)]))[0]

    async def receive_many(self, items: list[tuple[int, Update, str]]) -> list[bool]:
        """Store updates and queue the new ones. Everything that arrives while a commit is
        in flight goes into the next one: a group commit, without waiting for a timer."""
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in items]
        self.incoming.extend(
            (uid, upd, payload, f) for (uid, upd, payload), f in zip(items, futures, strict=True)
        )
        if self.storing is None or self.storing.done():
            self.storing = asyncio.create_task(self._store_incoming(), name="bot-inbox-store")
        return list(await asyncio.gather(*futures))

    async def _store_incoming(self) -> None:
        while self.incoming:
            batch, self.incoming = self.incoming, []
            items = [(uid, payload, user_of(upd)) for uid, upd, payload, _ in batch]
            try:
                async with self._turn():
                    stored = await inbox.store_updates(
                        self.sessionmaker, self.clock, items, block_attempts=BLOCK_ATTEMPTS
                    )
            except Exception as exc:  # every caller of this batch hears it (webhook: 500)
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for update_id, update, _, future in batch:
                new = update_id in stored.new
                stored.new.discard(update_id)  # the same id twice in one batch: once is new
                if new:  # queued here, so a caller that went away cannot strand it
                    self._wait_behind_failed(stored.failed, update_id, update)
                    self.submit(update_id, update)
                if not future.done():
                    future.set_result(new)

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """On SQLite, inbox writes take turns with the handlers instead of SQLite's
        busy-wait; on PostgreSQL they need not wait for a handler."""
        if self.serial:
            async with self.slots:
                yield
        else:
            yield

    def _wait_behind_failed(
        self, failed: dict[int, inbox.Failed], update_id: int, update: Update
    ) -> None:
        """An earlier update of this user failed, maybe on another instance, and waits for
        its retry: block this one behind it, as if the failure had been ours (same bounds)."""
        key = user_of(update)
        blocker = failed.get(key) if key is not None else None
        if (
            key is None
            or blocker is None
            or blocker.update_id >= update_id
            or key in self.blocked_lanes  # ours: submit queues it behind
            or blocker.update_id in self.inflight  # queued in our lane, ahead of this one
        ):
            return
        until = blocker.received_at + BLOCK_FOR  # its first attempt came right after receipt
        if self.clock.now() < until:
            self.block_until.setdefault(blocker.update_id, until)
            self.blocked_lanes[key] = BlockedLane(blocker.update_id)

    def submit(self, update_id: int, update: Update, *, attempts: int = 0) -> None:
        """Queue a stored update on its user's lane; `attempts` is how often it failed."""
        if update_id in self.inflight:
            return
        self.inflight[update_id] = attempts  # blocked ones stay in: their lease is renewed
        key = user_of(update)
        blocked = self.blocked_lanes.get(key) if key is not None else None
        if blocked is not None:
            if update_id != blocked.blocker:  # behind the failed one
                blocked.waiting.append((update_id, update, attempts))
                return
            del self.blocked_lanes[key]  # its retry: first, then what waited behind it
            self._lane(key).extend([(update_id, update, attempts), *blocked.waiting])
            return
        self._lane(key).append((update_id, update, attempts))

    def _lane(self, key: int | None) -> deque[Queued]:
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = deque()
            task = asyncio.create_task(self._run_lane(key, lane), name=f"bot-lane-{key}")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return lane

    async def _run_lane(self, key: int | None, lane: deque[Queued]) -> None:
        booked = None  # a wait the rate limiter already booked for lane[0]
        try:
            while lane:
                run = [lane.popleft()]
                handled: list[bool] = []
                try:
                    wait = booked if booked is not None else self._delay(key)
                    booked = None
                    if wait > 0:
                        await asyncio.sleep(wait)
                    # Those queued behind it that are due now share its transaction.
                    while lane and len(run) < BATCH and run[0][2] == 0 and lane[0][2] == 0:
                        if (wait := self._delay(key)) > 0:
                            booked = wait
                            break
                        run.append(lane.popleft())
                    handled = await self._handle_shared(run)
                except BaseException:
                    for update_id, *_ in run:
                        self.inflight.pop(update_id, None)
                        self.settling.pop(update_id, None)
                    raise
                # What the run did not reach (behind a failed one) goes back to the front.
                lane.extendleft(reversed(run[len(handled) :]))
                for (update_id, update, attempts), ok in zip(run, handled, strict=False):
                    self.inflight.pop(update_id, None)  # a failed one: the scan claims its retry
                    claimed = self.settling.pop(update_id, None)
                    if ok:
                        self.block_until.pop(update_id, None)
                    elif key is not None and self._may_block(update_id, attempts + 1):
                        # Nothing behind it has run: all of it waits behind it; the lane ends.
                        self.blocked_lanes[key] = BlockedLane(update_id, deque(lane))
                        lane.clear()
                    if claimed is not None:  # the scan claimed its retry while it settled
                        self.submit(update_id, update, attempts=claimed)
        finally:
            if self.lanes.get(key) is lane:
                del self.lanes[key]

    def _delay(self, key: int | None) -> float:
        return self.limiter.delay(key) if key is not None else 0.0

    async def _handle_shared(self, run: list[Queued]) -> list[bool]:
        """Handle a user's run; runs of other users that wait at the same moment share its
        transaction (a group commit: one BEGIN, 'handled' mark and COMMIT for all of them).
        Each user's order holds: a lane sends its next run only after this one's outcome."""
        if not all(attempts == 0 and _light(update) for _, update, attempts in run):
            # A retry goes alone: its failure is its own. A file goes alone too: its
            # download would hold up the others' commit, and a failure repeat theirs.
            async with self.slots:
                return await self._handle_run(run)
        entry = (run, asyncio.get_running_loop().create_future())
        self.waiting_runs.append(entry)
        if self.group_runners < self.parallel:
            self.group_runners += 1
            task = asyncio.create_task(self._run_groups(), name="bot-update-group")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        try:
            return await entry[1]
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):
                self.waiting_runs.remove(entry)  # not taken yet: nobody handles it
            raise

    async def _run_groups(self) -> None:
        try:
            async with self.slots:
                await asyncio.sleep(0)  # lanes woken in the same moment join the group
                while group := self._take_group():
                    await self._handle_group(group)
        finally:
            self.group_runners -= 1

    def _take_group(self) -> list[tuple[list[Queued], asyncio.Future[list[bool]]]]:
        group: list[tuple[list[Queued], asyncio.Future[list[bool]]]] = []
        size = 0
        while self.waiting_runs and (not group or size + len(self.waiting_runs[0][0]) <= GROUP):
            group.append(self.waiting_runs.popleft())
            size += len(group[-1][0])
        return group

    async def _handle_group(
        self, group: list[tuple[list[Queued], asyncio.Future[list[bool]]]]
    ) -> None:
        """Together when there are several runs; if that fails, nothing of it was committed
        and each run goes on its own, so a failure is pinned on its own user."""
        try:
            if len(group) > 1 and await self._handle_together([q for run, _ in group for q in run]):
                outcomes = [[True] * len(run) for run, _ in group]
            else:
                outcomes = [await self._handle_run(run) for run, _ in group]
        except BaseException as exc:
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            raise
        for (_, future), handled in zip(group, outcomes, strict=True):
            if not future.done():
                future.set_result(handled)

    async def _handle_run(self, run: list[Queued]) -> list[bool]:
        """Handle a user's updates in order: together in one transaction when there are
        several (one BEGIN and COMMIT instead of one each); if that fails, nothing of it
        was committed and they go one by one, so a failure is pinned on its own update.
        Stops at the first update that fails: later ones wait for its retry."""
        if len(run) > 1 and all(_has_event(update) for _, update, _ in run):
            if await self._handle_together(run):
                return [True] * len(run)
        handled: list[bool] = []
        for update_id, update, attempts in run:
            handled.append(await self.handle(update_id, update, attempts=attempts))
            if not handled[-1]:
                break
        return handled

    async def _handle_together(self, run: list[Queued]) -> bool:
        async with self.sessionmaker() as session:
            batch = InboxBatch(session, hand_off=all(_light(update) for _, update, _ in run))
            try:
                ids = [update_id for update_id, _, _ in run]
                batch.marked = await inbox.mark_all_handled(session, ids, self.clock.now())
                users = {user for _, update, _ in run if (user := user_of(update)) is not None}
                batch.contacts = await known_contacts(session, users) if users else {}
                for update_id, update, attempts in run:
                    outcome = Outcome()
                    await self.dp.feed_update(
                        self.bot,
                        update,
                        inbox_update_id=update_id,
                        inbox_attempts=attempts,
                        inbox_outcome=outcome,
                        inbox_batch=batch,
                    )
                    if not outcome.handled:
                        raise _RunFailed(update_id)
                await session.commit()
            except Exception as exc:
                log.info("bot updates %s together failed (%s); one by one", run[0][0], exc)
                await session.rollback()
                await batch.undo()
                return False
        await outbox.deliver_now(self.bot, self.sessionmaker, self.clock, batch.queued)
        return True

    def _may_block(self, update_id: int, failed: int) -> bool:
        """May this failed update keep its user's later updates waiting (bounded)?"""
        if len(self.block_until) > 10_000:
            self.block_until.clear()
        until = self.block_until.setdefault(update_id, self.clock.now() + BLOCK_FOR)
        if failed < BLOCK_ATTEMPTS and self.clock.now() < until:
            return True
        if failed <= BLOCK_ATTEMPTS:  # once (or twice) per update, not at every later retry
            log.warning(
                "bot update %s failed %d times; its user's later updates go ahead of it",
                update_id,
                failed,
            )
        return False

    async def _review_blocked_lanes(self) -> None:
        """Let blocked updates go once their blocker was handled (here or by another instance)
        or has used up its bound; it then retries on its own."""
        now = self.clock.now()
        pending = await inbox.pending_attempts(
            self.sessionmaker, [lane.blocker for lane in self.blocked_lanes.values()]
        )
        for key, lane in list(self.blocked_lanes.items()):
            failed = pending.get(lane.blocker)
            if failed is None:  # handled (elsewhere): the order is kept
                self.block_until.pop(lane.blocker, None)
            elif failed < BLOCK_ATTEMPTS and now < self.block_until.get(lane.blocker, now):
                continue
            else:
                log.warning(
                    "bot update %s still failing; its user's later updates go ahead of it",
                    lane.blocker,
                )
            del self.blocked_lanes[key]
            self._lane(key).extend(lane.waiting)

    async def handle(self, update_id: int, update: Update, *, attempts: int = 0) -> bool:
        """One attempt. Already handled (elsewhere, or before a restart) is found by the
        session middleware's first statement, so no separate check is needed here."""
        outcome = Outcome()
        if not _has_event(update):  # unreadable, and no customer to file it for
            log.error(
                "bot update %s cannot be read by this version; no user to file it for", update_id
            )
            async with self.sessionmaker() as session:
                with contextlib.suppress(inbox.AlreadyHandled):
                    await inbox.mark_handled(session, update_id, self.clock.now())
                await session.commit()
            return True
        try:
            await self.dp.feed_update(
                self.bot,
                update,
                inbox_update_id=update_id,
                inbox_attempts=attempts,
                inbox_outcome=outcome,
            )
        except Exception as exc:  # the errors router normally takes these
            outcome.error = outcome.error or type(exc).__name__
        if outcome.handled:
            self.notified.discard(update_id)
            return True
        log.warning("bot update %s not handled (%s); kept for retry", update_id, outcome.error)
        if update_id in self.inflight:  # from here on its retry is due by the inbox's clock
            self.settling.setdefault(update_id, None)
        try:
            await inbox.record_failure(
                self.sessionmaker, self.clock, update_id, attempts, outcome.error or "unhandled"
            )
        except Exception as exc:  # still pending; the next scan retries it
            log.warning("could not record failure of update %s: %s", update_id, type(exc).__name__)
        # Retried automatically: the customer hears once that it arrived, never "try again".
        if attempts == 0 and update_id not in self.notified:
            if len(self.notified) > 10_000:
                self.notified.clear()
            self.notified.add(update_id)
            await self._tell_received(update)
        return False

    async def _tell_received(self, update: Update) -> None:
        """Best effort, through the outbox in a transaction of its own (the update's rolled
        back): the update itself is safe in the inbox whatever happens here."""
        try:
            notice = await received_notice(update, self.dp["i18n"])
            if notice is None:
                return
            async with self.sessionmaker() as session:
                rows = answers.enqueue(session, int(notice.chat_id), [notice], self.clock.now())
                await session.commit()
            await outbox.deliver_now(self.bot, self.sessionmaker, self.clock, rows)
        except Exception as exc:
            log.warning("could not tell the customer of a queued update: %s", type(exc).__name__)

    async def scan(self) -> None:
        """Renew the lease of what waits in our lanes (a flood behind the rate limit can wait
        longer than one lease), then claim what is due: new failures' retries, and updates
        of an instance that died."""
        async with self._turn():
            until = self.clock.now() + inbox.LEASE
            await inbox.set_lease(self.sessionmaker, self.inflight, until)
            claimed = await inbox.claim_due(self.sessionmaker, self.clock)
        for due in claimed:
            known = self.inflight.get(due.update_id)
            if due.update_id in self.settling and known is not None and due.attempts > known:
                self.settling[due.update_id] = due.attempts  # its lane queues the retry
                continue
            if due.update_id in self.inflight:  # queued here already; the claim renewed it
                continue
            try:
                raw = json.loads(due.payload)
                update = readable_update(raw, self.bot)
            except (ValueError, TypeError, KeyError, AttributeError):
                log.error("stored bot update %s is not a valid update; set aside", due.update_id)
                async with self.sessionmaker() as session:
                    with contextlib.suppress(inbox.AlreadyHandled):
                        await inbox.mark_handled(session, due.update_id, self.clock.now())
                    await session.commit()
                continue
            self.submit(due.update_id, update, attempts=due.attempts)
        if self.blocked_lanes:
            await self._review_blocked_lanes()

    async def _heartbeat(self) -> None:
        """Renew the lease of every update queued or being handled here, well before it runs
        out: the lease is short so that a crashed instance's updates are not stuck for long."""
        while True:
            await asyncio.sleep(inbox.HEARTBEAT.total_seconds())
            if not self.inflight:
                continue
            try:
                async with self._turn():
                    now = self.clock.now()
                    await inbox.set_lease(
                        self.sessionmaker, self.inflight, now + inbox.LEASE, held_at=now
                    )
            except Exception as exc:  # the next beat (or scan) tries again
                log.warning("bot inbox lease renewal failed: %s", type(exc).__name__)

    async def run(self) -> None:
        """Retry loop: pending updates at start-up and every `scan_interval` (or kick)."""
        # Not in self.tasks (the lanes, which shutdown waits for): it never ends by itself.
        heartbeat = asyncio.create_task(self._heartbeat(), name="bot-inbox-heartbeat")
        try:
            while True:
                try:
                    await self.scan()
                except Exception as exc:
                    log.warning("bot inbox scan failed: %s", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.scan_interval)
                self.wake.clear()
        finally:
            queued = dict(self.inflight)  # the lanes forget theirs as they are cancelled
            for task in [heartbeat, self.storing, *self.tasks]:
                if task is not None:
                    task.cancel()
            for task in [heartbeat, self.storing, *self.tasks]:
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self._release(queued)

    async def _release(self, queued: dict[int, int]) -> None:
        """Updates still queued at shutdown are due at once for whichever instance scans
        next, instead of after our lease."""
        try:
            await inbox.set_lease(self.sessionmaker, queued, self.clock.now())
        except Exception as exc:  # they become due when the lease runs out anyway
            log.warning("could not release queued bot updates: %s", type(exc).__name__)
