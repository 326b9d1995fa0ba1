"""Phone numbers by the book: one normal form (E.164, "+31655556666") for every number we
compare, parsed by the `phonenumbers` library with the Netherlands as the default region.

Every table that holds a number a person can be found by keeps two columns: the number as
typed (shown on pages and in exports) and its E.164 form (indexed, compared by equality).
Write paths fill both through `normalise_phone`; filters and the privacy desk normalise
their input the same way, so "06-5555 6666", "+31 6 5555 6666", "0031655556666" and
"(06) 55556666" are one number.

What happens to text that is not a possible number depends on where it comes from:
- a form that asks a person for their number (contacts in the admin/API, the public
  contact form) refuses it with a clear error and stores nothing;
- a number from an outside system (a PBX's caller or callee field, a recording upload, a
  contact shared in Telegram) is kept as typed with no E.164 form: withheld or anonymous
  callers ("anonymous", "Restricted"), internal extensions ("201") and short codes are
  real values there, but identify nobody, so no person's search finds them.
"""

from __future__ import annotations

import re

import phonenumbers

DEFAULT_REGION = "NL"
# E.164 allows 15 digits after the "+".
E164_LENGTH = 16
# A lookup while typing searches by a number's start once this many digits are typed.
PREFIX_MIN_DIGITS = 4
_TYPED_NUMBER = re.compile(r"\+?[\d\s().\-/]+")


def normalise_phone(text: str | None, region: str = DEFAULT_REGION) -> str | None:
    """`text` in E.164, or None when it is empty or not a possible phone number. A national
    number ("06...") is read in `region`; an extension ("x12") is not part of the number."""
    if not text or not text.strip():
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_international(text: str | None) -> str | None:
    """A number that is international by definition (Telegram gives a shared contact's
    number as "31612345678", without the "+"): E.164, or None as `normalise_phone`."""
    if not text or not text.strip():
        return None
    stripped = text.strip()
    return normalise_phone(stripped if stripped.startswith("+") else "+" + stripped)


def e164_prefix(text: str | None, region: str = DEFAULT_REGION) -> str | None:
    """The start of the E.164 form of a number being typed ("06 12 34" -> "+3161234"), for
    a lookup that matches stored E.164 numbers by their start (a complete number is
    normalised whole). None when `text` is no start of a phone number: too few
    digits, or no "+", "00" or trunk "0" to say which country it is in."""
    if not text or not _TYPED_NUMBER.fullmatch(text.strip()):
        return None
    typed = text.strip().replace("(0)", "")  # "+31 (0)6 ...": the trunk 0 in brackets
    digits = re.sub(r"\D", "", typed)
    if len(digits) < PREFIX_MIN_DIGITS or not (typed.startswith("+") or digits[0] == "0"):
        return None
    complete = normalise_phone(text, region)
    if complete is not None:
        return complete
    if typed.startswith("+"):
        prefix = "+" + digits
    elif digits.startswith("00"):
        prefix = "+" + digits[2:]
    elif digits.startswith("0"):
        prefix = f"+{phonenumbers.country_code_for_region(region)}{digits[1:]}"
    else:
        return None
    return prefix[:E164_LENGTH]
