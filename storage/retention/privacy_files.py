"""Retention of the privacy desk's temporary files: uploaded ID copies (deleted at
identity verification, never kept longer than 7 days) and export ZIPs (7 days). The
object goes; the row stays with `deleted_at` as proof of the deletion."""

from __future__ import annotations

from sqlalchemy import select

from storage.clock import FrozenClock
from storage.models import DocumentKind, PrivacyDocument
from storage.retention.jobs import Job, Outcome
from storage.services.privacy import PrivacyService


async def _expire(job: Job, kind: DocumentKind) -> Outcome:
    stmt = select(PrivacyDocument.id).where(
        PrivacyDocument.kind == kind,
        PrivacyDocument.deleted_at.is_(None),
        PrivacyDocument.created_at <= job.cutoff,
    )
    if job.dry_run:
        return Outcome(deleted=await job.count(stmt))
    if job.skip:
        stmt = stmt.where(PrivacyDocument.id.not_in(job.skip))
    stmt = job.lock(stmt.order_by(PrivacyDocument.id).limit(job.limit), PrivacyDocument)
    ids = list(await job.session.scalars(stmt))
    outcome = Outcome(more=len(ids) >= job.limit)
    # The privacy desk's own delete (objects, then rows, audit), as of the sweep's moment.
    service = PrivacyService(FrozenClock(job.now), job.store)
    outcome.deleted = await service.delete_documents(
        job.session,
        ids,
        actor=job.actor,
        reason="retention period ended",
        failed=outcome.failed,  # reported on the run; the next sweep retries
        details={"rule": job.rule},
    )
    return outcome


async def id_copies(job: Job) -> Outcome:
    return await _expire(job, DocumentKind.ID_COPY)


async def exports(job: Job) -> Outcome:
    return await _expire(job, DocumentKind.EXPORT)
