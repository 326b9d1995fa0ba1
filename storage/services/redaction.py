"""Other people in a subject's export (GDPR art. 15(4)): free text (notes, messages) can
name another customer. Their names, numbers and e-mail addresses are replaced by a visible
marker:

- known other people, found by identity in the database (every other contact person and
  every contact-form sender that is not the subject): their full name, their e-mail
  address and their number as typed;
- any phone number the `phonenumbers` matcher finds (region NL, in any notation: groups,
  pairs, "+31 (0)6", "0031...") whose E.164 form is not one of the subject's own numbers
  and that is a valid number or a known other's number, and any e-mail address that is
  not the subject's own.

The reverse for an erasure (`erase_mentions`): other people's rows (a colleague's note in
someone else's ticket, another customer's form message) that name the erased subject keep
their text with the subject's name, e-mail and numbers (in any notation) replaced. This is
the one place text is matched: the subject's own data is found by identity (subject.py);
these rows are not theirs, only the mention is.

Numbers in text are compared by E.164, never by pattern: the matcher reads every notation
the `phonenumbers` library knows, and a candidate counts when its E.164 form is the
person's. The SQL prefilter that picks the rows to read looks for the person's national
number among a text's digits with the matcher's punctuation removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import phonenumbers
from phonenumbers import Leniency
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
# What the matcher accepts between a number's digits (the punctuation and spaces of
# libphonenumber; "x", which starts an extension, aside). The prefilter removes these, so
# that every notation of a number ("06 55 55 66 66", "+31 (0)6-5555.6666") is one run of
# digits holding its national number.
NUMBER_PUNCTUATION = (
    " \u00a0\u00ad\u200b\u2060\u3000"  # spaces, soft hyphen, zero-width
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d"  # hyphens and dashes
    "/\uff0f\\.~\u2053\u223c\uff5e"  # slashes, dots, tildes
    "()\uff08\uff09[]\uff3b\uff3d"  # brackets
)


# A run of digits with that punctuation between them: where a number can hide when the
# matcher takes it together with a neighbouring figure ("ref 2026 06 12 34 56 78").
DIGIT_RUN = re.compile(r"[+(\uff08]?\d(?:[" + re.escape(NUMBER_PUNCTUATION) + r"]*\d)*")
DIGIT_GROUP = re.compile(r"\d+")
MAX_NUMBER_DIGITS = 19  # E.164's 15 after an international prefix ("00") and a trunk "(0)"
Span = tuple[int, int]


def digits_of(text: str) -> str:
    """`text` without the punctuation a number may be written with (as the prefilter)."""
    return text.translate({ord(c): None for c in NUMBER_PUNCTUATION})


def national_number(e164: str) -> str:
    return phonenumbers.national_significant_number(phonenumbers.parse(e164))


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _matched(text: str, wanted: Callable[[str], bool]) -> list[Span]:
    """What the `phonenumbers` matcher finds (region NL) whose E.164 form is wanted. Both
    leniencies: POSSIBLE also takes numbers the metadata does not know as valid, VALID
    looks inside a candidate that is no possible number ("1 0612345678")."""
    return [
        (match.start, match.end)
        for leniency in (Leniency.POSSIBLE, Leniency.VALID)
        for match in phonenumbers.PhoneNumberMatcher(text, DEFAULT_REGION, leniency)
        if wanted(_e164(match.number))
    ]


def _within_runs(text: str, numbers: frozenset[str], nationals: list[str]) -> list[Span]:
    """In each digit run holding a national number of `numbers`, every stretch of whole
    digit groups that `phonenumbers` parses as one of them: what the matcher misses when
    the number touches other figures."""
    spans = []
    for run in DIGIT_RUN.finditer(text):
        if not any(n in digits_of(run.group()) for n in nationals):
            continue
        groups = list(DIGIT_GROUP.finditer(text, run.start(), run.end()))
        for i, first in enumerate(groups):
            start = first.start()
            if start > run.start() and text[start - 1] in "+(\uff08":
                start -= 1  # "+31 6 ...", "(06) ..."
            digits = 0
            for last in groups[i:]:
                digits += last.end() - last.start()
                if digits > MAX_NUMBER_DIGITS:
                    break
                try:
                    number = phonenumbers.parse(text[start : last.end()], DEFAULT_REGION)
                except phonenumbers.NumberParseException:
                    continue
                if _e164(number) in numbers:
                    spans.append((start, last.end()))
    return spans


def number_spans(
    text: str, wanted: Callable[[str], bool], known: frozenset[str] = frozenset()
) -> list[Span]:
    """Where `text` writes a phone number, in any notation, whose E.164 form is `wanted`
    (the `known` numbers also where they touch other figures): non-overlapping, longest
    first, in text order."""
    candidates = _matched(text, wanted)
    if known:
        candidates += _within_runs(text, known, [national_number(e) for e in known])
    chosen: list[Span] = []
    for start, end in sorted(set(candidates), key=lambda s: (s[0] - s[1], s[0])):
        if all(end <= a or start >= b for a, b in chosen):
            chosen.append((start, end))
    return sorted(chosen)


def _replace_spans(text: str, spans: list[Span], marker: str) -> str:
    for start, end in reversed(spans):
        text = text[:start] + marker + text[end:]
    return text


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
        other_phones: frozenset[str] = frozenset(),
    ) -> None:
        self.own_phones = own_phones
        self.other_phones = other_phones - own_phones
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

    def _other_number(self, e164: str) -> bool:
        if e164 in self.own_phones:
            return False
        return e164 in self.other_phones or phonenumbers.is_valid_number(phonenumbers.parse(e164))

    def _phones(self, text: str) -> str:
        spans = number_spans(text, self._other_number, self.other_phones)
        return _replace_spans(text, spans, REDACTED)

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
    phones: set[str] = set()
    others = await session.execute(
        select(
            ContactPerson.name, ContactPerson.email, ContactPerson.phone, ContactPerson.phone_e164
        ).where(ContactPerson.id.not_in([c.id for c in found.contact]))
    )
    forms = await session.execute(
        select(
            ContactFormSubmission.name,
            ContactFormSubmission.email,
            ContactFormSubmission.phone,
            ContactFormSubmission.phone_e164,
        ).where(ContactFormSubmission.id.not_in(own_forms))
    )
    for name, email, phone, e164 in [*others.all(), *forms.all()]:
        if name:
            names.add(name.strip())
        if email and email.strip().lower() not in found.own_emails:
            literals.add(email.strip())
        if phone:
            literals.add(phone.strip())
        if e164:
            phones.add(e164)
    own_literals = {c.phone.strip() for c in found.contact if c.phone}
    own_literals |= {f.phone.strip() for f in found.contact_form if f.phone}
    return Redactor(
        found.own_phones,
        found.own_emails,
        frozenset(own_names),
        names,
        literals - own_literals,
        frozenset(phones),
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
        """Lower-case fragments a text naming the person contains (the SQL prefilter): a
        name, an e-mail or a typed number."""
        names = {" ".join(n.split()) for n in self.name_list}
        return sorted({x.lower() for x in (*names, *self.emails, *self.literals)})

    def national_numbers(self) -> list[str]:
        """The digits every notation of one of their numbers holds together once the
        matcher's punctuation is removed (the SQL prefilter for numbers)."""
        return sorted(national_number(e164) for e164 in self.phones)

    def _email(self, match: re.Match[str]) -> str:
        return MENTION_ERASED if match.group(0).lower() in self.emails else match.group(0)

    def _phones(self, text: str) -> str:
        spans = number_spans(text, self.phones.__contains__, self.phones)
        return _replace_spans(text, spans, MENTION_ERASED)

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


def _digits(column: Any) -> ColumnElement[str]:
    """The column's text without the punctuation a number may be written with (storage.db
    gives SQLite PostgreSQL's translate())."""
    return func.translate(column, NUMBER_PUNCTUATION, "")


def _mentioning(
    model: Any, columns: tuple[str, ...], needles: list[str], numbers: list[str]
) -> ColumnElement[bool]:
    return or_(
        *(
            func.lower(getattr(model, column)).contains(needle, autoescape=True)
            for column in columns
            for needle in needles
        ),
        *(
            _digits(getattr(model, column)).contains(number, autoescape=True)
            for column in columns
            for number in numbers
        ),
    )


async def erase_mentions(session: AsyncSession, found: SubjectIndex) -> dict[str, list[int]]:
    """Replace the subject's identifiers in every other row that mentions them. The
    subject's own rows (the index) are left to the erasure: erased, anonymised, or kept
    under an evidence hold as they are. Returns the ids changed, by item type."""
    eraser = mention_eraser(found)
    needles, numbers = eraser.needles(), eraser.national_numbers()
    changed: dict[str, list[int]] = {}
    if not needles and not numbers:
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
            .where(_mentioning(model, columns, needles, numbers), model.id.not_in(theirs))
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
