"""Privacy rights: data-subject requests, their event log, the temporary files
they involve (ID copies, exports) and the per-contact processing flags."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, BigIntPK, str_enum


class RequestType(enum.StrEnum):
    ACCESS = "access"
    CORRECTION = "correction"
    ERASURE = "erasure"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    PORTABILITY = "portability"
    CONSENT_WITHDRAWAL = "consent_withdrawal"


class RequestStatus(enum.StrEnum):
    RECEIVED = "received"
    VERIFIED = "verified"  # identity checked
    DONE = "done"
    REJECTED = "rejected"


class DocumentKind(enum.StrEnum):
    ID_COPY = "id_copy"
    EXPORT = "export"


class PrivacyRequest(Base):
    __tablename__ = "privacy_requests"
    __table_args__ = (Index("ix_privacy_requests_open", "status", "deadline_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    type: Mapped[RequestType] = mapped_column(str_enum(RequestType, "privacy_request_type"))
    status: Mapped[RequestStatus] = mapped_column(
        str_enum(RequestStatus, "privacy_request_status"), default=RequestStatus.RECEIVED
    )
    channel: Mapped[str] = mapped_column(String(16))  # telegram | letter | email | admin
    # The subject: a contact person; the Telegram id stays only until erasure.
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_persons.id", ondelete="SET NULL"), index=True
    )
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    warn_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(Text, default="")

    events: Mapped[list[PrivacyRequestEvent]] = relationship(
        lazy="raise", order_by="PrivacyRequestEvent.id", passive_deletes=True
    )


class PrivacyRequestEvent(Base):
    """The request's own log: what happened, by whom, when (shown on its page)."""

    __tablename__ = "privacy_request_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("privacy_requests.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class PrivacyDocument(Base):
    """A temporary object: an uploaded ID copy (until verification, at most 7 days) or an
    export ZIP (7 days). The row stays as proof after the object is gone (deleted_at)."""

    __tablename__ = "privacy_documents"
    __table_args__ = (Index("ix_privacy_documents_expiry", "deleted_at", "expires_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("privacy_requests.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_persons.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[DocumentKind] = mapped_column(str_enum(DocumentKind, "privacy_document_kind"))
    object_key: Mapped[str] = mapped_column(String(512), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class ContactPrivacy(Base):
    """Per-contact effects of requests: restriction (no processing, no bot messages) and
    recorded consent withdrawal / objection."""

    __tablename__ = "contact_privacy"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contact_persons.id", ondelete="CASCADE"), primary_key=True
    )
    restricted_at: Mapped[datetime | None]
    consent_withdrawn_at: Mapped[datetime | None]
    objected_at: Mapped[datetime | None]
