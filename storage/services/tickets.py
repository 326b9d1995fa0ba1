"""Ticket service: the one place where tickets change. Used by the bot, the admin, the API
and the CLI alike. The caller owns the session and commits; every change writes its audit
event into the same transaction."""

from __future__ import annotations

import base64
import functools
import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Integer,
    Update,
    and_,
    any_,
    bindparam,
    case,
    cast,
    column,
    distinct,
    func,
    insert,
    inspect,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from storage.clock import Clock
from storage.models import (
    ContactFormSubmission,
    ContactPerson,
    ContactPrivacy,
    DeliveryState,
    MessageDirection,
    StaffRole,
    StaffUser,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)
from storage.services import audit, outbox
from storage.services.audit import Actor
from storage.services.errors import (
    N_,
    ContactRestricted,
    InvalidInput,
    NotFound,
    StaleThread,
    TicketClosed,
)
from storage.services.message_edits import MessageEditService
from storage.services.text import MAX_TEXT as MAX_TEXT  # re-exported (bot/filing.py)
from storage.services.text import clean_text as _clean_text
from storage.services.text import escape_like as _escape_like

_REFERENCE = re.compile(r"^[Tt]-\d{4}-\d{6,}$")
MAX_PAGE = 200
# Below this many index hits a search filters on the hits' ids; above it the words are
# common and walking the newest tickets finds a page of matches sooner.
SEARCH_CANDIDATES = 20_000
# Staff who may work tickets (reply, be assigned). admin.auth grants TICKETS_WRITE to
# exactly these roles (a test holds the two together).
TICKET_WORKER_ROLES = frozenset({StaffRole.AGENT, StaffRole.ADMIN})
SUBJECT_MAX = 200  # tickets.subject's length
_INBOX_LOADS = (
    selectinload(Ticket.contact),
    selectinload(Ticket.organisation),
    selectinload(Ticket.assignee),
)
# SQLite FTS5 trigram tables of migrations 0012 and 0014 (rowids are the content tables'
# ids). A contact-form ticket's customer is its submission's name, e-mail, company and
# customer number (the person stays out of contact_persons).
_FTS_HITS = (
    "SELECT rowid AS id FROM ticket_search WHERE ticket_search MATCH :phrase"
    " UNION ALL SELECT m.ticket_id FROM ticket_message_search AS s"
    " JOIN ticket_messages AS m ON m.id = s.rowid WHERE ticket_message_search MATCH :phrase"
    " UNION ALL SELECT t.id FROM contact_search AS c"
    " JOIN tickets AS t ON t.contact_id = c.rowid WHERE contact_search MATCH :phrase"
    " UNION ALL SELECT f.ticket_id FROM contact_form_search AS c"
    " JOIN contact_form_submissions AS f ON f.id = c.rowid"
    " WHERE contact_form_search MATCH :phrase AND f.ticket_id IS NOT NULL"
    " UNION ALL SELECT id FROM tickets WHERE reference = :reference"
)
# Counted inside the database: carrying thousands of ids of a common word to Python costs
# more than the search it decides against.
_FTS_COUNT = text(f"SELECT count(*) FROM ({_FTS_HITS} LIMIT :limit)")
# The hits narrowed to exactly the search's meaning (FTS5 folds Unicode case, lower() only
# ASCII): the service's own LIKE on the rows the index found.
_FTS_IDS = text(
    "SELECT s.rowid FROM ticket_search AS s JOIN tickets AS t ON t.id = s.rowid"
    " WHERE ticket_search MATCH :phrase AND lower(t.subject) LIKE :pattern ESCAPE '\\'"
    " UNION SELECT m.ticket_id FROM ticket_message_search AS s"
    " JOIN ticket_messages AS m ON m.id = s.rowid WHERE ticket_message_search MATCH :phrase"
    " AND lower(m.text) LIKE :pattern ESCAPE '\\'"
    " UNION SELECT t.id FROM contact_search AS c JOIN contact_persons AS p ON p.id = c.rowid"
    " JOIN tickets AS t ON t.contact_id = p.id WHERE contact_search MATCH :phrase"
    " AND (lower(p.name) LIKE :pattern ESCAPE '\\' OR lower(p.email) LIKE :pattern ESCAPE '\\')"
    " UNION SELECT f.ticket_id FROM contact_form_search AS c"
    " JOIN contact_form_submissions AS f ON f.id = c.rowid"
    " WHERE contact_form_search MATCH :phrase AND f.ticket_id IS NOT NULL AND ("
    + " OR ".join(
        f"lower(f.{c}) LIKE :pattern ESCAPE '\\'"
        for c in ("name", "email", "company", "customer_number")
    )
    + ") UNION SELECT id FROM tickets WHERE reference = :reference"
)
# The hits, each once, without reading the rows: for an ASCII query without k or s the
# index's match is already exact (FTS5 folds case like lower() there; beyond it, only the
# Kelvin sign onto k and the long s onto s, which lower() leaves: see test_ticket_search).
_FTS_IDS_ASCII = text(_FTS_HITS.replace(" UNION ALL ", " UNION "))
_FOLDED_ONTO_ASCII = frozenset("ks")


