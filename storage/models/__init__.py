"""All mapped classes; importing this package completes Base.metadata (Alembic relies on it).

Each feature keeps its tables in its own module here and imports it below.
"""

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

__all__ = [
    "Attachment",
    "AuditEvent",
    "Base",
    "ContactPerson",
    "DeliveryState",
    "MessageDirection",
    "Organisation",
    "ServiceStatus",
    "StaffRole",
    "StaffUser",
    "Ticket",
    "TicketCategory",
    "TicketChannel",
    "TicketMessage",
    "TicketPriority",
    "TicketStatus",
    "utcnow",
]
