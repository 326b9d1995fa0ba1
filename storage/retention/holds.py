"""Hold review: recording holds past their review date, for the privacy officer.

Only a list and a daily summary. A training hold ends on its review date unless renewed
(the sweep's training_holds rule releases it); an evidence hold is never released
automatically: it stays on this list until a person renews it (a new review date) or
releases it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import HoldKind, Recording, RecordingHold


@dataclass(frozen=True)
class DueHold:
    hold_id: int
    recording_id: int
    kind: HoldKind
    reason: str
    placed_by: str
    placed_at: datetime
    review_at: datetime
    call_started_at: datetime

    def overdue_days(self, now: datetime) -> int:
        return max(0, (now - self.review_at).days)


async def due_for_review(session: AsyncSession, now: datetime) -> list[DueHold]:
    rows = await session.execute(
        select(RecordingHold, Recording.call_started_at)
        .join(Recording, Recording.id == RecordingHold.recording_id)
        .where(RecordingHold.released_at.is_(None), RecordingHold.review_at <= now)
        .order_by(RecordingHold.review_at, RecordingHold.id)
    )
    return [
        DueHold(
            hold_id=hold.id,
            recording_id=hold.recording_id,
            kind=hold.kind,
            reason=hold.reason,
            placed_by=hold.placed_by,
            placed_at=hold.placed_at,
            review_at=hold.review_at,
            call_started_at=started,
        )
        for hold, started in rows
    ]


def render_summary(holds: list[DueHold], now: datetime, zone: ZoneInfo) -> str:
    """The daily summary, Dutch first, English second; no reasons (they may name people)."""
    day = now.astimezone(zone).strftime("%Y-%m-%d")
    lines = [
        f"Blokkades ter beoordeling op {day}: {len(holds)}",
        f"Holds due for review on {day}: {len(holds)}",
    ]
    for hold in holds:
        review = hold.review_at.astimezone(zone).strftime("%Y-%m-%d")
        lines.append(
            f"- opname/recording {hold.recording_id}: {hold.kind.value} hold {hold.hold_id}, "
            f"review {review} ({hold.overdue_days(now)} d overdue), placed by {hold.placed_by}"
        )
    if holds:
        lines.append(
            "Bewijsblokkades worden nooit automatisch vrijgegeven: verleng of geef vrij. / "
            "Evidence holds are never released automatically: renew or release them."
        )
    return "\n".join(lines)
