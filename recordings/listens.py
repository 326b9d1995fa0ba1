"""Play and download auditing: one `recording.play` event per listening session.

A player issues many range requests while seeking; they belong to one session as long as
the same staff member asks again within the window. Downloads are a distinct action.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from recordings.service import SUBJECT
from storage.models import RecordingListen
from storage.services import audit
from storage.services.audit import Actor

PLAY = "recording.play"
DOWNLOAD = "recording.download"
EXTEND_EVERY = timedelta(minutes=1)


async def _locked(
    session: AsyncSession, recording_id: int, staff_user_id: int
) -> RecordingListen | None:
    return await session.scalar(
        select(RecordingListen)
        .where(
            RecordingListen.recording_id == recording_id,
            RecordingListen.staff_user_id == staff_user_id,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def record_play(
    session: AsyncSession,
    *,
    recording_id: int,
    actor: Actor,
    staff_user_id: int,
    now: datetime,
    window: timedelta,
    via: str,
) -> bool:
    """Extend the open listening session or start one (with its audit event).

    Returns True when a new session (and so a new play event) began.
    """
    listen = await _locked(session, recording_id, staff_user_id)
    if listen is None:
        try:
            async with session.begin_nested():
                session.add(
                    RecordingListen(
                        recording_id=recording_id,
                        staff_user_id=staff_user_id,
                        started_at=now,
                        last_seen_at=now,
                    )
                )
                await session.flush()
        except IntegrityError:
            # A parallel request of the same listener started the session just now.
            listen = await _locked(session, recording_id, staff_user_id)
        else:
            _play_event(session, recording_id, actor, now, via)
            await session.flush()
            return True
    assert listen is not None
    if listen.last_seen_at >= now - window:
        # Extend the session at most once a minute: a seeking player then writes nothing.
        if now - listen.last_seen_at >= EXTEND_EVERY:
            listen.last_seen_at = now
            await session.flush()
        return False
    listen.started_at = listen.last_seen_at = now
    _play_event(session, recording_id, actor, now, via)
    await session.flush()
    return True


def _play_event(
    session: AsyncSession, recording_id: int, actor: Actor, now: datetime, via: str
) -> None:
    audit.record(
        session,
        actor=actor,
        action=PLAY,
        subject_type=SUBJECT,
        subject_id=recording_id,
        at=now,
        details={"via": via},
    )


async def record_download(
    session: AsyncSession, *, recording_id: int, actor: Actor, now: datetime, via: str
) -> None:
    audit.record(
        session,
        actor=actor,
        action=DOWNLOAD,
        subject_type=SUBJECT,
        subject_id=recording_id,
        at=now,
        details={"via": via},
    )
    await session.flush()
