"""The bot's Babel catalogs: complete in both languages, placeholders intact, and the
committed .mo files compiled from the current .po files."""

from __future__ import annotations

import gettext
import io
import string

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.texts import LANGUAGES, LOCALES_DIR, MESSAGES


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_translates_every_message_with_the_same_placeholders(language: str) -> None:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)
    for key, msgid in MESSAGES.items():
        entry = catalog.get(msgid)
        assert entry is not None and entry.string, f"{language}: {key} untranslated"
        assert not entry.fuzzy, f"{language}: {key} is fuzzy"
        assert _fields(entry.string) == _fields(msgid), f"{language}: {key} placeholders"
    stale = {m.id for m in catalog if m.id} - set(MESSAGES.values())
    assert stale == set(), "catalog has messages the code no longer uses"


@pytest.mark.parametrize("language", LANGUAGES)
def test_committed_mo_is_compiled_from_the_po(language: str) -> None:
    folder = LOCALES_DIR / language / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)
    fresh = io.BytesIO()
    write_mo(fresh, catalog)
    fresh.seek(0)
    with (folder / "messages.mo").open("rb") as fh:
        committed = gettext.GNUTranslations(fh)
    expected = gettext.GNUTranslations(fresh)
    assert committed._catalog == expected._catalog, "run: pybabel compile -d bot/locales"  # type: ignore[attr-defined]


def test_every_marked_message_is_in_the_catalog_source() -> None:
    marked = {
        message
        for _, _, message, _, _ in extract_from_dir(
            LOCALES_DIR.parent, method_map=[("**.py", "python")], keywords={"N_": None}
        )
    }
    assert marked == set(MESSAGES.values())


def test_dutch_and_english_differ_where_the_language_does() -> None:
    translations = {}
    for language in LANGUAGES:
        with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
            translations[language] = gettext.GNUTranslations(fh)
    start = MESSAGES["start"]
    assert "privacyverklaring" in translations["nl"].gettext(start)
    assert "privacy statement" in translations["en"].gettext(start)
