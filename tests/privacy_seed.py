"""A privacy request and a stored export for the route walk in test_admin_web (its {id} is 1
on a fresh database), through the privacy service."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import Clock
from storage.models import ContactPerson, DocumentKind
from storage.objectstore import ObjectStore
from storage.services.audit import Actor
from storage.services.privacy import PrivacyService


async def seed_privacy(session: AsyncSession, store: ObjectStore, clock: Clock) -> None:
    contact_id = await session.scalar(select(ContactPerson.id).order_by(ContactPerson.id))
    assert contact_id is not None, "seed a contact person first"
    service = PrivacyService(clock, store)
    request = await service.create_request(
        session, type="access", contact_id=contact_id, channel="email", actor=Actor.system()
    )
    await service.store_document(
        session,
        kind=DocumentKind.EXPORT,
        source=b"PK\x05\x06" + b"\x00" * 18,  # an empty ZIP
        content_type="application/zip",
        request_id=request.id,
        contact_id=contact_id,
    )
