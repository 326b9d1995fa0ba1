"""The admin's texts: one gettext domain ("admin", Babel catalogs in admin/locales), Dutch by
default. Message ids are the English texts. Pages get the request's translations in their
context (`texts`); the Jinja i18n callables read them from there, so one shared environment
serves concurrent requests in different languages. After changing texts, see README
(Translations)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jinja2
from aiohttp import web
from babel.support import Translations

from admin.keys import LANG, TRANSLATIONS
from admin.labels import TABLES

LANGUAGES = ("nl", "en")
DEFAULT = "nl"
DOMAIN = "admin"
LOCALES_DIR = Path(__file__).parent / "locales"


def load_translations() -> dict[str, Translations]:
    """Every language's compiled catalog, read once when the app is built."""
    return {
        lang: Translations.load(str(LOCALES_DIR), [lang], domain=DOMAIN) for lang in LANGUAGES
    }


def texts(request: web.Request) -> Translations:
    """The translations of the request's language (Dutch when none was picked yet)."""
    catalogs = request.config_dict[TRANSLATIONS]
    return catalogs.get(request.get(LANG) or DEFAULT) or catalogs[DEFAULT]


def label(translations: Translations, table: str, value: object) -> str:
    """A stored value or code in words (admin.labels); an unknown value as stored."""
    raw = getattr(value, "value", value)
    message = TABLES[table].get(str(raw))
    if message is None:
        return str(raw)
    if isinstance(message, tuple):
        return translations.pgettext(*message)
    return translations.gettext(message)


def pick_language(cookie: str | None, accept_language: str) -> str:
    if cookie in LANGUAGES:
        return cookie  # type: ignore[return-value]
    first = accept_language.split(",", 1)[0].strip().lower()
    return "en" if first.startswith("en") else DEFAULT


# Jinja: `_`, gettext, ngettext, pgettext, npgettext and `label` read the translations from
# the template context (set per render by admin.middleware.template_context).


def _of(context: Mapping[str, object]) -> Translations:
    return context["texts"]  # type: ignore[return-value]


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    return _of(context).gettext(message)


@jinja2.pass_context
def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    return _of(context).ngettext(singular, plural, n)


@jinja2.pass_context
def _pgettext(context: jinja2.runtime.Context, ctx: str, message: str) -> str:
    return _of(context).pgettext(ctx, message)


@jinja2.pass_context
def _npgettext(
    context: jinja2.runtime.Context, ctx: str, singular: str, plural: str, n: int
) -> str:
    return _of(context).npgettext(ctx, singular, plural, n)


@jinja2.pass_context
def _label(context: jinja2.runtime.Context, table: str, value: object) -> str:
    return label(_of(context), table, value)


def install(env: jinja2.Environment) -> None:
    """The i18n extension's callables (new style: autoescaped, `%(name)s` placeholders)."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext
    )
    env.globals["label"] = _label
