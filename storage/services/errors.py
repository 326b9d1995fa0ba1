"""Service errors: each carries a stable code, an English message template and its parameters.

A raise names the refusal as an English template marked for extraction, plus named params:

    raise InvalidInput(N_("a hold needs a reason"))
    raise NotFound(N_("ticket {ticket_id} not found"), ticket_id=ticket_id)

- `exc.code` / `exc.status`: the class's stable code and HTTP status (the JSON API contract).
- `exc.message`: the template formatted with the params, in English. The JSON API (next to
  `code`), the CLIs and the logs use it.
- `exc.text(lang)`: the template translated by the "errors" gettext catalog of `lang`
  (storage/locales/{nl,en}/LC_MESSAGES/errors.po), then formatted: what a page shows.
- A parameter that is itself a word to translate (a field name, a hold kind) is marked too:
  `field=N_("customer_number")`; `text(lang)` translates it before formatting. Anything with a
  `text(lang)` method (a `Msgid` from N_, a `Message`, a `Joined` list) is translated that way.

Placeholders are `str.format` fields, named by the params (`{name!r}`, `{seconds:.0f}` work).
The template must be a literal `N_("...")` at the raise (never an f-string): the catalog is
keyed by it and tests/test_service_error_texts.py checks every raise against the catalogs.

After adding or changing a template, from the repository root:

    pybabel extract -F babel.cfg --no-default-keywords -k N_ --no-location --sort-output \
        --project supportdesk --version 0.1.0 --copyright-holder supportdesk \
        -o storage/locales/errors.pot storage recordings admin
    pybabel update -D errors -i storage/locales/errors.pot -d storage/locales
    (write the Dutch msgstr in storage/locales/nl/LC_MESSAGES/errors.po; en stays empty)
    pybabel compile -D errors -d storage/locales

and commit the .pot, .po and .mo files (CI does not compile).
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "errors"


@lru_cache(maxsize=8)
def translations(lang: str) -> gettext.NullTranslations:
    """The "errors" catalog of `lang`, loaded once; no catalog (e.g. "de"): English as written."""
    return gettext.translation(DOMAIN, LOCALES_DIR, languages=[lang], fallback=True)


@runtime_checkable
class Translatable(Protocol):
    """A parameter that renders itself in a language."""

    def text(self, lang: str) -> str: ...


class Msgid(str):
    """An English message id marked with N_: equal to its English text, translated by text()."""

    __slots__ = ()

    def text(self, lang: str) -> str:
        return translations(lang).gettext(self)


def N_(message: str) -> Msgid:
    """Marks an English template or word for extraction (pybabel -k N_)."""
    return Msgid(message)


def _render(template: str, params: Mapping[str, object], lang: str | None) -> str:
    """The template formatted with params: English as written (lang None), else translated."""
    if lang is None:
        return template.format_map(params)
    translated = {k: v.text(lang) if isinstance(v, Translatable) else v for k, v in params.items()}
    return translations(lang).gettext(template).format_map(translated)


class Message:
    """A translatable sub-text used as a parameter: an N_ template with its own params."""

    def __init__(self, template: str, /, **params: object) -> None:
        self.template = template
        self.params = params

    def text(self, lang: str) -> str:
        return _render(self.template, self.params, lang)

    def __str__(self) -> str:
        return _render(self.template, self.params, None)


class Joined:
    """Several parameters shown as one, each translated (e.g. the holds on a recording)."""

    def __init__(self, items: Iterable[object], separator: str = ", ") -> None:
        self.items = list(items)
        self.separator = separator

    def text(self, lang: str) -> str:
        return self.separator.join(
            i.text(lang) if isinstance(i, Translatable) else str(i) for i in self.items
        )

    def __str__(self) -> str:
        return self.separator.join(str(i) for i in self.items)


class ServiceError(Exception):
    code = "error"
    status = 400

    def __init__(self, template: str, /, **params: object) -> None:
        self.template = template
        self.params = params
        # Machine-readable facts for API clients (e.g. the id of what was saved anyway).
        self.details: dict[str, object] = {}
        self.message = _render(template, params, None)
        super().__init__(self.message)

    def text(self, lang: str) -> str:
        """The refusal in `lang` (the catalog's translation, formatted with the params)."""
        return _render(self.template, self.params, lang)


class NotFound(ServiceError):
    code = "not_found"
    status = 404


class Forbidden(ServiceError):
    """The actor's role may not do this (whichever edge asked: admin, API or CLI)."""

    code = "forbidden"
    status = 403


class InvalidInput(ServiceError):
    code = "invalid_input"
    status = 422


class Conflict(ServiceError):
    code = "conflict"
    status = 409


class TicketClosed(Conflict):
    code = "ticket_closed"


class ContactRestricted(Conflict):
    """The contact restricted processing (GDPR art. 18): no replies go to them."""

    code = "contact_restricted"


class StaleThread(Conflict):
    """A reply was written against an older version of the thread."""

    code = "stale_thread"
