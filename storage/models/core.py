"""Core model: customers, tickets and their messages, staff, audit trail."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, BigIntPK, str_enum
from storage.phones import E164_LENGTH


class ServiceStatus(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class TicketCategory(enum.StrEnum):
    INTERNET = "internet"
    VOIP = "voip"
    MOBILE = "mobile"
    ALARM = "alarm_247"
    BILLING = "billing"
    OTHER = "other"


class TicketStatus(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"
    CLOSED = "closed"


class TicketPriority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketChannel(enum.StrEnum):
    TELEGRAM = "telegram"
    WEB_FORM = "web_form"
    ADMIN = "admin"
    API = "api"
    PHONE = "phone"


class MessageDirection(enum.StrEnum):
    IN = "in"
    OUT = "out"
    NOTE = "note"


class DeliveryState(enum.StrEnum):
    """State of an outgoing reply. A `pending` row is the delivery worker's outbox entry."""

    NOT_APPLICABLE = "n/a"
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"


class StaffRole(enum.StrEnum):
    AGENT = "agent"
    TRAINER = "trainer"
    PRIVACY_OFFICER = "privacy_officer"
    ADMIN = "admin"


class Organisation(Base):
    """A business customer."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    customer_number: Mapped[str] = mapped_column(String(32), unique=True)
    service_status: Mapped[ServiceStatus] = mapped_column(
        str_enum(ServiceStatus, "service_status"), default=ServiceStatus.ACTIVE
    )
    service_end_date: Mapped[date | None] = mapped_column(Date)
    # Where the services are delivered. It and `name` (the billing name) are kept until the
    # end of service; the retention sweep then blanks both and stamps the moment.
    delivery_address: Mapped[str | None] = mapped_column(Text)
    service_data_removed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    contacts: Mapped[list[ContactPerson]] = relationship(
        back_populates="organisation", lazy="raise"
    )


class ContactPerson(Base):
    """A person who talks to support; organisation NULL means not (yet) linked: unverified."""

    __tablename__ = "contact_persons"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))  # as typed, for display
    # The same number in E.164 (storage/phones.py): what every search compares.
    phone_e164: Mapped[str | None] = mapped_column(String(E164_LENGTH), index=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    telegram_username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="nl")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    organisation: Mapped[Organisation | None] = relationship(
        back_populates="contacts", lazy="raise"
    )

    @property
    def verified(self) -> bool:
        return self.organisation_id is not None


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[StaffRole] = mapped_column(str_enum(StaffRole, "staff_role"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_activity", "last_activity_at", "id"),
        Index("ix_tickets_status_activity", "status", "last_activity_at", "id"),
        Index("ix_tickets_assignee_activity", "assignee_id", "last_activity_at", "id"),
        Index("ix_tickets_org_activity", "organisation_id", "last_activity_at", "id"),
        # Inbox filter status + category, and its capped per-status counts.
        Index("ix_tickets_status_category", "status", "category", "last_activity_at", "id"),
        Index("ix_tickets_closed_at", "closed_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # T-<year>-<id, 6+ digits>; set in the transaction that creates the row.
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    subject: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[TicketCategory] = mapped_column(
        str_enum(TicketCategory, "ticket_category"), default=TicketCategory.OTHER
    )
    status: Mapped[TicketStatus] = mapped_column(
        str_enum(TicketStatus, "ticket_status"), default=TicketStatus.NEW
    )
    priority: Mapped[TicketPriority] = mapped_column(
        str_enum(TicketPriority, "ticket_priority"), default=TicketPriority.NORMAL
    )
    channel: Mapped[TicketChannel] = mapped_column(str_enum(TicketChannel, "ticket_channel"))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_persons.id", ondelete="SET NULL"), index=True
    )
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    # Bumped by every message: a reply written against an older version is stale.
    thread_version: Mapped[int] = mapped_column(Integer, default=0)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_activity_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    contact: Mapped[ContactPerson | None] = relationship(lazy="raise")
    organisation: Mapped[Organisation | None] = relationship(lazy="raise")
    assignee: Mapped[StaffUser | None] = relationship(lazy="raise")
    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", lazy="raise", order_by="TicketMessage.id"
    )

    @property
    def is_open(self) -> bool:
        return self.status != TicketStatus.CLOSED


class TicketMessage(Base):
    __tablename__ = "ticket_messages"
    __table_args__ = (
        Index("ix_ticket_messages_ticket", "ticket_id", "id"),
        Index("ix_ticket_messages_delivery", "delivery_state", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    direction: Mapped[MessageDirection] = mapped_column(
        str_enum(MessageDirection, "message_direction")
    )
    author_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    author_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_persons.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(Text, default="")
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    delivery_state: Mapped[DeliveryState] = mapped_column(
        str_enum(DeliveryState, "delivery_state"), default=DeliveryState.NOT_APPLICABLE
    )
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivery_error: Mapped[str | None] = mapped_column(String(500))
    # The first failed attempt of a reply still being retried (shown as "retrying since").
    delivery_failing_since: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    # The ticket heading a Telegram reply was sent with ('' none; NULL: not recorded): an
    # edit split into several messages again starts with the same heading.
    sent_heading: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]

    ticket: Mapped[Ticket] = relationship(back_populates="messages", lazy="raise")
    author_staff: Mapped[StaffUser | None] = relationship(lazy="raise")
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", lazy="raise", order_by="Attachment.id"
    )


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_messages.id", ondelete="CASCADE"), index=True
    )
    object_key: Mapped[str] = mapped_column(String(512), unique=True)
    version_id: Mapped[str | None] = mapped_column(String(128))
    filename: Mapped[str] = mapped_column(String(255), default="")
    media_type: Mapped[str] = mapped_column(String(127), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    message: Mapped[TicketMessage | None] = relationship(back_populates="attachments", lazy="raise")


class AuditEvent(Base):
    """Append-only: the application never updates or deletes a row (retention excepted)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject", "subject_type", "subject_id", "id"),
        Index("ix_audit_events_actor", "actor_type", "actor_id", "id"),
        Index("ix_audit_events_action", "action", "id"),
        Index("ix_audit_events_occurred", "occurred_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    occurred_at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(String(16))  # staff | customer | system
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
