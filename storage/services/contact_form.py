"""Public contact form: validate a submission, open a "web form" ticket, keep the record.

Nothing is written unless every field is valid; errors name the field they belong to.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import Clock
from storage.models import ContactFormSubmission, Ticket, TicketCategory, TicketChannel
from storage.phones import normalise_phone
from storage.services import audit
from storage.services.audit import Actor
from storage.services.customers import clean_email, clean_phone
from storage.services.errors import N_, InvalidInput, Joined, Message, Msgid, ServiceError
from storage.services.tickets import SUBJECT_MAX, TicketService

# The field names are N_ words: a Dutch refusal names them as the Dutch form labels them.
LIMITS = {
    N_("company"): 200,
    N_("name"): 200,
    N_("email"): 320,
    N_("phone"): 32,
    N_("customer_number"): 32,
    N_("message"): 5000,
}
REQUIRED = ("name", "email", "message")
# The topic the form asks for: the bot's categories (TicketCategory), "other" when none.
CATEGORY = N_("category")
# Form tickets are titled by their question. Before that they were titled FORM_SUBJECT plus
# the company (form_subject), which the retention sweep still takes out of older tickets
# after their submission's year (contact_form rule).
FORM_SUBJECT = "Contactformulier"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
RATE_WINDOW = timedelta(hours=1)
RATE_MAX = 5


class FormInvalid(InvalidInput):
    """Every bad field at once: {field: problem key}, both N_ words ("field_required" ...).
    The message reads "name: field_required; ..." (the API's words); text(lang) puts both in
    the page's language, as the form labels them."""

    def __init__(self, errors: dict[str, str]) -> None:
        problems = (
            Message(N_("{field}: {problem}"), field=Msgid(field), problem=Msgid(problem))
            for field, problem in errors.items()
        )
        super().__init__(N_("{problems}"), problems=Joined(problems, "; "))
        self.errors = errors


class RateLimited(ServiceError):
    code = "rate_limited"
    status = 429


@dataclass(frozen=True)
class Receipt:
    submission_id: int
    ticket_id: int
    reference: str


def form_subject(company: str) -> str:
    """The subject older form tickets were given (the retention sweep looks for it)."""
    return f"{FORM_SUBJECT}: {company}" if company else FORM_SUBJECT


def question_subject(message: str) -> str:
    """A form ticket's title: the question's first sentence on its first line, whitespace
    collapsed, cut at a word to fit the subject (with an ellipsis when cut)."""
    first_line = next((line for line in message.splitlines() if line.strip()), "")
    sentence = _SENTENCE_END.split(first_line.strip(), maxsplit=1)[0]
    words = " ".join(sentence.split())
    if len(words) <= SUBJECT_MAX:
        return words or FORM_SUBJECT
    cut = words[: SUBJECT_MAX - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def ip_hash(secret: str, ip: str) -> str:
    """A keyed hash: the limit works per address without storing the address."""
    return hmac.new(secret.encode(), ip.encode(), hashlib.sha256).hexdigest()


def validate(data: dict[str, Any]) -> dict[str, str]:
    """Cleaned fields, or FormInvalid with an error key per field."""
    cleaned: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, limit in LIMITS.items():
        value = str(data.get(name) or "").strip()
        if name in REQUIRED and not value:
            errors[name] = N_("field_required")
        elif len(value) > limit:
            errors[name] = N_("field_too_long")
        cleaned[name] = value
    if "email" not in errors and cleaned["email"]:
        try:
            cleaned["email"] = clean_email(cleaned["email"]) or ""
        except InvalidInput:
            errors["email"] = N_("field_email")
    if "phone" not in errors and cleaned["phone"]:
        try:
            clean_phone(cleaned["phone"])  # kept as typed; submit stores its E.164 form
        except InvalidInput:
            errors["phone"] = N_("field_phone")
    category = str(data.get(CATEGORY) or "").strip()
    if category and category not in {c.value for c in TicketCategory}:
        errors[CATEGORY] = N_("field_choice")
    if errors:
        raise FormInvalid(errors)
    return cleaned


def chosen_category(data: dict[str, Any]) -> TicketCategory:
    """The topic of a validated form: "other" when the sender chose none."""
    return TicketCategory(str(data.get(CATEGORY) or "").strip() or TicketCategory.OTHER)


class ContactFormService:
    def __init__(self, clock: Clock, tickets: TicketService) -> None:
        self.clock = clock
        self.tickets = tickets

    async def submit(
        self, session: AsyncSession, data: dict[str, Any], *, sender: str, language: str
    ) -> Receipt:
        fields = validate(data)
        now = self.clock.now()
        recent = await session.scalar(
            select(func.count())
            .select_from(ContactFormSubmission)
            .where(
                ContactFormSubmission.ip_hash == sender,
                ContactFormSubmission.created_at > now - RATE_WINDOW,
            )
        )
        if (recent or 0) >= RATE_MAX:
            raise RateLimited(N_("too many submissions from this address; try again later"))
        # The person's details stay in the submission (kept one year), not in the ticket:
        # its title is the question (support information, as the message itself).
        ticket, _ = await self.tickets.open_ticket(
            session,
            actor=Actor.customer(None, "contact form"),
            channel=TicketChannel.WEB_FORM,
            text=fields["message"],
            subject=question_subject(fields["message"]),
            category=chosen_category(data),
        )
        submission = ContactFormSubmission(
            created_at=now,
            ticket_id=ticket.id,
            language=language,
            ip_hash=sender,
            phone_e164=normalise_phone(fields["phone"]),
            **fields,
        )
        session.add(submission)
        await session.flush()
        audit.record(
            session,
            actor=Actor.customer(None, "contact form"),
            action="contact_form.submitted",
            subject_type="contact_form_submission",
            subject_id=submission.id,
            at=now,
            details={"ticket_id": ticket.id},
        )
        return Receipt(submission.id, ticket.id, ticket.reference or "")

    async def for_ticket(
        self, session: AsyncSession, ticket: Ticket
    ) -> ContactFormSubmission | None:
        if ticket.channel != TicketChannel.WEB_FORM:
            return None
        return await session.scalar(
            select(ContactFormSubmission)
            .where(ContactFormSubmission.ticket_id == ticket.id)
            .order_by(ContactFormSubmission.id)
            .limit(1)
        )
