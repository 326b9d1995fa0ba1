"""Public contact form: each submission is kept as its own record.

The privacy statement keeps form submissions one year (retention keys on `created_at`),
while the ticket it opened follows the three-year support rule; hence a separate table
whose link to the ticket is cut (SET NULL) rather than cascaded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, BigIntPK
from storage.phones import E164_LENGTH


class ContactFormSubmission(Base):
    __tablename__ = "contact_form_submissions"
    __table_args__ = (
        Index("ix_contact_form_submissions_created", "created_at"),
        Index("ix_contact_form_submissions_ip", "ip_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    created_at: Mapped[datetime]
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    company: Mapped[str] = mapped_column(String(200), default="")
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str] = mapped_column(String(32), default="")  # as typed
    phone_e164: Mapped[str | None] = mapped_column(String(E164_LENGTH), index=True)
    customer_number: Mapped[str] = mapped_column(String(32), default="")
    message: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="nl")
    # Keyed hash of the sender's IP, only for the per-IP rate limit; never the address.
    ip_hash: Mapped[str] = mapped_column(String(64))
