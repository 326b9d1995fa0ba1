"""storage/phones.py: one E.164 form for every notation of a number, None for text that
is no phone number (withheld callers, extensions, words)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.phones import normalise_international, normalise_phone

TYPED_MOBILE = (
    "0655556666",
    "06-5555 6666",
    "+31 6 5555 6666",
    "0031655556666",
    "(06) 55556666",
    "06.55.55.66.66",
    "+31 (0)6 5555 6666",
    " 06 5555 6666 ",
)


@pytest.mark.parametrize("typed", TYPED_MOBILE)
def test_every_notation_of_a_dutch_number_is_one_e164(typed: str) -> None:
    assert normalise_phone(typed) == "+31655556666"


def test_foreign_numbers_keep_their_country() -> None:
    assert normalise_phone("+32 475 12 34 56") == "+32475123456"
    assert normalise_phone("0032475123456") == "+32475123456"
    assert normalise_phone("0475 12 34 56", region="BE") == "+32475123456"


@pytest.mark.parametrize(
    "text", [None, "", "   ", "anonymous", "Restricted", "call me maybe", "201", "06 12", "(-)"]
)
def test_no_phone_number_is_none(text: str | None) -> None:
    assert normalise_phone(text) is None


def test_telegram_numbers_are_international() -> None:
    assert normalise_international("31612345678") == "+31612345678"
    assert normalise_international("+31 6 1234 5678") == "+31612345678"
    assert normalise_international("1234") is None and normalise_international("") is None


# NL numbers by kind: the area/mobile prefix after the 0, and how many digits follow.
_NL_PREFIXES = st.sampled_from(["6", "20", "10", "70", "30", "40", "50", "115", "513", "85"])
_SEPARATORS = st.sampled_from(["", " ", "-", ".", "  "])


@st.composite
def dutch_number(draw: st.DrawFn) -> tuple[str, str]:
    """(the national significant number, one way to type it)."""
    prefix = draw(_NL_PREFIXES)
    rest = draw(st.text(alphabet="0123456789", min_size=9 - len(prefix), max_size=9 - len(prefix)))
    national = prefix + rest
    sep = draw(_SEPARATORS)
    split = draw(st.integers(min_value=1, max_value=len(national) - 1))
    body = national[:split] + sep + national[split:]
    style = draw(st.sampled_from(["0{}", "+31 {}", "0031{}", "+31 (0){}", "(0{})", "+31{}"]))
    if style == "(0{})":
        typed = f"(0{national[:split]}){sep or ' '}{national[split:]}"
    else:
        typed = style.format(body)
    return national, typed


@given(dutch_number())
def test_notations_of_generated_dutch_numbers_normalise_equal(number: tuple[str, str]) -> None:
    national, typed = number
    assert normalise_phone(typed) == normalise_phone("0" + national) == "+31" + national


@given(st.one_of(st.text(max_size=40), dutch_number().map(lambda n: n[1])))
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise_phone(text)
    if once is not None:
        assert once.startswith("+") and once[1:].isdigit()
        assert normalise_phone(once) == once
