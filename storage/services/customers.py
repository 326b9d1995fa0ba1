"""Organisations and contact persons: the one place they change (admin pages, API, CLI).

Updates take only the fields given, so the API can send a partial object and a form can
send every field. The caller owns the session; every change writes its audit event.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.clock import Clock
from storage.models import ContactPerson, Organisation, ServiceStatus
from storage.phones import normalise_phone
from storage.services import audit
from storage.services.audit import Actor
from storage.services.errors import N_, Conflict, InvalidInput, Msgid, NotFound
from storage.services.text import escape_like

PAGE = 50
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CUSTOMER_NUMBER = re.compile(r"^[A-Za-z0-9-]{1,32}$")
LANGUAGES = ("nl", "en")
ADDRESS_MAX = 500


def _text(data: dict[str, Any], name: Msgid, limit: int, *, required: bool = False) -> str:
    """The field `name` as clean text; `name` is an N_ word: a Dutch refusal names the field
    as the Dutch form labels it."""
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(N_("{field}: must be text"), field=name)
    value = value.strip()
    if required and not value:
        raise InvalidInput(N_("{field}: required"), field=name)
    if len(value) > limit:
        raise InvalidInput(N_("{field}: at most {limit} characters"), field=name, limit=limit)
    return value


def clean_email(value: str) -> str | None:
    if value and not _EMAIL.match(value):
        raise InvalidInput(N_("email: not a valid e-mail address"))
    return value.lower() or None


def clean_phone(value: str) -> tuple[str | None, str | None]:
    """A number a person gives us: (as typed, E.164), or a clear refusal when it is no
    phone number. Empty is (None, None)."""
    if not value:
        return None, None
    e164 = normalise_phone(value)
    if e164 is None:
        raise InvalidInput(
            N_("phone: not a phone number (for example 06 1234 5678 or +32 475 12 34 56)"),
        )
    return value, e164


def _contains(column: Any, query: str) -> Any:
    return func.lower(column).like(f"%{escape_like(query.lower())}%", escape="\\")


class CustomerService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    # --- organisations ---------------------------------------------------------------------

    async def get_organisation(self, session: AsyncSession, org_id: int) -> Organisation:
        org = await session.get(Organisation, org_id, populate_existing=True)
        if org is None:
            raise NotFound(N_("organisation {org_id} not found"), org_id=org_id)
        return org

    async def list_organisations(
        self, session: AsyncSession, *, query: str = "", after: int | None = None
    ) -> list[Organisation]:
        stmt: Select[tuple[Organisation]] = select(Organisation).order_by(Organisation.id)
        query = query.strip()[:200]
        if query:
            stmt = stmt.where(
                or_(
                    _contains(Organisation.name, query),
                    Organisation.customer_number == query.upper(),
                )
            )
        if after is not None:
            stmt = stmt.where(Organisation.id > after)
        return list(await session.scalars(stmt.limit(PAGE)))

    async def _check_number_free(
        self, session: AsyncSession, number: str, own_id: int | None = None
    ) -> None:
        taken = await session.scalar(
            select(Organisation.id).where(Organisation.customer_number == number)
        )
        if taken is not None and taken != own_id:
            raise Conflict(N_("customer_number: {number} is already in use"), number=number)

    async def create_organisation(
        self, session: AsyncSession, data: dict[str, Any], *, actor: Actor
    ) -> Organisation:
        name = _text(data, N_("name"), 200, required=True)
        number = _text(data, N_("customer_number"), 32, required=True).upper()
        if not _CUSTOMER_NUMBER.match(number):
            raise InvalidInput(N_("customer_number: letters, digits and '-' only"))
        await self._check_number_free(session, number)
        address = _text(data, N_("delivery_address"), ADDRESS_MAX) or None
        now = self.clock.now()
        org = Organisation(
            name=name,
            customer_number=number,
            delivery_address=address,
            service_status=ServiceStatus.ACTIVE,
            created_at=now,
            updated_at=now,
        )
        session.add(org)
        await session.flush()
        audit.record(
            session,
            actor=actor,
            action="organisation.created",
            subject_type="organisation",
            subject_id=org.id,
            at=now,
            details={"customer_number": number},
        )
        return org

    async def update_organisation(
        self, session: AsyncSession, org_id: int, data: dict[str, Any], *, actor: Actor
    ) -> Organisation:
        org = await self.get_organisation(session, org_id)
        changes: dict[str, Any] = {}
        if "name" in data:
            changes["name"] = _text(data, N_("name"), 200, required=True)
        if "customer_number" in data:
            number = _text(data, N_("customer_number"), 32, required=True).upper()
            if not _CUSTOMER_NUMBER.match(number):
                raise InvalidInput(N_("customer_number: letters, digits and '-' only"))
            await self._check_number_free(session, number, org.id)
            changes["customer_number"] = number
        if "delivery_address" in data:
            changes["delivery_address"] = _text(data, N_("delivery_address"), ADDRESS_MAX) or None
        if "service_status" in data or "service_end_date" in data:
            status, end = self._service(data, org)
            changes["service_status"], changes["service_end_date"] = status, end
        return await self._apply(session, org, changes, actor, "organisation")

    @staticmethod
    def _service(data: dict[str, Any], org: Organisation) -> tuple[ServiceStatus, date | None]:
        raw_status = data.get("service_status", org.service_status.value)
        try:
            status = ServiceStatus(raw_status)
        except ValueError:
            raise InvalidInput(N_("service_status: 'active' or 'ended'")) from None
        raw_end = data.get("service_end_date", None)
        end: date | None = None
        if raw_end:
            try:
                end = date.fromisoformat(str(raw_end))
            except ValueError:
                raise InvalidInput(N_("service_end_date: use YYYY-MM-DD")) from None
        if status == ServiceStatus.ENDED and end is None:
            raise InvalidInput(N_("service_end_date: required when the service has ended"))
        if status == ServiceStatus.ACTIVE:
            end = None
        return status, end

    async def _apply(
        self,
        session: AsyncSession,
        row: Organisation | ContactPerson,
        changes: dict[str, Any],
        actor: Actor,
        kind: str,
    ) -> Any:
        """Set the changed fields and audit them (names only for personal data)."""
        now = self.clock.now()
        changed = {k: v for k, v in changes.items() if getattr(row, k) != v}
        for name, value in changed.items():
            setattr(row, name, value)
        if changed:
            row.updated_at = now
            details: dict[str, Any] = {"fields": sorted(changed)}
            if isinstance(row, Organisation) and {"service_status", "service_end_date"} & set(
                changed
            ):
                # The retention rule for contact persons keys on this; keep it traceable.
                end = row.service_end_date
                details["service_status"] = row.service_status.value
                details["service_end_date"] = end.isoformat() if end else None
            audit.record(
                session,
                actor=actor,
                action=f"{kind}.updated",
                subject_type=kind,
                subject_id=row.id,
                at=now,
                details=details,
            )
            await session.flush()
        return row

    # --- contact persons -------------------------------------------------------------------

    async def get_contact(self, session: AsyncSession, contact_id: int) -> ContactPerson:
        contact = await session.get(ContactPerson, contact_id, populate_existing=True)
        if contact is None:
            raise NotFound(N_("contact {contact_id} not found"), contact_id=contact_id)
        return contact

    async def list_contacts(
        self,
        session: AsyncSession,
        *,
        query: str = "",
        organisation_id: int | None = None,
        after: int | None = None,
    ) -> list[ContactPerson]:
        stmt = (
            select(ContactPerson)
            .options(selectinload(ContactPerson.organisation))
            .order_by(ContactPerson.id)
        )
        query = query.strip()[:200]
        if query:
            stmt = stmt.where(
                or_(
                    _contains(ContactPerson.name, query),
                    _contains(ContactPerson.email, query),
                    ContactPerson.phone_e164 == normalise_phone(query),
                )
            )
        if organisation_id is not None:
            stmt = stmt.where(ContactPerson.organisation_id == organisation_id)
        if after is not None:
            stmt = stmt.where(ContactPerson.id > after)
        return list(await session.scalars(stmt.limit(PAGE)))

    async def _contact_fields(
        self, session: AsyncSession, data: dict[str, Any], *, creating: bool
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if creating or "name" in data:
            fields["name"] = _text(data, N_("name"), 200, required=True)
        if creating or "email" in data:
            fields["email"] = clean_email(_text(data, N_("email"), 320))
        if creating or "phone" in data:
            fields["phone"], fields["phone_e164"] = clean_phone(_text(data, N_("phone"), 32))
        if creating or "language" in data:
            language = _text(data, N_("language"), 8) or "nl"
            if language not in LANGUAGES:
                raise InvalidInput(N_("language: 'nl' or 'en'"))
            fields["language"] = language
        if creating or "organisation_id" in data:
            raw = data.get("organisation_id")
            org_id: int | None = None
            if raw not in (None, ""):
                text = str(raw)
                # Beyond signed 64 bits no row can match (and SQLite's driver would overflow).
                if isinstance(raw, bool) or not (text.isascii() and text.isdigit()):
                    raise InvalidInput(N_("organisation_id: must be a number"))
                if int(text) >= 2**63:
                    raise InvalidInput(N_("organisation_id: no such organisation"))
                org_id = (await self.get_organisation(session, int(text))).id
            fields["organisation_id"] = org_id
        return fields

    async def create_contact(
        self, session: AsyncSession, data: dict[str, Any], *, actor: Actor
    ) -> ContactPerson:
        fields = await self._contact_fields(session, data, creating=True)
        now = self.clock.now()
        contact = ContactPerson(**fields, created_at=now, updated_at=now)
        session.add(contact)
        await session.flush()
        audit.record(
            session,
            actor=actor,
            action="contact.created",
            subject_type="contact",
            subject_id=contact.id,
            at=now,
            details={"organisation_id": contact.organisation_id},
        )
        return contact

    async def update_contact(
        self, session: AsyncSession, contact_id: int, data: dict[str, Any], *, actor: Actor
    ) -> ContactPerson:
        contact = await self.get_contact(session, contact_id)
        fields = await self._contact_fields(session, data, creating=False)
        return await self._apply(session, contact, fields, actor, "contact")
