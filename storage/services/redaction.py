"""Other people in a subject's export (GDPR art. 15(4)): free text (notes, messages) can
name another customer. Their names, numbers and e-mail addresses are replaced by a visible
marker:

- known other people, found by identity in the database (every other contact person and
  every contact-form sender that is not the subject): their full name, their e-mail
  address and their number as typed;
- any phone number the `phonenumbers` matcher finds (region NL) whose E.164 form is not one
  of the subject's own numbers, and any e-mail address that is not the subject's own.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ContactFormSubmission, ContactPerson
from storage.phones import DEFAULT_REGION
from storage.services.subject import SubjectIndex

REDACTED = "[verwijderd: andere persoon / redacted: other person]"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
MIN_NAME = 4  # shorter "names" ("Jan", initials) would redact ordinary words


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
        self.names = (
            re.compile(
                r"(?<!\w)(?:"
                + "|".join(r"\s+".join(map(re.escape, n.split())) for n in names)
                + r")(?!\w)",
                re.IGNORECASE,
            )
            if names
            else None
        )
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
