"""Prometheus metrics: one CollectorRegistry per app.

Business counts (tickets, messages, deliveries, recordings, sweep runs) live in the
database and are read at scrape time, so every instance reports the same totals however
many run (and `supportdesk sweep` runs from cron count too). Request latency is per
process, as Prometheus expects of histograms.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from recordings.listens import DOWNLOAD, PLAY
from storage.models import (
    AuditEvent,
    DeliveryState,
    OutboxMessage,
    OutboxState,
    Recording,
    RetentionRun,
    Ticket,
    TicketMessage,
    TicketStatus,
)

# Audit actions counted as totals: metric name -> (help, actions).
AUDIT_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "supportdesk_tickets_opened": ("Tickets opened.", ("ticket.opened",)),
    "supportdesk_tickets_closed": ("Tickets closed.", ("ticket.closed",)),
    "supportdesk_recordings_ingested": ("Recordings ingested.", ("recording.ingest",)),
    "supportdesk_recordings_held": ("Holds placed on recordings.", ("recording.hold",)),
    "supportdesk_recordings_deleted": ("Recordings deleted.", ("recording.delete",)),
    "supportdesk_recordings_streamed": (
        "Recordings played or downloaded by staff.",
        (PLAY, DOWNLOAD),
    ),
}
# Every ticket message is written with one of these audit events (the first with the
# ticket): counting them is an index lookup, where grouping ticket_messages is a table scan.
MESSAGE_ACTIONS = {"in": ("ticket.opened", "ticket.customer_message"), "out": ("ticket.reply",)}
FAILED_STATES = (DeliveryState.FAILED, DeliveryState.UNDELIVERABLE)
LATE = timedelta(minutes=1)  # an outbox row waiting longer than this counts as late


class DatabaseSnapshot:
    """A collector that renders the counts the scrape handler just read from the DB."""

    def __init__(self) -> None:
        self.audit: dict[str, int] = {}
        self.delivery: dict[str, int] = {}
        self.failed_attempts = 0
        self.outbox_late = 0
        self.tickets: dict[str, int] = {}
        self.recordings_stored = 0
        self.sweep_runs: dict[str, int] = {}
        self.sweep_count = 0
        self.sweep_seconds = 0.0
        self.sweep_last_success: float | None = None

    async def refresh(self, session: AsyncSession, now: datetime) -> None:
        actions = {a for _, names in AUDIT_COUNTERS.values() for a in names}
        actions |= {a for names in MESSAGE_ACTIONS.values() for a in names}
        rows = await session.execute(
            select(AuditEvent.action, func.count())
            .where(AuditEvent.action.in_(actions))
            .group_by(AuditEvent.action)
        )
        self.audit = {action: count for action, count in rows}
        # The (delivery_state, id) index answers this without touching other rows.
        rows = await session.execute(
            select(TicketMessage.delivery_state, func.count())
            .where(TicketMessage.delivery_state.in_([DeliveryState.PENDING, *FAILED_STATES]))
            .group_by(TicketMessage.delivery_state)
        )
        self.delivery = {str(state): count for state, count in rows}
        # Everything the bot says (answers, replies, edits): failed attempts, and what waits.
        self.failed_attempts = int(
            await session.scalar(select(func.coalesce(func.sum(OutboxMessage.failed_attempts), 0)))
            or 0
        )
        self.outbox_late = int(
            await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.state == OutboxState.PENDING,
                    OutboxMessage.created_at < now - LATE,
                )
            )
            or 0
        )
        rows = await session.execute(select(Ticket.status, func.count()).group_by(Ticket.status))
        self.tickets = {str(status): count for status, count in rows}
        self.recordings_stored = await session.scalar(select(func.count(Recording.id))) or 0
        await self._refresh_sweeps(session)

    async def _refresh_sweeps(self, session: AsyncSession) -> None:
        real = RetentionRun.dry_run.is_(False)
        rows = await session.execute(
            select(RetentionRun.status, func.count()).where(real).group_by(RetentionRun.status)
        )
        self.sweep_runs = {status: count for status, count in rows}
        # Durations in Python: interval arithmetic is not portable SQL. Two timestamps per
        # run, a couple of dozen runs a day.
        finished = (
            await session.execute(
                select(RetentionRun.started_at, RetentionRun.finished_at).where(
                    real, RetentionRun.finished_at.is_not(None)
                )
            )
        ).all()
        self.sweep_count = len(finished)
        self.sweep_seconds = sum((end - start).total_seconds() for start, end in finished)
        last = await session.scalar(
            select(func.max(RetentionRun.finished_at)).where(real, RetentionRun.status == "done")
        )
        self.sweep_last_success = last.timestamp() if last is not None else None

    def collect(self) -> Iterator[Metric]:
        for name, (help_text, actions) in AUDIT_COUNTERS.items():
            yield CounterMetricFamily(name, help_text, sum(self.audit.get(a, 0) for a in actions))
        messages = CounterMetricFamily(
            "supportdesk_messages",
            "Ticket messages written, by direction (in: customer, out: agent reply).",
            labels=["direction"],
        )
        for direction, names in MESSAGE_ACTIONS.items():
            messages.add_metric([direction], sum(self.audit.get(a, 0) for a in names))
        yield messages
        failures = CounterMetricFamily(
            "supportdesk_delivery_failures",
            "Agent replies that could not be delivered to Telegram, by final state.",
            labels=["state"],
        )
        for state in FAILED_STATES:
            failures.add_metric([state.value], self.delivery.get(state.value, 0))
        yield failures
        yield CounterMetricFamily(
            "supportdesk_delivery_failed_attempts",
            "Failed attempts to send a bot message (answer, reply or edit) to Telegram; each "
            "is retried until it is sent or given up.",
            self.failed_attempts,
        )
        yield GaugeMetricFamily(
            "supportdesk_outbox_waiting_over_minute",
            "Bot messages (answers, replies, edits) not sent a minute after they were queued.",
            self.outbox_late,
        )
        yield GaugeMetricFamily(
            "supportdesk_replies_pending",
            "Agent replies waiting for delivery.",
            self.delivery.get(DeliveryState.PENDING.value, 0),
        )
        tickets = GaugeMetricFamily(
            "supportdesk_tickets", "Tickets by current status.", labels=["status"]
        )
        for status in TicketStatus:
            tickets.add_metric([status.value], self.tickets.get(status.value, 0))
        yield tickets
        yield GaugeMetricFamily(
            "supportdesk_recordings_stored", "Recordings in the vault.", self.recordings_stored
        )
        runs = CounterMetricFamily(
            "supportdesk_sweep_runs",
            "Retention sweeps (not dry runs) by status.",
            labels=["status"],
        )
        for status, count in sorted(self.sweep_runs.items()):
            runs.add_metric([status], count)
        yield runs
        yield SummaryMetricFamily(
            "supportdesk_sweep_duration_seconds",
            "Duration of finished retention sweeps.",
            count_value=self.sweep_count,
            sum_value=self.sweep_seconds,
        )
        if self.sweep_last_success is not None:
            yield GaugeMetricFamily(
                "supportdesk_sweep_last_success_timestamp_seconds",
                "When the last successful sweep finished (alert when it gets old).",
                self.sweep_last_success,
            )


class Metrics:
    """The app's registry and the process-local instruments."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.snapshot = DatabaseSnapshot()
        self.registry.register(self.snapshot)
        self.request_duration = Histogram(
            "supportdesk_http_request_duration_seconds",
            "Admin/API request latency by route template.",
            ["method", "route", "status"],
            registry=self.registry,
        )
