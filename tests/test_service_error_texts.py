"""Service refusals speak the page's language: every ServiceError raise carries a Dutch text
(`nl=`), the admin pages show it to a Dutch agent and the English one with the `en` cookie;
the JSON API keeps the English message and its stable code."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import World, login

from recordings.service import RecordingHeld
from storage.services import access
from storage.services.audit import Actor
from storage.services.contact_form import FormInvalid
from storage.services.errors import InvalidInput, NotFound, ServiceError

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("storage", "recordings", "admin", "bot")


# --- the raise sites -------------------------------------------------------------------------


def _trees() -> Iterator[tuple[Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def service_error_classes(trees: list[tuple[Path, ast.Module]]) -> set[str]:
    """ServiceError and every class that derives from it, by the class definitions."""
    bases: dict[str, set[str]] = {}
    for _, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {_base_name(b) for b in node.bases} - {None}
                bases.setdefault(node.name, set()).update(names)  # type: ignore[arg-type]
    found = {"ServiceError"}
    while True:
        more = {name for name, parents in bases.items() if parents & found} - found
        if not more:
            return found
        found |= more


def raises_without_dutch(source: str, filename: str, classes: set[str]) -> list[str]:
    """file:line of each `raise X(...)` of a ServiceError class without an `nl=` keyword.
    `raise exc` and a bare `raise` re-raise an existing error: nothing to check there."""
    tree = ast.parse(source, filename=filename)
    aliases = dict.fromkeys(classes, "")
    for node in ast.walk(tree):  # `from ... import InvalidInput as Bad` raises Bad(...)
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.asname and alias.name in classes:
                    aliases[alias.asname] = ""
    missing = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
            continue
        name = _base_name(node.exc.func)
        if name in aliases and not any(k.arg == "nl" for k in node.exc.keywords):
            missing.append(f"{filename}:{node.lineno}: raise {name}(...) has no nl= text")
    return missing


def test_every_service_error_raise_has_a_dutch_text() -> None:
    trees = list(_trees())
    classes = service_error_classes(trees)
    missing: list[str] = []
    raises = 0
    for path, tree in trees:
        name = str(path.relative_to(ROOT))
        source = path.read_text(encoding="utf-8")
        missing += raises_without_dutch(source, name, classes)
        raises += sum(
            isinstance(n, ast.Raise)
            and isinstance(n.exc, ast.Call)
            and _base_name(n.exc.func) in classes
            for n in ast.walk(tree)
        )
    assert raises > 100  # the walk found the code (about 150 raise sites)
    assert not missing, "a ServiceError needs its Dutch text (nl=...):\n" + "\n".join(missing)


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
    assert real <= found


def test_the_check_flags_a_raise_without_dutch() -> None:
    source = (
        "from storage.services.errors import InvalidInput as Bad, NotFound\n"
        "def f(exc):\n"
        "    raise NotFound('gone', nl='weg')\n"
        "    raise Bad('no')\n"
        "    raise NotFound(f'ticket {1} not found')\n"
        "    raise exc\n"
        "    raise\n"
        "    raise ValueError('not a service error')\n"
    )
    flagged = raises_without_dutch(source, "x.py", {"ServiceError", "InvalidInput", "NotFound"})
    assert flagged == [
        "x.py:4: raise Bad(...) has no nl= text",
        "x.py:5: raise NotFound(...) has no nl= text",
    ]


# --- the error itself ------------------------------------------------------------------------


def test_text_is_dutch_for_nl_when_given_and_english_otherwise() -> None:
    refused = InvalidInput("reason is required", nl="een reden is verplicht")
    assert (refused.message, refused.message_nl) == ("reason is required", "een reden is verplicht")
    assert refused.text("nl") == "een reden is verplicht"
    assert refused.text("en") == "reason is required" == str(refused)
    assert refused.text("de") == "reason is required"  # no Dutch asked: English
    assert (refused.code, refused.status) == ("invalid_input", 422)
    plain = NotFound("ticket 7 not found")
    assert plain.message_nl is None and plain.text("nl") == "ticket 7 not found"
    # Subclasses with their own signature pass the Dutch text on.
    held = RecordingHeld("recording 1 is held", [], nl="opname 1 wordt vastgehouden")
    assert held.text("nl") == "opname 1 wordt vastgehouden" and held.holds == []
    form = FormInvalid({"name": "field_required"}, nl="naam: verplicht")
    assert form.text("en") == "name: field_required" and form.text("nl") == "naam: verplicht"


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
    response = await world.client.post(
        "/api/v1/organisations",
        json={"name": "", "customer_number": "K-1"},
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "nl-NL"},
    )
    assert response.status == 422
    assert (await response.json())["error"] == {
        "code": "invalid_input",
        "message": "name: required",
    }
