"""Search-as-you-type for forms that ask for an id (a contact, an organisation, a ticket, a
recording): a few suggestions, each an id with a label. Read-only; the form still sends
the id, which its handler validates as before.

Numbers are matched by identity: a typed phone number is normalised to (the start of) its
E.164 form and compared with the stored E.164 column by equality or prefix, never as
text against the number as typed. Names, e-mail addresses and subjects match as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.db import unicode_lower
from storage.models import ContactPerson, Organisation, Recording, Ticket
from storage.phones import e164_prefix
from storage.services.text import escape_like

LIMIT = 10
QUERY_MAX = 100
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Suggestion:
    id: int
    label: str


def _typed_id(query: str) -> int | None:
    """ "12" or "#12": an id to look up directly."""
    raw = query.removeprefix("#")
    if raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID:
        return int(raw)
    return None


def _contains(column: Any, query: str) -> ColumnElement[bool]:
    # Unicode-aware on SQLite too: "özil" finds "Özil" on both databases.
    return unicode_lower(column).like(f"%{escape_like(query.lower())}%", escape="\\")


def _starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    return column.like(f"{escape_like(prefix)}%", escape="\\")


def _by_id(column: Any, query: str) -> ColumnElement[bool]:
    ident = _typed_id(query)
    return column == ident if ident is not None else false()


def _clean(query: str) -> str:
    return " ".join(query.split())[:QUERY_MAX]


async def contacts(session: AsyncSession, query: str) -> list[Suggestion]:
    """By id, by phone number (E.164 equality or prefix), else by name or e-mail."""
    query = _clean(query)
    if not query:
        return []
    phone = e164_prefix(query)
    conditions = [_by_id(ContactPerson.id, query)]
    if phone is not None:
        conditions.append(_starts_with(ContactPerson.phone_e164, phone))
    elif _typed_id(query) is None:
        conditions += [_contains(ContactPerson.name, query), _contains(ContactPerson.email, query)]
    rows = await session.scalars(
        select(ContactPerson)
        .options(selectinload(ContactPerson.organisation))
        .where(or_(*conditions))
        .order_by(ContactPerson.name, ContactPerson.id)
        .limit(LIMIT)
    )
    return [
        Suggestion(
            c.id,
            " · ".join(
                part
                for part in (
                    c.name or "—",
                    c.phone_e164 or "",
                    c.email or "",
                    c.organisation.name if c.organisation else "",
                )
                if part
            ),
        )
        for c in rows
    ]


async def organisations(session: AsyncSession, query: str) -> list[Suggestion]:
    """By id, by customer number (exact), else by name."""
    query = _clean(query)
    if not query:
        return []
    rows = await session.scalars(
        select(Organisation)
        .where(
            or_(
                _by_id(Organisation.id, query),
                Organisation.customer_number == query.upper(),
                _contains(Organisation.name, query),
            )
        )
        .order_by(Organisation.name, Organisation.id)
        .limit(LIMIT)
    )
    return [Suggestion(o.id, f"{o.name} · {o.customer_number}") for o in rows]


async def tickets(session: AsyncSession, query: str) -> list[Suggestion]:
    """By id or by reference (its start: "T-2026-0001" finds T-2026-000123), newest first."""
    query = _clean(query)
    if not query:
        return []
    conditions = [_by_id(Ticket.id, query)]
    if query.upper().startswith("T-"):
        conditions.append(_starts_with(Ticket.reference, query.upper()))
    rows = await session.scalars(
        select(Ticket).where(or_(*conditions)).order_by(Ticket.id.desc()).limit(LIMIT)
    )
    return [Suggestion(t.id, f"{t.reference} · {t.subject}") for t in rows]


async def recordings(session: AsyncSession, query: str, zone: ZoneInfo) -> list[Suggestion]:
    """By id, or by the caller's or callee's number (E.164 equality or prefix), newest
    first; the call's start in `zone`, as the pages show it."""
    query = _clean(query)
    if not query:
        return []
    conditions = [_by_id(Recording.id, query)]
    phone = e164_prefix(query)
    if phone is not None:
        conditions += [
            _starts_with(Recording.caller_e164, phone),
            _starts_with(Recording.callee_e164, phone),
        ]
    rows = await session.scalars(
        select(Recording)
        .where(or_(*conditions))
        .order_by(Recording.call_started_at.desc(), Recording.id.desc())
        .limit(LIMIT)
    )
    return [
        Suggestion(
            r.id,
            f"#{r.id} · {r.call_started_at:%Y-%m-%d %H:%M} · {r.caller or '—'} → {r.callee or '—'}",
        )
        for r in rows
    ]
