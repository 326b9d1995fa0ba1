"""Other people in a subject's export (GDPR art. 15(4)): free text (notes, messages) can
name another customer. Their names, numbers and e-mail addresses are replaced by a visible
marker:

- known other people, found by identity in the database (every other contact person and
  every contact-form sender that is not the subject): their full name, their e-mail
  address and their number as typed;
- any phone number the `phonenumbers` matcher finds (region NL) whose E.164 form is not one
  of the subject's own numbers, and any e-mail address that is not the subject's own.

The reverse for an erasure (`erase_mentions`): other people's rows (a colleague's note in
someone else's ticket, another customer's form message) that name the erased subject keep
their text with the subject's name, e-mail and numbers (in any notation) replaced. This is
the one place text is matched: the subject's own data is found by identity (subject.py);
these rows are not theirs, only the mention is.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ContactFormSubmission,
    ContactPerson,
    MessageEdit,
    PrivacyRequest,
    RecordingHold,
    RecordingNote,
    Ticket,
    TicketMessage,
    UnfiledMessage,
)
from storage.phones import DEFAULT_REGION
from storage.services.subject import SubjectIndex

REDACTED = "[verwijderd: andere persoon / redacted: other person]"
MENTION_ERASED = "[gewist / erased]"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
MIN_NAME = 4  # shorter "names" ("Jan", initials) would redact ordinary words


def _names_pattern(names: list[str]) -> re.Pattern[str] | None:
    """Whole names, any run of whitespace between their words, any case."""
    if not names:
        return None
    alternatives = (r"\s+".join(map(re.escape, n.split())) for n in names)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


class Redactor:
    def __init__(
        self,
        own_phones: frozenset[str],
        own_emails: frozenset[str],
        own_names: frozenset[str],
        other_names: set[str],
        other_literals: set[str],
    ) -> None:
        self.own_phones = own_phones
        self.own_emails = own_emails
        names = sorted(
            (n for n in other_names if len(n) >= MIN_NAME and n.lower() not in own_names),
            key=len,
            reverse=True,
        )
        self.names = _names_pattern(names)
        self.literals = sorted((x for x in other_literals if len(x) >= 6), key=len, reverse=True)

    def _email(self, match: re.Match[str]) -> str:
        return match.group(0) if match.group(0).lower() in self.own_emails else REDACTED

    def _phones(self, text: str) -> str:
        spans = []
        for match in phonenumbers.PhoneNumberMatcher(text, DEFAULT_REGION):
            e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            if e164 not in self.own_phones:
                spans.append((match.start, match.end))
        for start, end in reversed(spans):
            text = text[:start] + REDACTED + text[end:]
        return text

    def text(self, text: str) -> str:
        text = EMAIL.sub(self._email, text)
        for literal in self.literals:  # a known other's number as they typed it
            text = text.replace(literal, REDACTED)
        text = self._phones(text)
        if self.names is not None:
            text = self.names.sub(REDACTED, text)
        return text

    def value(self, value: Any) -> Any:
        """Strings, and the strings inside JSON (audit details)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


async def redactor(session: AsyncSession, found: SubjectIndex) -> Redactor:
    own_forms = {f.id for f in found.contact_form}
    own_names = {c.name.strip().lower() for c in found.contact if c.name}
    own_names |= {f.name.strip().lower() for f in found.contact_form if f.name}
    names: set[str] = set()
    literals: set[str] = set()
    others = await session.execute(
        select(ContactPerson.name, ContactPerson.email, ContactPerson.phone).where(
            ContactPerson.id.not_in([c.id for c in found.contact])
        )
    )
    forms = await session.execute(
        select(
            ContactFormSubmission.name, ContactFormSubmission.email, ContactFormSubmission.phone
        ).where(ContactFormSubmission.id.not_in(own_forms))
    )
    for name, email, phone in [*others.all(), *forms.all()]:
        if name:
            names.add(name.strip())
        if email and email.strip().lower() not in found.own_emails:
            literals.add(email.strip())
        if phone:
            literals.add(phone.strip())
    own_literals = {c.phone.strip() for c in found.contact if c.phone}
    own_literals |= {f.phone.strip() for f in found.contact_form if f.phone}
    return Redactor(
        found.own_phones, found.own_emails, frozenset(own_names), names, literals - own_literals
    )


# --- an erased subject's mentions in other people's rows --------------------------------


