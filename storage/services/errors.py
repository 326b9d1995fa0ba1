"""Service errors: each carries a stable code and a message fit for a user.

`message` is English: the JSON API, the CLIs and the logs use it, next to the stable `code`.
`message_nl` is the same refusal in Dutch, for the admin pages (Dutch by default); every raise
gives one (tests/test_service_error_texts.py). `text(lang)` picks the one a page shows."""

from __future__ import annotations


class ServiceError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, nl: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.message_nl = nl

    def text(self, lang: str) -> str:
        """The message in `lang`: Dutch for "nl" when the raise gave it, else English."""
        if lang == "nl" and self.message_nl:
            return self.message_nl
        return self.message


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
