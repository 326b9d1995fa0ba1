"""Phone numbers in free text, in any notation people write them (groups, pairs, "+31 (0)6",
"0031", brackets), compared by E.164: the erasure replaces the erased subject's mentions in
other people's texts, and an export redacts other people's numbers but not the subject's
own. The SQL prefilter that picks the rows to read finds every notation too."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import StaffUser, TicketMessage
from storage.phones import normalise_phone
from storage.services.privacy_erasure import erase_request
from storage.services.redaction import (
    MENTION_ERASED,
    REDACTED,
    MentionEraser,
    Redactor,
    digits_of,
    national_number,
)
from storage.services.tickets import TicketService
from tests.privacy_fixtures import OTHER, STAFF, PrivacyWorld, pworld

__all__ = ["pworld"]

E164 = "+31655556666"
NOTATIONS = (
    "06 55 55 66 66",
    "06-55 55 66 66",
    "+31 6 55 55 66 66",
    "+31 6 5555 6666",
    "+31 (0)6 5555 6666",
    "0031655556666",
    "0031 6 55 55 66 66",
    "(06) 5555-6666",
    "(06) 55556666",
    "06.55.55.66.66",
    "06-55556666",
    "0655556666",
    "+31655556666",
    "06\u00a055\u00a055\u00a066\u00a066",  # no-break spaces, as pasted from a mail client
    "06\u20135555\u20136666",  # en dashes
)
# Where a number touches other figures the matcher takes them together.
CONTEXTS = (
    "Bel {} even terug.",
    "{}",
    "(tel. {})",
    "nummer: {}, na 17:00",
    "ref 2026 {} graag",
    "op 12-03-2026 belde {} 3x",
    "1 {}",
)


def _eraser() -> MentionEraser:
    return MentionEraser(
        {"Wilhelmina Zonderland"}, frozenset({"w@z.example"}), {"06-5555 6666"}, frozenset({E164})
    )


@pytest.mark.parametrize("notation", NOTATIONS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_the_subjects_number_is_erased_in_every_notation(notation: str, context: str) -> None:
    erased = _eraser().text(context.format(notation))
    assert erased == context.format(MENTION_ERASED)


@pytest.mark.parametrize(
    "text",
    [
        "Bel 06 55 55 66 67 even terug.",  # one digit off
        "Belde vanaf 010 123 45 67.",
        "Factuur 20261127, bedrag 55,66, kvk 55556666.",  # their digits, not their number
        "op 12-03-2026 om 14:30",
        "IBAN NL91 ABNA 0417 1643 00",
        "06 55 55 66",  # too short to be anybody's number
    ],
)
def test_other_figures_are_left_alone(text: str) -> None:
    assert _eraser().text(text) == text


@pytest.mark.parametrize("notation", NOTATIONS)
def test_the_prefilter_sees_the_national_number_in_every_notation(notation: str) -> None:
    assert national_number(E164) == "655556666"
    assert "655556666" in digits_of(f"Bel {notation} even terug.")


def _redactor(other_phones: frozenset[str] = frozenset()) -> Redactor:
    return Redactor(
        frozenset({E164}), frozenset(), frozenset(), set(), set(), other_phones=other_phones
    )


@pytest.mark.parametrize("notation", NOTATIONS)
def test_an_export_keeps_the_subjects_own_number_in_every_notation(notation: str) -> None:
    text = f"Mijn nummer is {notation}."
    assert _redactor().text(text) == text


@pytest.mark.parametrize(
    "other", ["06 12 34 56 78", "06-12 34 56 78", "+31 6 12 34 56 78", "(06) 1234-5678"]
)
def test_an_export_redacts_other_peoples_numbers_in_pairs(other: str) -> None:
    text = f"Mijn nummer is 06 55 55 66 66, dat van mijn collega {other}."
    assert _redactor().text(text) == (
        f"Mijn nummer is 06 55 55 66 66, dat van mijn collega {REDACTED}."
    )


def test_an_export_redacts_a_known_others_number_even_where_it_is_no_valid_number() -> None:
    # "06 00 00 00 00" is a possible Dutch number but no valid one: only a known other's
    # number is taken, also when it touches other figures.
    text = "Collega: 06 00 00 00 00, ref 2026 06 00 00 00 00"
    assert _redactor().text(text) == text
    known = frozenset({normalise_phone("0600000000") or ""})
    assert _redactor(known).text(text) == f"Collega: {REDACTED}, ref 2026 {REDACTED}"


# --- in the database: the erasure's prefilter and rewrite ------------------------------

SUBJECT_PAIRS = (  # SUBJECT.phone is "+31 6 1234 5678"
    "06 12 34 56 78",
    "06-12 34 56 78",
    "+31 6 12 34 56 78",
    "0031 6 12 34 56 78",
    "(06) 1234-5678",
    "06.12.34.56.78",
)


@pytest.mark.storage
async def test_erasure_finds_the_subjects_number_in_pairs_in_other_peoples_notes(
    pworld: PrivacyWorld,
) -> None:
    tickets = TicketService(pworld.clock)
    async with pworld.sessions() as s:
        staff = await s.get(StaffUser, pworld.staff_id)
        assert staff is not None
        notes = {}
        for notation in SUBJECT_PAIRS:
            note = await tickets.add_internal_note(
                s, OTHER.ticket_ids[0], staff=staff, text=f"Buurvrouw belde ook, {notation}."
            )
            notes[note.id] = notation
        unrelated = await tickets.add_internal_note(
            s, OTHER.ticket_ids[0], staff=staff, text="Klant belt terug op 06 12 34 56 79."
        )
        await pworld.privacy.verify_identity(s, pworld.request_id, actor=STAFF)
        await s.commit()

        result = await erase_request(
            pworld.privacy, pworld.recordings, s, pworld.request_id, actor=STAFF
        )
        await s.commit()

        texts = dict((await s.execute(select(TicketMessage.id, TicketMessage.text))).all())
    for note_id in notes:
        assert texts[note_id] == f"Buurvrouw belde ook, {MENTION_ERASED}."
    assert texts[unrelated.id] == "Klant belt terug op 06 12 34 56 79."
    anonymised = {i.id for i in result.items if i.type == "message" and i.outcome == "anonymised"}
    assert set(notes) <= anonymised
    assert unrelated.id not in anonymised
