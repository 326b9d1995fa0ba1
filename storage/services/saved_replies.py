"""Saved replies (text modules): who sees and changes them, their placeholders, and the
text one becomes on a ticket. The caller owns the session and commits.

A body may name PLACEHOLDERS in braces ("Beste {customer_name}, ..."), filled in when the
reply is put in a ticket's reply box. Only these names exist: nothing of the body is
evaluated (no str.format, no attribute or index access), an unknown name is refused when
the reply is saved, and a brace meant as text is written twice ("{{", "}}").

Shared replies (no owner) are seen by every ticket worker and changed by administrators
only; a personal reply is seen and changed by its owner only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import Clock
from storage.models import (
    ContactFormSubmission,
    ContactPerson,
    SavedReply,
    StaffRole,
    StaffUser,
    Ticket,
)
from storage.services.errors import N_, Forbidden, InvalidInput, NotFound
from storage.services.text import MAX_TEXT
from storage.services.tickets import refuse_if_replies_restricted

PLACEHOLDERS = ("customer_name", "ticket_reference", "agent_name")
TITLE_MAX = 200
# "{{" and "}}" are braces as text; "{name}" a placeholder; any other brace is a mistake.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def _fill(body: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name is None:
            raise InvalidInput(
                N_("lone brace at character {position}: write a brace meant as text twice"),
                position=match.start() + 1,
            )
        if name not in values:
            raise InvalidInput(
                N_("unknown placeholder {placeholder}: use {known}"),
                placeholder=token,
                known=", ".join(f"{{{known}}}" for known in PLACEHOLDERS),
            )
        return values[name]

    return _TOKEN.sub(replace, body)


def check_body(body: str) -> str:
    """The body, stripped, if it is a valid saved reply; InvalidInput names the problem."""
    body = (body or "").strip()
    if not body:
        raise InvalidInput(N_("text: write the reply"))
    if len(body) > MAX_TEXT:
        raise InvalidInput(N_("text: longer than {limit} characters"), limit=MAX_TEXT)
    _fill(body, dict.fromkeys(PLACEHOLDERS, ""))
    return body


def _check_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise InvalidInput(N_("title: give the reply a title"))
    if len(title) > TITLE_MAX:
        raise InvalidInput(N_("title: longer than {limit} characters"), limit=TITLE_MAX)
    return title


def may_change(staff: StaffUser, reply: SavedReply) -> bool:
    if reply.owner_id is None:
        return staff.role == StaffRole.ADMIN
    return reply.owner_id == staff.id


async def visible(session: AsyncSession, staff: StaffUser) -> list[SavedReply]:
    """The shared replies and the staff member's own, by title."""
    return list(
        await session.scalars(
            select(SavedReply)
            .where(or_(SavedReply.owner_id.is_(None), SavedReply.owner_id == staff.id))
            .order_by(SavedReply.title, SavedReply.id)
        )
    )


async def get_visible(session: AsyncSession, staff: StaffUser, reply_id: int) -> SavedReply:
    """The reply if this staff member may see it; another's personal reply is not found."""
    reply = await session.get(SavedReply, reply_id)
    if reply is None or (reply.owner_id is not None and reply.owner_id != staff.id):
        raise NotFound(N_("saved reply {reply_id} not found"), reply_id=reply_id)
    return reply


async def get_changeable(session: AsyncSession, staff: StaffUser, reply_id: int) -> SavedReply:
    """The reply if this staff member may change it: NotFound or Forbidden otherwise."""
    reply = await get_visible(session, staff, reply_id)
    if not may_change(staff, reply):
        raise Forbidden(N_("only an administrator may change a shared reply"))
    return reply


async def create(
    session: AsyncSession,
    clock: Clock,
    staff: StaffUser,
    *,
    title: str,
    body: str,
    shared: bool,
) -> SavedReply:
    """A new reply, personal to `staff` unless shared (administrators only)."""
    if shared and staff.role != StaffRole.ADMIN:
        raise Forbidden(N_("only an administrator may change a shared reply"))
    now = clock.now()
    reply = SavedReply(
        title=_check_title(title),
        body=check_body(body),
        owner_id=None if shared else staff.id,
        created_at=now,
        updated_at=now,
    )
    session.add(reply)
    await session.flush()
    return reply


async def update(
    session: AsyncSession,
    clock: Clock,
    staff: StaffUser,
    reply_id: int,
    *,
    title: str,
    body: str,
) -> SavedReply:
    reply = await get_changeable(session, staff, reply_id)
    reply.title, reply.body = _check_title(title), check_body(body)
    reply.updated_at = clock.now()
    await session.flush()
    return reply


async def delete(session: AsyncSession, staff: StaffUser, reply_id: int) -> None:
    reply = await get_changeable(session, staff, reply_id)
    await session.delete(reply)
    await session.flush()


async def ticket_values(session: AsyncSession, ticket: Ticket, agent: StaffUser) -> dict[str, str]:
    """What the placeholders stand for on this ticket. The customer is the ticket's contact
    or, for a web-form ticket, the name on its submission (both found by id)."""
    name = ""
    if ticket.contact_id is not None:
        name = (
            await session.scalar(
                select(ContactPerson.name).where(ContactPerson.id == ticket.contact_id)
            )
            or ""
        )
    if not name:
        name = (
            await session.scalar(
                select(ContactFormSubmission.name)
                .where(ContactFormSubmission.ticket_id == ticket.id)
                .order_by(ContactFormSubmission.id)
                .limit(1)
            )
            or ""
        )
    return {
        "customer_name": name,
        "ticket_reference": ticket.reference or "",
        "agent_name": agent.display_name or agent.username,
    }


async def text_for_ticket(
    session: AsyncSession, staff: StaffUser, reply_id: int, ticket: Ticket
) -> str:
    """The reply's text with its placeholders filled in for `ticket`, written by `staff`.
    Refused (ContactRestricted) when no reply may go to the ticket's contact: their name is
    not processed for a reply that cannot be sent."""
    reply = await get_visible(session, staff, reply_id)
    await refuse_if_replies_restricted(session, ticket)
    return _fill(reply.body, await ticket_values(session, ticket, staff))
