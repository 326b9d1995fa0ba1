"""All mapped classes; importing this package completes Base.metadata (Alembic relies on it).

Each feature keeps its tables in its own module here and imports it below.
"""

from storage.models.admin import ApiToken, LoginFailure, StaffSession
from storage.models.base import Base, utcnow
from storage.models.core import (
    Attachment,
    AuditEvent,
    ContactPerson,
    DeliveryState,
    MessageDirection,
    Organisation,
    ServiceStatus,
    StaffRole,
    StaffUser,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)
from storage.models.recordings import HoldKind, Recording, RecordingHold, RecordingTag

__all__ = [
    "ApiToken",
    "Attachment",
    "AuditEvent",
    "Base",
    "ContactPerson",
    "DeliveryState",
    "HoldKind",
    "LoginFailure",
    "MessageDirection",
    "Organisation",
    "Recording",
    "RecordingHold",
    "RecordingTag",
    "ServiceStatus",
    "StaffRole",
    "StaffSession",
    "StaffUser",
    "Ticket",
    "TicketCategory",
    "TicketChannel",
    "TicketMessage",
    "TicketPriority",
    "TicketStatus",
    "utcnow",
]
