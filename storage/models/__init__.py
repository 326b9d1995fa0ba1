"""All mapped classes; importing this package completes Base.metadata (Alembic relies on it).

Each feature keeps its tables in its own module here and imports it below.
"""

from storage.models.admin import ApiToken, LoginFailure, StaffSession
from storage.models.base import Base, utcnow
from storage.models.bot_transport import BotUpdate, OutboxMessage, OutboxState
from storage.models.contact_form import ContactFormSubmission
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
from storage.models.erasure import DiskCleanup, ErasureItem, ErasureRun
from storage.models.linking import LinkCode, MessageEdit, ReplyChunk, UnfiledMessage
from storage.models.presence import TicketPresence
from storage.models.privacy import (
    ContactPrivacy,
    DocumentKind,
    PrivacyDocument,
    PrivacyRequest,
    PrivacyRequestEvent,
    RequestStatus,
    RequestType,
)
from storage.models.recordings import (
    HoldKind,
    Recording,
    RecordingHold,
    RecordingNote,
    RecordingTag,
)
from storage.models.recordings_web import RecordingListen
from storage.models.retention import (
    PendingObject,
    RecordingTombstone,
    RetentionLease,
    RetentionRun,
)
from storage.models.saved_replies import SavedReply

__all__ = [
    "ApiToken",
    "Attachment",
    "AuditEvent",
    "Base",
    "BotUpdate",
    "ContactFormSubmission",
    "ContactPerson",
    "ContactPrivacy",
    "DeliveryState",
    "DiskCleanup",
    "DocumentKind",
    "ErasureItem",
    "ErasureRun",
    "HoldKind",
    "LinkCode",
    "LoginFailure",
    "MessageDirection",
    "MessageEdit",
    "Organisation",
    "OutboxMessage",
    "OutboxState",
    "PendingObject",
    "PrivacyDocument",
    "PrivacyRequest",
    "PrivacyRequestEvent",
    "Recording",
    "RecordingHold",
    "RecordingListen",
    "RecordingNote",
    "RecordingTag",
    "RecordingTombstone",
    "ReplyChunk",
    "RequestStatus",
    "RequestType",
    "RetentionLease",
    "RetentionRun",
    "SavedReply",
    "ServiceStatus",
    "StaffRole",
    "StaffSession",
    "StaffUser",
    "Ticket",
    "TicketCategory",
    "TicketChannel",
    "TicketMessage",
    "TicketPresence",
    "TicketPriority",
    "TicketStatus",
    "UnfiledMessage",
    "utcnow",
]
