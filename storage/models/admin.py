"""Web admin: server-side staff sessions, API tokens and login failures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, BigIntPK


class StaffSession(Base):
    """A logged-in browser. `id` is the sha256 hex of the cookie token (never the token)."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_user", "user_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    csrf_token: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    # A one-time value for the next page (admin/flash.py), JSON; in the database so any
    # instance serving the redirected GET finds it.
    flash: Mapped[str | None] = mapped_column(Text, default=None)


class ApiToken(Base):
    """A personal bearer token; only its sha256 hex is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user", "user_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # None: until revoked

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class LoginFailure(Base):
    """One failed login, counted per username and IP for throttling."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key", "username", "ip", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
