"""Roles, permissions and the one place each route declares what it needs.

Every handler is decorated with `@public`, `@authenticated` or `@requires(Permission.X)`;
the access middleware refuses any route without a declaration (and a test walks the router).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, TypeVar

from storage.models import StaffRole, StaffUser


class Permission(enum.StrEnum):
    TICKETS_VIEW = "tickets.view"
    TICKETS_WRITE = "tickets.write"
    CUSTOMERS_MANAGE = "customers.manage"
    RECORDINGS_VIEW = "recordings.view"
    RECORDINGS_INGEST = "recordings.ingest"
    RECORDINGS_TAG = "recordings.tag"
    RECORDINGS_HOLD = "recordings.hold"
    RECORDINGS_RELEASE_EVIDENCE = "recordings.release_evidence"
    RECORDINGS_DELETE = "recordings.delete"
    TRAINING_LISTEN = "training.listen"
    PRIVACY_MANAGE = "privacy.manage"
    PRIVACY_RECORD = "privacy.record"  # record a request received by letter/e-mail/phone
    USERS_MANAGE = "users.manage"
    AUDIT_VIEW = "audit.view"
    RETENTION_VIEW = "retention.view"


class Access(enum.StrEnum):
    """Route access that is not a permission."""

    PUBLIC = "public"  # no login
    AUTHENTICATED = "authenticated"  # any logged-in staff user


P = Permission
ROLE_PERMISSIONS: dict[StaffRole, frozenset[Permission]] = {
    StaffRole.AGENT: frozenset(
        {
            P.TICKETS_VIEW,
            P.TICKETS_WRITE,
            P.CUSTOMERS_MANAGE,
            P.RECORDINGS_VIEW,
            P.RECORDINGS_INGEST,
            P.RECORDINGS_TAG,
            P.RECORDINGS_HOLD,
            P.PRIVACY_RECORD,
        }
    ),
    StaffRole.TRAINER: frozenset({P.TRAINING_LISTEN}),
    StaffRole.PRIVACY_OFFICER: frozenset(
        {
            P.TICKETS_VIEW,
            P.CUSTOMERS_MANAGE,
            P.RECORDINGS_VIEW,
            P.RECORDINGS_HOLD,
            P.RECORDINGS_RELEASE_EVIDENCE,
            P.RECORDINGS_DELETE,
            P.PRIVACY_MANAGE,
            P.PRIVACY_RECORD,
            P.AUDIT_VIEW,
            P.RETENTION_VIEW,
        }
    ),
    StaffRole.ADMIN: frozenset(Permission),
}

Requirement = Permission | Access
ATTR = "__supportdesk_access__"
H = TypeVar("H", bound=Callable[..., Any])


def requires(requirement: Requirement) -> Callable[[H], H]:
    def mark(handler: H) -> H:
        setattr(handler, ATTR, requirement)
        return handler

    return mark


public = requires(Access.PUBLIC)
authenticated = requires(Access.AUTHENTICATED)


def requirement_of(handler: object) -> Requirement | None:
    return getattr(handler, ATTR, None)


CSRF_EXEMPT_ATTR = "__supportdesk_csrf_exempt__"


def csrf_exempt(handler: H) -> H:
    """For machine callers that prove themselves otherwise (the Telegram webhook secret)."""
    setattr(handler, CSRF_EXEMPT_ATTR, True)
    return handler


def is_csrf_exempt(handler: object) -> bool:
    return getattr(handler, CSRF_EXEMPT_ATTR, False) is True


WRITES_ATTR = "__supportdesk_writes__"


def writes(handler: H) -> H:
    """A GET handler that writes (an audit entry for a download, presence on a ticket): it
    gets a writing session; other GET/HEAD requests get a read-only one."""
    setattr(handler, WRITES_ATTR, True)
    return handler


def is_read_only(request_method: str, handler: object) -> bool:
    return request_method in ("GET", "HEAD") and getattr(handler, WRITES_ATTR, False) is not True


def has_permission(user: StaffUser | None, requirement: Requirement) -> bool:
    if requirement == Access.PUBLIC:
        return True
    if user is None or not user.is_active:
        return False
    if requirement == Access.AUTHENTICATED:
        return True
    return requirement in ROLE_PERMISSIONS.get(user.role, frozenset())


# Each role's home, first match wins: where its work is (the logo and login lead there).
HOMES: tuple[tuple[Permission, str], ...] = (
    (Permission.TICKETS_WRITE, "inbox"),
    (Permission.PRIVACY_MANAGE, "privacy"),
    (Permission.TRAINING_LISTEN, "training"),
    (Permission.TICKETS_VIEW, "inbox"),
)


def home_route(user: StaffUser | None) -> str:
    for permission, route in HOMES:
        if has_permission(user, permission):
            return route
    return "account" if user is not None else "login"
