"""Retention of the privacy desk's temporary files (issue 6): uploaded ID copies (deleted at
identity verification, never kept longer than 7 days) and export ZIPs (7 days). The
object goes; the row stays with `deleted_at` as proof of the deletion."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.models import DocumentKind, PrivacyDocument
from storage.retention.jobs import Job, Outcome
from storage.services import audit


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
    documents: list[Any] = list(
        await job.session.scalars(select(PrivacyDocument).where(PrivacyDocument.id.in_(ids)))
    )
    for document in documents:
        try:
            await job.store.delete(document.object_key)
        except Exception as exc:  # reported on the run; the next sweep retries
            outcome.failed[document.id] = f"object not deleted: {type(exc).__name__}"
            continue
        document.deleted_at = job.now
        outcome.deleted += 1
        audit.record(
            job.session,
            actor=job.actor,
            action=f"privacy.{kind.value}.delete",
            subject_type="privacy_document",
            subject_id=document.id,
            at=job.now,
            details={"reason": "retention period ended", "rule": job.rule},
        )
    await job.session.flush()
    return outcome


async def id_copies(job: Job) -> Outcome:
    return await _expire(job, DocumentKind.ID_COPY)


async def exports(job: Job) -> Outcome:
    return await _expire(job, DocumentKind.EXPORT)
