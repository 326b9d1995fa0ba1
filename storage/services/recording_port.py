"""What storage needs from the recording vault, without importing it (storage is the lowest
layer): the ports the retention sweeper and the erasure request call, the refusal they
catch, and the one definition of "held" in SQL.

The vault (recordings.service.RecordingService) implements the ports and raises
RecordingHeld; the composition root (admin app factory, CLI) injects it. Its
`delete_recording` is the single delete path, so every delete through these ports goes
through the hold check.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, Exists, exists
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Recording, RecordingHold, StaffRole
from storage.services.audit import Actor
from storage.services.errors import Conflict


class RecordingHeld(Conflict):
    """A delete was refused because the recording is under at least one active hold."""

    code = "recording_held"

    def __init__(self, template: str, holds: list[RecordingHold], /, **params: object) -> None:
        super().__init__(template, **params)
        self.holds = holds


class RecordingBusy(Conflict):
    """Another request or the sweep is calling the object store for the recording (its
    claim has not lapsed): nothing was changed; try again in a few minutes."""

    code = "recording_busy"


def active_hold(*criteria: ColumnElement[bool]) -> Exists:
    """EXISTS an unreleased hold on `Recording`: the one definition of "held" for every
    query (lists, the retention sweep, the vault's due query). `criteria` narrow it (a
    hold kind, a join to the ticket)."""
    return exists().where(
        RecordingHold.recording_id == Recording.id, RecordingHold.released_at.is_(None), *criteria
    )


class RecordingDeleter(Protocol):
    async def delete_recording(
        self,
        session: AsyncSession,
        recording_id: int,
        *,
        actor: Actor,
        reason: str = "",
        at: datetime | None = None,
    ) -> None:
        """Decide the delete (hold check; committed), delete the object with no
        transaction open, then the row (in the caller's transaction, which it commits);
        raise RecordingHeld while a hold is active."""
        ...


class TrainingHoldEnder(Protocol):
    async def end_training_hold(
        self,
        session: AsyncSession,
        recording_id: int,
        hold_id: int,
        *,
        actor: Actor,
        at: datetime | None = None,
    ) -> RecordingHold:
        """Release a training hold whose review date has passed (audited "review date
        passed"); a Conflict for an evidence hold or one renewed meanwhile."""
        ...


class RetentionPeriod(Protocol):
    @property
    def retention(self) -> timedelta:
        """A recording's `expires_at` is its call start plus this."""
        ...


class StoreSettled(Protocol):
    """What settling the recordings' object-store state did (the sweep prints it)."""

    @property
    def failed(self) -> dict[int, str]: ...

    def lines(self) -> list[str]: ...


class RecordingRetention(RecordingDeleter, TrainingHoldEnder, Protocol):
    @property
    def policy(self) -> RetentionPeriod: ...

    async def settle_store(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        dry_run: bool = False,
        limit: int = 1000,
    ) -> StoreSettled:
        """Finish what a crash or a store timeout left between a committed change and its
        store call: legal holds set to match the rows, decided deletes completed (through
        the hold-checked delete)."""
        ...

    async def due_for_deletion(
        self,
        session: AsyncSession,
        now: datetime,
        *,
        limit: int | None = None,
        skip_locked: bool = False,
        exclude: Iterable[int] = (),
    ) -> list[int]:
        """Ids with `expires_at` at or before `now` and no active hold, oldest first."""
        ...


class RecordingEraser(RecordingDeleter, Protocol):
    """What an erasure request needs: the hold-checked delete, and releasing a training
    hold (training yields to erasure; evidence does not) with a documented reason."""

    async def release_hold(
        self,
        session: AsyncSession,
        recording_id: int,
        hold_id: int,
        *,
        reason: str,
        actor: Actor,
        role: StaffRole,
    ) -> RecordingHold: ...
