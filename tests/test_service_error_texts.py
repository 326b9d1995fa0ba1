"""Service refusals: every ServiceError raise names an English template marked N_("...") plus
named params; the "errors" catalog (storage/locales) holds its Dutch (and English) text. The
admin pages show the refusal in the page's language, the JSON API the English message and code.

The raise check walks the source (AST), so a raise with an f-string, without a catalog entry or
with params that do not match the template's placeholders fails here with its file:line."""

from __future__ import annotations

import ast
import gettext
import importlib
import io
import pkgutil
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World, login
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from recordings.service import HOLD_ITEMS, HOLD_NAMES, RecordingHeld
from storage.models import HoldKind
from storage.services import access
from storage.services.audit import Actor
from storage.services.contact_form import FormInvalid
from storage.services.errors import (
    DOMAIN,
    LOCALES_DIR,
    N_,
    InvalidInput,
    Joined,
    Message,
    NotFound,
    ServiceError,
)

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("storage", "recordings", "admin", "bot")
EXTRACTED = ("storage", "recordings", "admin")  # the pybabel extract command's folders
LANGUAGES = ("nl", "en")


def _catalog(lang: str) -> Catalog:
    with (LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# --- the raise sites -------------------------------------------------------------------------


def _trees() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            yield str(path.relative_to(ROOT)), ast.parse(source, filename=str(path))


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def service_error_classes(trees: list[tuple[str, ast.Module]]) -> dict[str, bool]:
    """ServiceError and every class deriving from it, by the class definitions: name -> whether
    its constructor takes a template first (False: it builds its own, e.g. FormInvalid)."""
    bases: dict[str, set[str]] = {}
    takes_template: dict[str, bool] = {"ServiceError": True}
    for _, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {_base_name(b) for b in node.bases} - {None}
                bases.setdefault(node.name, set()).update(names)  # type: ignore[arg-type]
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        args = item.args.posonlyargs + item.args.args
                        takes_template[node.name] = len(args) > 1 and args[1].arg == "template"
    found = {"ServiceError"}
    while True:
        more = {name for name, parents in bases.items() if parents & found} - found
        if not more:
            break
        found |= more

    def inherits(name: str) -> bool:
        if name in takes_template:
            return takes_template[name]
        return next((inherits(p) for p in bases.get(name, ()) if p in found), True)

    return {name: inherits(name) for name in found}


@dataclass(frozen=True)
class Raise:
    where: str  # file:line
    cls: str
    template: str | None  # None: the message is not a literal N_("...")
    params: frozenset[str]


def _literal_n(node: ast.expr, constants: dict[str, str]) -> str | None:
    """The template of `N_("...")`, or of a module-level NAME = N_("...")."""
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if (
        isinstance(node, ast.Call)
        and _base_name(node.func) == "N_"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def raise_sites(source: str, filename: str, classes: dict[str, bool]) -> list[Raise]:
    """Each `raise X(...)` of a ServiceError class that takes a template, and each
    `super().__init__(...)` in a class that builds its own. `raise exc` / bare `raise`
    re-raise an existing error: nothing to check there."""
    tree = ast.parse(source, filename=filename)
    aliases = {name: name for name in classes}
    constants: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            template = _literal_n(node.value, {})
            if isinstance(target, ast.Name) and template is not None:
                constants[target.id] = template
    for node in ast.walk(tree):  # `from ... import InvalidInput as Bad` raises Bad(...)
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.asname and alias.name in classes:
                    aliases[alias.asname] = alias.name

    def site(call: ast.Call, cls: str) -> Raise:
        first = call.args[0] if call.args else None
        template = _literal_n(first, constants) if first is not None else None
        params = frozenset(k.arg for k in call.keywords if k.arg is not None)
        return Raise(f"{filename}:{call.lineno}", cls, template, params)

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            cls = aliases.get(_base_name(node.exc.func) or "")
            if cls is not None and classes[cls]:
                found.append(site(node.exc, cls))
        if isinstance(node, ast.ClassDef) and classes.get(node.name) is False:
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "__init__"
                ):
                    found.append(site(call, node.name))
    return found


def problems(sites: list[Raise], nl: Catalog, en: Catalog) -> list[str]:
    out = []
    for s in sites:
        if s.template is None:
            out.append(f'{s.where}: {s.cls}(...) needs a literal N_("...") template')
            continue
        dutch, english = nl.get(s.template), en.get(s.template)
        if dutch is None or not dutch.string or dutch.fuzzy:
            out.append(f"{s.where}: no Dutch text in the catalog for {s.template!r}")
        if english is None:
            out.append(f"{s.where}: no English entry in the catalog for {s.template!r}")
        if s.params != _fields(s.template):
            out.append(
                f"{s.where}: params {sorted(s.params)} do not match the placeholders "
                f"{sorted(_fields(s.template))} of {s.template!r}"
            )
    return out


def test_every_service_error_raise_has_a_template_with_texts_and_matching_params() -> None:
    trees = list(_trees())
    classes = service_error_classes(trees)
    sites = [
        site
        for name, _ in trees
        for site in raise_sites((ROOT / name).read_text(encoding="utf-8"), name, classes)
    ]
    assert len(sites) > 100  # the walk found the code (about 150 raise sites)
    found = problems(sites, _catalog("nl"), _catalog("en"))
    assert not found, "service error texts (see storage/services/errors.py):\n" + "\n".join(found)


def test_the_walk_knows_every_service_error_class() -> None:
    """The AST's class list against the real one: every module imported, subclasses walked."""
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if not info.name.startswith("storage.migrations"):  # alembic scripts, not code
                importlib.import_module(info.name)
    real: set[str] = set()
    todo = [ServiceError]
    while todo:
        cls = todo.pop()
        if cls.__module__.split(".")[0] in PACKAGES:
            real.add(cls.__name__)
        todo += cls.__subclasses__()
    found = service_error_classes(list(_trees()))
    assert {"AudioError", "RecordingHeld", "FormInvalid", "UploadTooLarge"} <= real
    assert real <= set(found)
    assert found["RecordingHeld"] and found["UploadTooLarge"] and not found["FormInvalid"]


def test_the_check_flags_bad_raises() -> None:
    source = (
        "from storage.services.errors import N_, InvalidInput as Bad, NotFound\n"
        "GONE = N_('gone')\n"
        "def f(exc, n):\n"
        "    raise NotFound(N_('ticket {n} not found'), n=n)\n"
        "    raise NotFound(GONE)\n"
        "    raise Bad('no')\n"
        "    raise NotFound(f'ticket {n} not found')\n"
        "    raise Bad(N_('not in the catalog'))\n"
        "    raise NotFound(N_('ticket {n} not found'), ticket=n)\n"
        "    raise exc\n"
        "    raise\n"
        "    raise ValueError('not a service error')\n"
    )
    nl, en = Catalog(locale="nl"), Catalog(locale="en")
    for msgid, dutch in (("gone", "weg"), ("ticket {n} not found", "ticket {n} niet gevonden")):
        nl.add(msgid, dutch)
        en.add(msgid, "")
    classes = {"ServiceError": True, "InvalidInput": True, "NotFound": True}
    flagged = problems(raise_sites(source, "x.py", classes), nl, en)
    assert sorted(flagged) == [
        "x.py:6: InvalidInput(...) needs a literal N_(\"...\") template",
        "x.py:7: NotFound(...) needs a literal N_(\"...\") template",
        "x.py:8: no Dutch text in the catalog for 'not in the catalog'",
        "x.py:8: no English entry in the catalog for 'not in the catalog'",
        "x.py:9: params ['ticket'] do not match the placeholders ['n'] of "
        "'ticket {n} not found'",
    ]


# --- the catalogs ----------------------------------------------------------------------------


def _marked() -> set[str]:
    """Every N_("...") in the extracted packages: templates and translated words alike."""
    return {
        message
        for package in EXTRACTED
        for _, _, message, _, _ in extract_from_dir(
            ROOT / package, method_map=[("**.py", "python")], keywords={"N_": None}
        )
    }


def test_the_catalogs_hold_every_marked_text_and_nothing_else() -> None:
    marked = _marked()
    for lang in LANGUAGES:
        catalog = _catalog(lang)
        ids = {m.id for m in catalog if m.id}
        assert ids == marked, f"{lang}: run the pybabel extract/update of storage/services/errors"
        for message in catalog:
            if message.id and message.string:  # en may leave it empty: English as written
                assert _fields(message.string) <= _fields(message.id), (lang, message.id)
    assert all(_catalog("nl").get(m).string for m in marked)  # type: ignore[union-attr]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_committed_mo_is_compiled_from_the_po(lang: str) -> None:
    catalog = _catalog(lang)
    fresh = io.BytesIO()
    write_mo(fresh, catalog)
    fresh.seek(0)
    expected = gettext.GNUTranslations(fresh)
    with (LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as fh:
        committed = gettext.GNUTranslations(fh)
    for message in catalog:
        if message.id:
            assert committed.gettext(message.id) == expected.gettext(message.id), (
                "run: pybabel compile -D errors -d storage/locales"
            )


# --- the error itself ------------------------------------------------------------------------


def test_text_is_the_catalog_translation_formatted_with_the_params() -> None:
    refused = InvalidInput(N_("a hold needs a reason"))
    assert refused.message == str(refused) == "a hold needs a reason" == refused.text("en")
    assert refused.text("nl") == "een blokkade heeft een reden nodig"
    assert refused.text("de") == "a hold needs a reason"  # no catalog: English as written
    assert (refused.code, refused.status) == ("invalid_input", 422)
    missing = NotFound(N_("ticket {ticket_id} not found"), ticket_id=7)
    assert (missing.template, missing.params) == ("ticket {ticket_id} not found", {"ticket_id": 7})
    assert missing.message == "ticket 7 not found" and missing.code == "not_found"
    assert missing.text("nl") == "ticket 7 niet gevonden"
    # A word as a parameter (a field name) is translated too; a plain value is not.
    field = InvalidInput(N_("{field}: required"), field=N_("customer_number"))
    assert field.message == "customer_number: required"
    assert field.text("nl") == "klantnummer: verplicht"
    plain = InvalidInput(N_("{field}: required"), field="customer_number")
    assert plain.text("nl") == "customer_number: verplicht"


def test_subclasses_with_their_own_arguments_translate_too() -> None:
    holds = Joined(
        Message(HOLD_ITEMS[kind], hold_id=n, reason="klacht {x}")
        for n, kind in enumerate((HoldKind.TRAINING, HoldKind.EVIDENCE), 1)
    )
    held = RecordingHeld(
        N_("recording {recording_id} is held and cannot be deleted: {holds}"),
        [],
        recording_id=4,
        holds=holds,
    )
    assert held.message == (
        "recording 4 is held and cannot be deleted: "
        "training hold 1 (klacht {x}), evidence hold 2 (klacht {x})"
    )
    assert held.text("nl") == (
        "opname 4 wordt vastgehouden en kan niet worden verwijderd: "
        "trainingsblokkade 1 (klacht {x}), bewijsblokkade 2 (klacht {x})"
    )
    assert held.holds == [] and held.code == "recording_held"
    assert HOLD_NAMES[HoldKind.EVIDENCE].text("nl") == "een bewijsblokkade"
    form = FormInvalid({"name": "field_required", "phone": "field_phone"})
    assert form.message == form.text("en") == "name: field_required; phone: field_phone"
    assert form.text("nl") == "naam: verplicht; telefoon: geen geldig telefoonnummer"
    assert form.errors == {"name": "field_required", "phone": "field_phone"}


# --- the pages and the API -------------------------------------------------------------------


@pytest.mark.storage
async def test_a_refusal_on_a_page_is_dutch_by_default_and_english_with_the_cookie(
    world: World,
) -> None:
    client = world.client
    csrf = await login(client, "agent")

    async def refusals() -> tuple[str, str]:
        # A hold without a reason: refused by the service, shown on the error page.
        hold = await client.post(
            "/recordings/1/holds", data={"csrf_token": csrf, "kind": "training", "reason": " "}
        )
        assert hold.status == 422
        # An organisation without a name: the form is shown again with the reason.
        form = await client.post(
            "/organisations", data={"csrf_token": csrf, "name": "", "customer_number": "K-1"}
        )
        assert form.status == 422
        return await hold.text(), await form.text()

    hold_nl, form_nl = await refusals()
    assert "een blokkade heeft een reden nodig" in hold_nl
    assert "a hold needs a reason" not in hold_nl
    assert "naam: verplicht" in form_nl and "name: required" not in form_nl

    client.session.cookie_jar.update_cookies({"lang": "en"})
    hold_en, form_en = await refusals()
    assert "a hold needs a reason" in hold_en and "blokkade" not in hold_en
    assert "name: required" in form_en and "verplicht" not in form_en


@pytest.mark.storage
async def test_the_api_keeps_the_english_message_and_code(world: World) -> None:
    async with world.sessions() as session:
        _, token = await access.create_api_token(
            session, world.clock, username="agent", name="t", actor=Actor.system()
        )
        await session.commit()
    world.client.session.cookie_jar.update_cookies({"lang": "nl"})
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "nl-NL"}
    response = await world.client.post(
        "/api/v1/organisations", json={"name": "", "customer_number": "K-1"}, headers=headers
    )
    assert response.status == 422
    assert (await response.json())["error"] == {
        "code": "invalid_input",
        "message": "name: required",
    }
    missing = await world.client.get("/api/v1/tickets/999999", headers=headers)
    assert missing.status == 404
    assert (await missing.json())["error"] == {
        "code": "not_found",
        "message": "ticket 999999 not found",
    }