class MentionEraser:
    """Replaces one person's identifiers in free text: their names, e-mail addresses,
    their numbers as typed and any number the matcher finds whose E.164 form is theirs."""

    def __init__(
        self, names: set[str], emails: frozenset[str], literals: set[str], phones: frozenset[str]
    ) -> None:
        self.phones = phones
        self.emails = emails
        self.name_list = sorted({n for n in names if len(n) >= MIN_NAME}, key=len, reverse=True)
        self.names = _names_pattern(self.name_list)
        self.literals = sorted({x for x in literals if len(x) >= 6}, key=len, reverse=True)

    def needles(self) -> list[str]:
        """Lower-case fragments any text naming the person contains (the SQL prefilter):
        a name, an e-mail, a typed number, or a number's last four digits (which every
        usual notation writes together: 06-5555 6666, +31 6 5555 6666, (06) 55556666)."""
        digits = {p[-4:] for p in self.phones if len(p) > 4}
        names = {" ".join(n.split()) for n in self.name_list}
        return sorted({x.lower() for x in (*names, *self.emails, *self.literals, *digits)})

    def _email(self, match: re.Match[str]) -> str:
        return MENTION_ERASED if match.group(0).lower() in self.emails else match.group(0)

    def _phones(self, text: str) -> str:
        spans = []
        for match in phonenumbers.PhoneNumberMatcher(text, DEFAULT_REGION):
            e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            if e164 in self.phones:
                spans.append((match.start, match.end))
        for start, end in reversed(spans):
            text = text[:start] + MENTION_ERASED + text[end:]
        return text

    def text(self, text: str) -> str:
        text = EMAIL.sub(self._email, text)
        for literal in self.literals:
            text = re.sub(re.escape(literal), MENTION_ERASED, text, flags=re.IGNORECASE)
        text = self._phones(text)
        if self.names is not None:
            text = self.names.sub(MENTION_ERASED, text)
        return text


def mention_eraser(found: SubjectIndex) -> MentionEraser:
    names = {c.name.strip() for c in found.contact if c.name}
    names |= {f.name.strip() for f in found.contact_form if f.name}
    literals = {c.phone.strip() for c in found.contact if c.phone}
    literals |= {f.phone.strip() for f in found.contact_form if f.phone}
    return MentionEraser(names, found.own_emails, literals, found.own_phones)


# Free text other people's rows keep, by the erasure's item type.
MENTION_COLUMNS: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    ("ticket", Ticket, ("subject",)),
    ("message", TicketMessage, ("text",)),
    ("message_edit", MessageEdit, ("previous_text", "new_text")),
    ("contact_form", ContactFormSubmission, ("message",)),
    ("held_message", UnfiledMessage, ("text",)),
    ("recording_hold", RecordingHold, ("reason", "release_reason")),
    ("recording_note", RecordingNote, ("text",)),
    ("privacy_request", PrivacyRequest, ("details", "outcome")),
)


def _mentioning(model: Any, columns: tuple[str, ...], needles: list[str]) -> ColumnElement[bool]:
    return or_(
        *(
            func.lower(getattr(model, column)).contains(needle, autoescape=True)
            for column in columns
            for needle in needles
        )
    )


async def erase_mentions(session: AsyncSession, found: SubjectIndex) -> dict[str, list[int]]:
    """Replace the subject's identifiers in every other row that mentions them. The
    subject's own rows (the index) are left to the erasure: erased, anonymised, or kept
    under an evidence hold as they are. Returns the ids changed, by item type."""
    eraser = mention_eraser(found)
    needles = eraser.needles()
    changed: dict[str, list[int]] = {}
    if not needles:
        return changed
    own = {
        "ticket": found.tickets,
        "message": found.messages,
        "message_edit": found.message_edits,
        "contact_form": found.contact_form,
        "held_message": found.held_messages,
        "recording_hold": found.recording_holds,
        "recording_note": found.recording_notes,
        "privacy_request": found.privacy_requests,
    }
    for kind, model, columns in MENTION_COLUMNS:
        theirs = {row.id for row in own[kind]}
        rows = await session.scalars(
            select(model)
            .where(_mentioning(model, columns, needles), model.id.not_in(theirs))
            .order_by(model.id)
            .execution_options(populate_existing=True)
        )
        for row in rows:
            edited = False
            for column in columns:
                before = getattr(row, column)
                after = eraser.text(before) if before else before
                if after != before:
                    setattr(row, column, after)
                    edited = True
            if edited:
                changed.setdefault(kind, []).append(row.id)
    await session.flush()
    return changed