@dataclass(frozen=True)
class TicketFilter:
    status: TicketStatus | None = None
    category: TicketCategory | None = None
    organisation_id: int | None = None
    contact_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    unverified: bool = False
    open_only: bool = False
    query: str = ""


class StatusChange(NamedTuple):
    """A close or reopen: the ticket, and whether this call changed its state."""

    ticket: Ticket
    changed: bool


@dataclass(frozen=True)
class Page:
    items: list[Ticket]
    next_cursor: str | None


@dataclass(frozen=True)
class Inbox:
    page: Page
    counts: dict[TicketStatus, int]  # per status, for the same filters status aside
    cap: int | None  # None: exact; else a count of cap + 1 means "more than cap"


def encode_cursor(moment: datetime, ticket_id: int) -> str:
    raw = json.dumps([moment.isoformat(), ticket_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, ticket_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(moment), int(ticket_id)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(N_("invalid cursor")) from exc


_OPEN_TICKETS = "open_tickets"  # session.info key: contact id -> open tickets, in order


def prefetch_open_tickets(session: AsyncSession, contact_id: int, tickets: list[Ticket]) -> None:
    """Hand a contact's open tickets, read along with another query (the bot reads them
    with the contact: one round trip less per message), to `open_tickets_of` in this
    transaction. The ticket service keeps them current (`_append` reorders them) or
    forgets them (any other change of a ticket's status or contact)."""
    session.info.setdefault(_OPEN_TICKETS, {})[contact_id] = list(tickets)


def prefetched_open_tickets(session: AsyncSession, contact_id: int) -> list[Ticket] | None:
    """The contact's open tickets as this transaction knows them; None: ask the database."""
    known = session.info.get(_OPEN_TICKETS, {}).get(contact_id)
    return None if known is None else list(known)


def forget_open_tickets(session: AsyncSession) -> None:
    """Tickets changed hands or status outside `_append`: read them again when needed."""
    session.info.pop(_OPEN_TICKETS, None)


def _bring_to_front(session: AsyncSession, ticket_id: int) -> None:
    """A message on an open ticket makes it the most recent activity of its contact."""
    for tickets in session.info.get(_OPEN_TICKETS, {}).values():
        for position, ticket in enumerate(tickets):
            if ticket.id == ticket_id:
                tickets.insert(0, tickets.pop(position))
                return
    forget_open_tickets(session)  # a ticket nobody's list holds: take no chances


@functools.cache
def _append_update(
    set_status: bool, wake_waiting: bool, allow_closed: bool, check_version: bool
) -> Update:
    """The ticket UPDATE of `_append`, one per shape, with bound parameters: building and
    cache-keying a statement per message costs more than running it. `wake_waiting`: a
    ticket waiting on the customer opens again, decided by the row itself, so an agent's
    reply committed meanwhile is not overlooked."""
    table = Ticket.__table__.c
    now = bindparam("now", type_=table.updated_at.type)
    values: dict[str, object] = {
        "thread_version": table.thread_version + 1,
        "message_count": table.message_count + 1,
        "updated_at": now,
        "last_activity_at": now,
    }
    if set_status:
        values["status"] = bindparam("new_status", type_=table.status.type)
    elif wake_waiting:
        values["status"] = case(
            (table.status == TicketStatus.WAITING, literal(TicketStatus.OPEN, table.status.type)),
            else_=table.status,
        )
    conditions = [table.id == bindparam("ticket_id")]
    if not allow_closed:
        conditions.append(table.status != TicketStatus.CLOSED)
    if check_version:
        conditions.append(table.thread_version == bindparam("expected_version"))
    return (
        update(Ticket.__table__)
        .where(*conditions)
        .values(**values)
        .returning(table.thread_version, table.message_count, table.status)
    )


_INSERT_MESSAGE = insert(TicketMessage.__table__).returning(TicketMessage.__table__.c.id)


async def _insert_message(session: AsyncSession, **values: object) -> TicketMessage:
    """A message row by one Core INSERT (every customer message takes this path; the ORM
    flush costs several times more), then known to the session as a persistent object."""
    row = {
        "delivery_attempts": 0,
        "delivery_error": None,
        "delivery_failing_since": None,
        "edited_at": None,
        **values,
    }
    message = TicketMessage(**row)
    message.id = (await session.execute(_INSERT_MESSAGE, row)).scalar_one()
    make_transient_to_detached(message)  # every column is set: nothing left to load
    session.add(message)
    return message


async def replies_restricted(session: AsyncSession, ticket: Ticket) -> bool:
    """A Telegram ticket whose contact restricted processing: a reply would only end
    up undeliverable (the delivery worker's own check stays for earlier replies)."""
    if ticket.channel != TicketChannel.TELEGRAM or ticket.contact_id is None:
        return False
    restricted_at = await session.scalar(
        select(ContactPrivacy.restricted_at).where(ContactPrivacy.contact_id == ticket.contact_id)
    )
    return restricted_at is not None


async def refuse_if_replies_restricted(session: AsyncSession, ticket: Ticket) -> None:
    """No reply (nor a reply drafted with their data) for a contact who restricted
    processing."""
    if await replies_restricted(session, ticket):
        raise ContactRestricted(
            N_(
                "ticket {reference}: the contact has restricted the processing of their data "
                "(privacy request), so no reply can be sent to them; add an internal note "
                "instead"
            ),
            reference=ticket.reference,
        )


class TicketService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def open_ticket(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        channel: TicketChannel,
        text: str,
        subject: str = "",
        category: TicketCategory = TicketCategory.OTHER,
        priority: TicketPriority = TicketPriority.NORMAL,
        contact: ContactPerson | None = None,
        organisation_id: int | None = None,
        telegram_chat_id: int | None = None,
        telegram_message_id: int | None = None,
        allow_empty_text: bool = False,
    ) -> tuple[Ticket, TicketMessage]:
        """Open a ticket with its first customer message."""
        body = _clean_text(text, allow_empty=allow_empty_text)
        now = self.clock.now()
        forget_open_tickets(session)  # the open tickets change
        ticket = Ticket(
            subject=(subject or body.split("\n", 1)[0])[:SUBJECT_MAX],
            category=category,
            status=TicketStatus.NEW,
            priority=priority,
            channel=channel,
            contact_id=contact.id if contact else None,
            organisation_id=organisation_id
            if organisation_id is not None
            else (contact.organisation_id if contact else None),
            thread_version=1,
            message_count=1,
            created_at=now,
            updated_at=now,
            last_activity_at=now,
        )
        session.add(ticket)
        await session.flush()
        ticket.reference = f"T-{now.year}-{ticket.id:06d}"
        message = TicketMessage(
            ticket_id=ticket.id,
            direction=MessageDirection.IN,
            author_contact_id=contact.id if contact else None,
            text=body,
            telegram_chat_id=telegram_chat_id,
            telegram_message_id=telegram_message_id,
            delivery_state=DeliveryState.NOT_APPLICABLE,
            created_at=now,
        )
        session.add(message)
        await session.flush()
        await audit.write(
            session,
            actor=actor,
            action="ticket.opened",
            subject_type="ticket",
            subject_id=ticket.id,
            at=now,
            details={"reference": ticket.reference, "channel": channel.value},
        )
        return ticket, message

    async def get(self, session: AsyncSession, ticket_id: int) -> Ticket:
        # populate_existing: never trust attributes expired by an earlier rollback.
        ticket = await session.get(Ticket, ticket_id, populate_existing=True)
        if ticket is None:
            raise NotFound(N_("ticket {ticket_id} not found"), ticket_id=ticket_id)
        return ticket

    async def get_by_reference(self, session: AsyncSession, reference: str) -> Ticket:
        ticket = await session.scalar(select(Ticket).where(Ticket.reference == reference.upper()))
        if ticket is None:
            raise NotFound(N_("ticket {reference} not found"), reference=reference)
        return ticket

    async def _append(
        self,
        session: AsyncSession,
        ticket_id: int,
        *,
        direction: MessageDirection,
        text: str,
        actor: Actor,
        action: str,
        author_staff_id: int | None = None,
        author_contact_id: int | None = None,
        delivery: DeliveryState = DeliveryState.NOT_APPLICABLE,
        new_status: TicketStatus | None = None,
        wake_waiting: bool = False,
        expected_version: int | None = None,
        telegram_chat_id: int | None = None,
        telegram_message_id: int | None = None,
        allow_closed: bool = False,
        allow_empty_text: bool = False,
    ) -> TicketMessage:
        body = _clean_text(text, allow_empty=allow_empty_text)
        now = self.clock.now()
        # One atomic UPDATE: concurrent writers serialise on the row, none is lost. A Core
        # UPDATE built once per shape (cheaper than the ORM's); the loaded ticket gets the
        # new values below.
        statement = _append_update(
            new_status is not None, wake_waiting, allow_closed, expected_version is not None
        )
        params: dict[str, object] = {"ticket_id": ticket_id, "now": now}
        if new_status is not None:
            params["new_status"] = new_status
        if expected_version is not None:
            params["expected_version"] = expected_version
        row = (await session.execute(statement, params)).one_or_none()
        if row is not None:
            key = inspect(Ticket).identity_key_from_primary_key([ticket_id])
            loaded = session.identity_map.get(key)
            if loaded is not None:
                changed = {
                    "thread_version": row[0],
                    "message_count": row[1],
                    "status": row[2],
                    "updated_at": now,
                    "last_activity_at": now,
                }
                for name, value in changed.items():
                    set_committed_value(loaded, name, value)
            _bring_to_front(session, ticket_id)
        if row is None:
            forget_open_tickets(session)  # closed meanwhile: not open as we knew it
            ticket = await self.get(session, ticket_id)
            if ticket.status == TicketStatus.CLOSED and not allow_closed:
                raise TicketClosed(N_("ticket {reference} is closed"), reference=ticket.reference)
            raise StaleThread(
                N_(
                    "ticket {reference} changed since you opened it (version {thread_version}, "
                    "yours {expected_version})"
                ),
                reference=ticket.reference,
                thread_version=ticket.thread_version,
                expected_version=expected_version,
            )
        message = await _insert_message(
            session,
            ticket_id=ticket_id,
            direction=direction,
            author_staff_id=author_staff_id,
            author_contact_id=author_contact_id,
            text=body,
            delivery_state=delivery,
            telegram_chat_id=telegram_chat_id,
            telegram_message_id=telegram_message_id,
            next_attempt_at=now if delivery == DeliveryState.PENDING else None,
            created_at=now,
        )
        event = {
            "actor": actor,
            "action": action,
            "subject_type": "ticket",
            "subject_id": ticket_id,
            "at": now,
            "details": {"message_id": message.id},
        }
        if direction == MessageDirection.IN:  # the bot's hot path: one INSERT per commit
            audit.write_at_commit(session, **event)
        else:
            await audit.write(session, **event)
        return message

    async def add_customer_message(
        self,
        session: AsyncSession,
        ticket_id: int,
        *,
        text: str,
        contact_id: int | None = None,
        telegram_chat_id: int | None = None,
        telegram_message_id: int | None = None,
        allow_empty_text: bool = False,
    ) -> TicketMessage:
        """A customer writes on an open ticket; a ticket waiting on them becomes open again."""
        return await self._append(
            session,
            ticket_id,
            direction=MessageDirection.IN,
            text=text,
            actor=Actor.customer(contact_id),
            action="ticket.customer_message",
            author_contact_id=contact_id,
            wake_waiting=True,
            telegram_chat_id=telegram_chat_id,
            telegram_message_id=telegram_message_id,
            allow_empty_text=allow_empty_text,
        )

    async def add_agent_reply(
        self,
        session: AsyncSession,
        ticket_id: int,
        *,
        staff: StaffUser,
        text: str,
        expected_version: int | None = None,
    ) -> TicketMessage:
        """Reply to the customer. On Telegram tickets the reply is queued (delivery pending)
        for the delivery worker, which is the only thing that talks to Telegram; refused
        while the contact has restricted processing (notes stay allowed)."""
        ticket = await self.get(session, ticket_id)
        await refuse_if_replies_restricted(session, ticket)
        delivery = (
            DeliveryState.PENDING
            if ticket.channel == TicketChannel.TELEGRAM
            else DeliveryState.NOT_APPLICABLE
        )
        message = await self._append(
            session,
            ticket_id,
            direction=MessageDirection.OUT,
            text=text,
            actor=Actor.staff(staff),
            action="ticket.reply",
            author_staff_id=staff.id,
            delivery=delivery,
            new_status=TicketStatus.WAITING,
            expected_version=expected_version,
        )
        if delivery == DeliveryState.PENDING:
            await self._queue_reply(session, ticket_id, message)
        return message

    async def _queue_reply(
        self, session: AsyncSession, ticket_id: int, message: TicketMessage
    ) -> None:
        """Into the bot's outbox, behind whatever the bot already said in that chat."""
        chat_id = await outbox.ticket_chat(session, ticket_id)
        outbox.enqueue(
            session,
            outbox.NO_CHAT if chat_id is None else chat_id,
            outbox.REPLY,
            "{}",
            self.clock.now(),
            ticket_message_id=message.id,
        )

    async def replies_restricted(self, session: AsyncSession, ticket: Ticket) -> bool:
        return await replies_restricted(session, ticket)

    async def edit_reply(
        self,
        session: AsyncSession,
        message_id: int,
        *,
        staff: StaffUser,
        text: str,
        ticket_id: int | None = None,
    ) -> TicketMessage:
        """Edit an agent's reply; the customer's chat is updated by the delivery worker."""
        return await MessageEditService(self.clock).edit_reply(
            session, message_id, staff=staff, text=text, ticket_id=ticket_id
        )

    async def add_internal_note(
        self, session: AsyncSession, ticket_id: int, *, staff: StaffUser, text: str
    ) -> TicketMessage:
        """A note for colleagues only; allowed on closed tickets too."""
        return await self._append(
            session,
            ticket_id,
            direction=MessageDirection.NOTE,
            text=text,
            actor=Actor.staff(staff),
            action="ticket.note",
            author_staff_id=staff.id,
            allow_closed=True,
        )

    async def add_system_note(
        self, session: AsyncSession, ticket_id: int, *, text: str
    ) -> TicketMessage:
        """A note the desk itself writes (no staff author), e.g. why a message was filed."""
        return await self._append(
            session,
            ticket_id,
            direction=MessageDirection.NOTE,
            text=text,
            actor=Actor.system(),
            action="ticket.note",
            allow_closed=True,
        )

    async def _change(
        self, session: AsyncSession, ticket_id: int, *, actor: Actor, action: str, **values: object
    ) -> Ticket:
        """Set fields on a ticket; the audit event records each field's old and new value."""
        forget_open_tickets(session)  # a status may change
        ticket = await self.get(session, ticket_id)
        now = self.clock.now()
        details: dict[str, object] = {}
        for name, value in values.items():
            before = getattr(ticket, name)
            if before != value:
                details[name] = {"from": _plain(before), "to": _plain(value)}
            setattr(ticket, name, value)
        ticket.updated_at = now
        audit.record(
            session,
            actor=actor,
            action=action,
            subject_type="ticket",
            subject_id=ticket_id,
            at=now,
            details=details,
        )
        await session.flush()
        return ticket

    async def assign(
        self, session: AsyncSession, ticket_id: int, *, actor: Actor, assignee_id: int | None
    ) -> Ticket:
        if assignee_id is not None:
            assignee = await session.get(StaffUser, assignee_id)
            if assignee is None or not assignee.is_active:
                raise InvalidInput(
                    N_("no active staff user {assignee_id}"),
                    assignee_id=assignee_id,
                )
            if assignee.role not in TICKET_WORKER_ROLES:
                raise InvalidInput(
                    N_("{name} cannot work tickets: assign an agent"),
                    name=assignee.display_name or assignee.username,
                )
        ticket = await self.get(session, ticket_id)
        status = TicketStatus.OPEN if ticket.status == TicketStatus.NEW else ticket.status
        return await self._change(
            session,
            ticket_id,
            actor=actor,
            action="ticket.assigned",
            assignee_id=assignee_id,
            status=status,
        )

    async def set_category(
        self, session: AsyncSession, ticket_id: int, *, actor: Actor, category: TicketCategory
    ) -> Ticket:
        return await self._change(
            session, ticket_id, actor=actor, action="ticket.category", category=category
        )

    async def set_priority(
        self, session: AsyncSession, ticket_id: int, *, actor: Actor, priority: TicketPriority
    ) -> Ticket:
        return await self._change(
            session, ticket_id, actor=actor, action="ticket.priority", priority=priority
        )

    async def _locked(self, session: AsyncSession, ticket_id: int) -> Ticket:
        """The ticket, its row locked for this transaction (PostgreSQL; SQLite's writers
        hold the write lock already): a concurrent change of its state waits, then reads
        the committed state."""
        ticket = await session.scalar(
            select(Ticket)
            .where(Ticket.id == ticket_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if ticket is None:
            raise NotFound(N_("ticket {ticket_id} not found"), ticket_id=ticket_id)
        return ticket

    async def close(
        self, session: AsyncSession, ticket_id: int, *, actor: Actor
    ) -> StatusChange:
        """Close the ticket; `changed` is False when it was closed already (also by a
        concurrent close), so exactly one close tells the customer."""
        ticket = await self._locked(session, ticket_id)
        if ticket.status == TicketStatus.CLOSED:
            return StatusChange(ticket, changed=False)
        ticket = await self._change(
            session,
            ticket_id,
            actor=actor,
            action="ticket.closed",
            status=TicketStatus.CLOSED,
            closed_at=self.clock.now(),
        )
        return StatusChange(ticket, changed=True)

    async def reopen(
        self, session: AsyncSession, ticket_id: int, *, actor: Actor
    ) -> StatusChange:
        """Reopen the ticket; `changed` is False when it was open already."""
        ticket = await self._locked(session, ticket_id)
        if ticket.status != TicketStatus.CLOSED:
            return StatusChange(ticket, changed=False)
        ticket = await self._change(
            session,
            ticket_id,
            actor=actor,
            action="ticket.reopened",
            status=TicketStatus.OPEN,
            closed_at=None,
            last_activity_at=self.clock.now(),
        )
        return StatusChange(ticket, changed=True)

    async def open_tickets_of(self, session: AsyncSession, contact_id: int) -> list[Ticket]:
        """Most recent activity first. Tickets prefetched into this transaction (see
        `prefetch_open_tickets`) come from memory while the service keeps them current."""
        prefetched = prefetched_open_tickets(session, contact_id)
        if prefetched is not None:
            return prefetched
        rows = await session.scalars(
            select(Ticket)
            .where(Ticket.contact_id == contact_id, Ticket.status != TicketStatus.CLOSED)
            .order_by(Ticket.last_activity_at.desc(), Ticket.id.desc())
        )
        return list(rows)

    async def list_tickets(
        self,
        session: AsyncSession,
        filters: TicketFilter = TicketFilter(),
        *,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """Newest activity first, keyset-paginated on (last_activity_at, id)."""
        match = await self._search_match(session, filters.query)
        if match is not None:
            page, _ = await self._matched(session, filters, match, cursor, limit, counts=False)
            return page
        return await self._page(session, self._conditions(filters), cursor, limit)

    async def inbox(
        self,
        session: AsyncSession,
        filters: TicketFilter = TicketFilter(),
        *,
        cursor: str | None = None,
        limit: int = 50,
        cap: int,
    ) -> Inbox:
        """A page of `filters` and the tickets per status for the same filters status aside
        (the inbox badges), a text search looked up once for both. An indexed search has
        fewer than SEARCH_CANDIDATES matches: counted exactly. Otherwise each count stops
        at cap + 1, a bounded walk instead of a scan of every ticket."""
        match = await self._search_match(session, filters.query)
        if match is not None:
            page, counts = await self._matched(session, filters, match, cursor, limit, counts=True)
            return Inbox(page, counts, cap=None)
        page = await self._page(session, self._conditions(filters), cursor, limit)
        every_status = self._conditions(replace(filters, status=None))
        return Inbox(page, await self._capped_counts(session, every_status, cap), cap=cap)

    @staticmethod
    async def waiting_since(session: AsyncSession, tickets: list[Ticket]) -> dict[int, datetime]:
        """Per open ticket, when the customer's oldest unanswered message came in (none:
        the last word was ours). One query for the page's tickets."""
        open_ids = [t.id for t in tickets if t.status != TicketStatus.CLOSED]
        if not open_ids:
            return {}
        answered = (
            select(func.max(TicketMessage.created_at))
            .where(
                TicketMessage.ticket_id == Ticket.id,
                TicketMessage.direction == MessageDirection.OUT,
            )
            .correlate(Ticket)
            .scalar_subquery()
        )
        stmt = (
            select(Ticket.id, func.min(TicketMessage.created_at))
            .join(TicketMessage, TicketMessage.ticket_id == Ticket.id)
            .where(
                Ticket.id.in_(open_ids),
                TicketMessage.direction == MessageDirection.IN,
                or_(answered.is_(None), TicketMessage.created_at > answered),
            )
            .group_by(Ticket.id)
        )
        return {ticket_id: at for ticket_id, at in await session.execute(stmt)}

    async def count_by_status(
        self,
        session: AsyncSession,
        filters: TicketFilter = TicketFilter(),
        *,
        cap: int | None = None,
    ) -> dict[TicketStatus, int]:
        """Tickets per status. With `cap`, each count stops at cap + 1 (shown as "cap+"),
        so the inbox badges cost a bounded index walk instead of a scan of every ticket."""
        match = await self._search_match(session, filters.query)
        conditions = self._conditions(filters, match)
        if cap is not None and match is None:
            return await self._capped_counts(session, conditions, cap)
        # An indexed search's few matches are counted in one pass (not once per status).
        stmt = select(Ticket.status, func.count()).where(*conditions).group_by(Ticket.status)
        counts = {status: 0 for status in TicketStatus}
        for status, count in await session.execute(stmt):
            counts[TicketStatus(status)] = count if cap is None else min(count, cap + 1)
        return counts

    @staticmethod
    async def _page(
        session: AsyncSession, conditions: list[object], cursor: str | None, limit: int
    ) -> Page:
        limit = max(1, min(limit, MAX_PAGE))
        stmt = (
            select(Ticket)
            .options(*_INBOX_LOADS)
            .where(*conditions, *_after(cursor, Ticket.last_activity_at, Ticket.id))
            .order_by(Ticket.last_activity_at.desc(), Ticket.id.desc())
            .limit(limit + 1)
        )
        return _paged(list(await session.scalars(stmt)), limit)

    async def _matched(
        self,
        session: AsyncSession,
        filters: TicketFilter,
        match: object,
        cursor: str | None,
        limit: int,
        *,
        counts: bool,
    ) -> tuple[Page, dict[TicketStatus, int]]:
        """Page (and counts) of a search the index narrowed down to a few thousand tickets.
        One statement reads each match's status and activity once and takes both the
        page's ids and the counts from that set (a CTE used twice, which SQLite and
        PostgreSQL materialise); sorting those narrow rows and then loading the page's
        tickets by id costs less than sorting whole rows."""
        limit = max(1, min(limit, MAX_PAGE))
        every_status = self._conditions(replace(filters, status=None), match)
        found = (
            select(Ticket.id, Ticket.status, Ticket.last_activity_at)
            .where(*every_status)
            .cte("found")
        )
        wanted = [] if filters.status is None else [found.c.status == filters.status]
        top = (
            select(found.c.id, found.c.status)
            .where(*wanted, *_after(cursor, found.c.last_activity_at, found.c.id))
            .order_by(found.c.last_activity_at.desc(), found.c.id.desc())
            .limit(limit + 1)
            .subquery()
        )
        stmt = select(top.c.id, top.c.status, null().label("n"))
        if counts:
            per_status = select(null(), found.c.status, func.count()).group_by(found.c.status)
            stmt = union_all(stmt, per_status)
        ids, tally = [], {status: 0 for status in TicketStatus}
        for ticket_id, status, n in await session.execute(stmt):
            if n is None:
                ids.append(ticket_id)
            else:
                tally[TicketStatus(status)] = n
        rows = list(
            await session.scalars(select(Ticket).options(*_INBOX_LOADS).where(Ticket.id.in_(ids)))
        )
        rows.sort(key=lambda t: (t.last_activity_at, t.id), reverse=True)
        return _paged(rows, limit), tally

    @staticmethod
    async def _capped_counts(
        session: AsyncSession, conditions: list[object], cap: int
    ) -> dict[TicketStatus, int]:
        parts = [
            select(literal(status.value).label("status"), func.count().label("n")).select_from(
                select(Ticket.id)
                .where(Ticket.status == status, *conditions)
                .limit(cap + 1)
                .subquery()
            )
            for status in TicketStatus
        ]
        rows = await session.execute(union_all(*parts))
        return {TicketStatus(status): count for status, count in rows}

    @staticmethod
    async def _search_match(session: AsyncSession, query: str) -> object | None:
        """A condition on Ticket.id for exactly the tickets a text search matches, answered
        by the trigram indexes. None when the index cannot help: under 3 characters (no
        trigram), a reference (already exact) or a common string (SEARCH_CANDIDATES hits
        or more)."""
        query = query.strip()
        if len(query) < 3 or _REFERENCE.match(query):
            return None
        pattern = f"%{_escape_like(query.lower())}%"
        if session.get_bind().dialect.name == "sqlite":
            phrase = '"' + query.replace('"', '""') + '"'
            params = {"phrase": phrase, "reference": query.upper(), "limit": SEARCH_CANDIDATES}
            if await session.scalar(_FTS_COUNT, params) >= SEARCH_CANDIDATES:
                return None
            # The hits stay in the database, a subquery of the statement that pages (and
            # counts) them: carrying thousands of ids through Python and back costs more.
            if query.isascii() and not _FOLDED_ONTO_ASCII & set(query.lower()):
                hits = _FTS_IDS_ASCII.bindparams(phrase=phrase, reference=query.upper())
            else:
                hits = _FTS_IDS.bindparams(phrase=phrase, reference=query.upper(), pattern=pattern)
            return Ticket.id.in_(hits.columns(column("id", Integer)))
        # PostgreSQL: each branch is the service's own lower(...) LIKE, which the
        # pg_trgm GIN indexes of migration 0012 answer.
        stmt = union_all(
            select(Ticket.id).where(func.lower(Ticket.subject).like(pattern, escape="\\")),
            select(TicketMessage.ticket_id).where(
                func.lower(TicketMessage.text).like(pattern, escape="\\")
            ),
            select(Ticket.id)
            .join(ContactPerson, ContactPerson.id == Ticket.contact_id)
            .where(
                or_(
                    func.lower(ContactPerson.name).like(pattern, escape="\\"),
                    func.lower(ContactPerson.email).like(pattern, escape="\\"),
                )
            ),
            select(ContactFormSubmission.ticket_id).where(
                ContactFormSubmission.ticket_id.is_not(None), _submitter_like(pattern)
            ),
            select(Ticket.id).where(Ticket.reference == query.upper()),
        )
        # One round trip (each branch costs more here than carrying the ids does): the
        # hits as one array, left out for a common string; back in as one parameter.
        hits = stmt.limit(SEARCH_CANDIDATES).subquery()
        few = func.count() < SEARCH_CANDIDATES
        found = select(func.count(), case((few, func.array_agg(distinct(hits.c.id)))))
        count, ids = (await session.execute(found)).one()
        if count >= SEARCH_CANDIDATES:
            return None
        return Ticket.id == any_(cast(ids or [], ARRAY(BigInteger)))

    @staticmethod
    def _conditions(filters: TicketFilter, candidates: object | None = None) -> list[object]:
        conditions: list[object] = []
        if filters.status is not None:
            conditions.append(Ticket.status == filters.status)
        if filters.open_only:
            conditions.append(Ticket.status != TicketStatus.CLOSED)
        if filters.category is not None:
            conditions.append(Ticket.category == filters.category)
        if filters.organisation_id is not None:
            conditions.append(Ticket.organisation_id == filters.organisation_id)
        if filters.contact_id is not None:
            conditions.append(Ticket.contact_id == filters.contact_id)
        if filters.assignee_id is not None:
            conditions.append(Ticket.assignee_id == filters.assignee_id)
        if filters.unassigned:
            conditions.append(Ticket.assignee_id.is_(None))
        if filters.unverified:
            conditions.append(Ticket.organisation_id.is_(None))
        query = filters.query.strip()
        if _REFERENCE.match(query):
            # A reference names one ticket: an exact, indexed lookup, no text scan.
            conditions.append(Ticket.reference == query.upper())
        elif candidates is not None:
            # The search already answered through the trigram index.
            conditions.append(candidates)
        elif query:
            pattern = f"%{_escape_like(query.lower())}%"
            # Per-row lookups, not EXISTS: PostgreSQL turns an EXISTS under OR into a hashed
            # subplan that first finds every matching message (all of a common word's), to
            # answer a walk that stops after a page. A LIMIT 1 subquery cannot be hashed.
            in_message = (
                select(TicketMessage.id)
                .where(
                    TicketMessage.ticket_id == Ticket.id,
                    func.lower(TicketMessage.text).like(pattern, escape="\\"),
                )
                .limit(1)
            )
            of_contact = (
                select(ContactPerson.id)
                .where(
                    ContactPerson.id == Ticket.contact_id,
                    or_(
                        func.lower(ContactPerson.name).like(pattern, escape="\\"),
                        func.lower(ContactPerson.email).like(pattern, escape="\\"),
                    ),
                )
                .limit(1)
            )
            of_form = (
                select(ContactFormSubmission.id)
                .where(ContactFormSubmission.ticket_id == Ticket.id, _submitter_like(pattern))
                .limit(1)
            )
            conditions.append(
                or_(
                    Ticket.reference == query.upper(),
                    func.lower(Ticket.subject).like(pattern, escape="\\"),
                    in_message.scalar_subquery().is_not(None),
                    of_contact.scalar_subquery().is_not(None),
                    # Last, and only for contact-form tickets: no lookup for the others.
                    and_(
                        Ticket.channel == TicketChannel.WEB_FORM,
                        of_form.scalar_subquery().is_not(None),
                    ),
                )
            )
        return conditions

    async def get_thread(self, session: AsyncSession, ticket_id: int) -> Ticket:
        """The ticket with contact, organisation, assignee and every message with attachments."""
        ticket = await session.scalar(
            select(Ticket)
            .where(Ticket.id == ticket_id)
            .options(
                selectinload(Ticket.contact),
                selectinload(Ticket.organisation),
                selectinload(Ticket.assignee),
                selectinload(Ticket.messages).selectinload(TicketMessage.attachments),
                selectinload(Ticket.messages).selectinload(TicketMessage.author_staff),
            )
            .execution_options(populate_existing=True)
        )
        if ticket is None:
            raise NotFound(N_("ticket {ticket_id} not found"), ticket_id=ticket_id)
        return ticket


def _submitter_like(pattern: str) -> object:
    """The contact-form submitter matches: name, e-mail, company or customer number."""
    return or_(
        *(
            func.lower(column).like(pattern, escape="\\")
            for column in (
                ContactFormSubmission.name,
                ContactFormSubmission.email,
                ContactFormSubmission.company,
                ContactFormSubmission.customer_number,
            )
        )
    )


def _after(cursor: str | None, moment: object, ticket_id: object) -> list[object]:
    """Rows past the cursor in (last_activity_at, id) descending order. The leading `<=`
    gives the index a range to start from (a bare OR cannot)."""
    if not cursor:
        return []
    at, last_id = decode_cursor(cursor)
    return [moment <= at, or_(moment < at, and_(moment == at, ticket_id < last_id))]  # type: ignore[operator]


def _paged(rows: list[Ticket], limit: int) -> Page:
    """A page from up to limit + 1 rows in page order (an extra row means there is more)."""
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor(rows[-1].last_activity_at, rows[-1].id))


def _plain(value: object) -> object:
    """A JSON-friendly form of a column value for audit details."""
    if isinstance(value, datetime):
        return value.isoformat()
    return getattr(value, "value", value)
