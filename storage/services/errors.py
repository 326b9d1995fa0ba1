"""Service errors: each carries a stable code and a message fit for a user."""

from __future__ import annotations


class ServiceError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    code = "not_found"
    status = 404


class Forbidden(ServiceError):
    """The actor's role may not do this (whichever edge asked: admin, API or CLI)."""

    code = "forbidden"
    status = 403


class InvalidInput(ServiceError):
    code = "invalid_input"
    status = 422


class Conflict(ServiceError):
    code = "conflict"
    status = 409


class TicketClosed(Conflict):
    code = "ticket_closed"


class ContactRestricted(Conflict):
    """The contact restricted processing (GDPR art. 18): no replies go to them."""

    code = "contact_restricted"


class StaleThread(Conflict):
    """A reply was written against an older version of the thread."""

    code = "stale_thread"
