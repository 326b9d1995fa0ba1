"""The admin's gettext catalog: every message the pages and admin code use has a Dutch
translation, the committed .mo files match their .po, and a page reads in the chosen
language, plurals included."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World, login
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from retention_helpers import hold, recording

from admin.i18n import DOMAIN, LANGUAGES, LOCALES_DIR, label, load_translations
from admin.labels import TABLES
from storage.models import StaffRole
from storage.objectstore import LocalObjectStore

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "L_": None,
    "LP_": ((1, "c"), 2),
}


def _po(lang: str):
    with open(LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def _used_messages() -> set[tuple[str | None, str]]:
    """(context, msgid) of every message in admin/*.py and the templates, as pybabel sees
    them with the project's babel.cfg."""
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT / "admin"), method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.add((context, msgid))
    return found


def test_every_used_message_has_a_dutch_translation() -> None:
    used = _used_messages()
    assert ("sweep run", "done") in used and (None, "Telephony (VoIP)") in used
    assert (None, "%(num)d day overdue") in used  # templates are read, plurals too
    dutch = _po("nl")
    missing = []
    for context, msgid in sorted(used, key=str):
        entry = dutch.get(msgid, context=context)
        strings = entry.string if entry is not None else ""
        forms = strings if isinstance(strings, tuple) else (strings,)
        if entry is None or entry.fuzzy or not all(forms):
            missing.append((context, msgid))
    assert missing == []


def test_compiled_catalogs_match_their_po() -> None:
    for lang in LANGUAGES:
        compiled = io.BytesIO()
        write_mo(compiled, _po(lang))
        committed = (LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo").read_bytes()
        hint = f"{lang}: run pybabel compile -d admin/locales -D admin"
        assert compiled.getvalue() == committed, hint


def test_every_label_is_translated() -> None:
    """The value tables (roles, events, actions...) are in the catalog in both languages."""
    dutch = _po("nl")
    for name, table in TABLES.items():
        for value, message in table.items():
            context, msgid = message if isinstance(message, tuple) else (None, message)
            entry = dutch.get(msgid, context=context)
            assert entry is not None and entry.string, (name, value)


async def test_page_in_dutch_and_english_with_plurals(world: World, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    clock = world.clock
    async with world.sessions() as s:
        rec_id = (await recording(s, store, clock.now() - timedelta(days=100))).id
        await s.commit()
    async with world.sessions() as s:
        await hold(s, store, clock, rec_id)  # an evidence hold: review after two years
        await s.commit()
    client = world.client
    clock.advance(timedelta(days=731, hours=1))
    await login(client, world.users[StaffRole.PRIVACY_OFFICER].username)

    async def page(lang: str) -> str:
        client.session.cookie_jar.update_cookies({"lang": lang})
        return await (await client.get("/retention/holds")).text()

    one_nl, one_en = await page("nl"), await page("en")
    assert "Blokkades ter beoordeling" in one_nl and "Bewijs van een afspraak" in one_nl
    assert "1 dag te laat" in one_nl and "Uitloggen" in one_nl
    assert "Holds due for review" in one_en and "Evidence of an agreement" in one_en
    assert "1 day overdue" in one_en and "Log out" in one_en
    assert ">evidence<" not in one_nl + one_en  # the kind in words, not its key

    clock.advance(timedelta(days=1))
    await login(client, world.users[StaffRole.PRIVACY_OFFICER].username)
    assert "2 dagen te laat" in await page("nl")
    assert "2 days overdue" in await page("en")


def test_roles_and_events_in_words() -> None:
    catalogs = load_translations()
    assert label(catalogs["nl"], "role", StaffRole.PRIVACY_OFFICER) == "Privacy officer"
    assert label(catalogs["nl"], "role", StaffRole.AGENT) == "Medewerker"
    assert label(catalogs["en"], "privacy_event", "id_copy_uploaded") == "ID copy uploaded"
    assert label(catalogs["nl"], "audit_action", "recording.tags") == "Labels van opname gewijzigd"
    assert label(catalogs["nl"], "run_status", "done") == "klaar"  # context: not "afgerond"
    assert label(catalogs["nl"], "privacy_status", "done") == "afgerond"
    assert label(catalogs["nl"], "audit_action", "some.future_action") == "some.future_action"
