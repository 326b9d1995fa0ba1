"""The text fields of a recording upload (API and admin form) become IngestMetadata; the
file itself is streamed to disk by admin.uploads."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from recordings.service import IngestMetadata
from storage.services.errors import N_, InvalidInput

FIELDS = frozenset(
    {"caller", "caller_withheld", "callee", "agent", "started_at", "ticket_id", "csrf_token"}
)
_NUMBER = re.compile(r"^\+?[0-9 ()./-]{1,64}$")
# A misread withheld flag would expose a shielded number: only clear spellings count.
_TRUE = frozenset({"1", "true", "yes", "on", "ja"})
_FALSE = frozenset({"", "0", "false", "no", "off", "nee"})


def _flag(fields: dict[str, str], name: str) -> bool:
    value = fields.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInput(
        N_("{name!r} must be true or false (1/0, yes/no, on/off, ja/nee)"),
        name=name,
    )


def _number(fields: dict[str, str], name: str) -> str | None:
    value = fields.get(name, "")
    if not value:
        return None
    if not _NUMBER.match(value):
        raise InvalidInput(N_("{name!r} is not a phone number"), name=name)
    return value


def _moment(value: str, zone: ZoneInfo) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            N_("'started_at' is not an ISO date/time: {value!r}"), value=value[:40]
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the calendar starts in UTC
        raise InvalidInput(
            N_("'started_at' is out of range: {value!r}"), value=value[:40]
        ) from None


def metadata(fields: dict[str, str], filename: str, zone: ZoneInfo) -> IngestMetadata:
    """The upload's text fields as ingest metadata; a clear InvalidInput on a bad one."""
    ticket = fields.get("ticket_id", "")
    # Past signed 64 bits no ticket has the id (and SQLite's driver would overflow).
    if ticket and not (ticket.isascii() and ticket.isdigit() and int(ticket) < 2**63):
        raise InvalidInput(N_("'ticket_id' must be the number of a ticket"))
    agent = fields.get("agent", "")
    if len(agent) > 200:
        raise InvalidInput(N_("'agent' is longer than 200 characters"))
    return IngestMetadata(
        caller=_number(fields, "caller"),
        caller_withheld=_flag(fields, "caller_withheld"),
        callee=_number(fields, "callee"),
        agent=agent or None,
        started_at=_moment(fields.get("started_at", ""), zone),
        ticket_id=int(ticket) if ticket else None,
        filename=filename,
    )
