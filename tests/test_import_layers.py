"""The import rules, read from the source with `ast`: one direction between the packages
(storage <- recordings <- bot <- admin), no import inside a function body (an
`if TYPE_CHECKING:` block is fine) and no circle between modules. Failures name file:line."""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("storage", "recordings", "bot", "admin")  # each may import only those before it
RANK = {package: rank for rank, package in enumerate(LAYERS)}


def _sources() -> Iterator[tuple[str, Path]]:
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield _module_name(path), path


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _where(path: Path, node: ast.stmt) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The full names an import statement reaches, relative imports resolved; for
    `from pkg import name` both pkg and pkg.name (the latter may be a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if path.name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _walk(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Every import with (inside a function, under `if TYPE_CHECKING:`)."""

    def visit(
        node: ast.AST, in_function: bool, typing_only: bool
    ) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, in_function, typing_only
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from visit(child, True, typing_only)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.body:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), in_function, True)
                for stmt in child.orelse:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), in_function, False)
            else:
                yield from visit(child, in_function, typing_only)

    yield from visit(tree, False, False)


def _scan() -> tuple[list[str], list[str], dict[str, dict[str, str]]]:
    """(layer violations, function-level imports, module graph: module -> {target: where})."""
    modules = dict(_sources())
    against_layers: list[str] = []
    in_functions: list[str] = []
    graph: dict[str, dict[str, str]] = {name: {} for name in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        own = RANK[module.split(".")[0]]
        for node, in_function, typing_only in _walk(tree):
            where = _where(path, node)
            if in_function and not typing_only:
                in_functions.append(where)
            targets = _imported(module, path, node)
            # `from x import a, b` names x once; `import x, y` names each.
            named = targets[:1] if isinstance(node, ast.ImportFrom) else targets
            for target in named:
                top = target.split(".")[0]
                if top in RANK and RANK[top] > own and not typing_only:
                    against_layers.append(f"{where}: {module} imports {target}")
            for target in targets:
                if target in modules and target != module and not (in_function or typing_only):
                    graph[module].setdefault(target, where)
    return against_layers, in_functions, graph


def _cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_one_cycle(graph, set(component)) for component in components]


def _one_cycle(graph: dict[str, dict[str, str]], members: set[str]) -> list[str]:
    """A path start -> ... -> start inside one strongly connected component."""
    start = min(members)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node]):
            if target == start:
                return paths[node] + [start]
            if target in members and target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def _describe(graph: dict[str, dict[str, str]], cycle: list[str]) -> str:
    steps = [f"{a} -> {b} ({graph[a][b]})" for a, b in itertools.pairwise(cycle)]
    return "; ".join(steps)


def test_imports_follow_the_layers() -> None:
    against_layers, _, _ = _scan()
    assert not against_layers, "imports against storage <- recordings <- bot <- admin:\n" + (
        "\n".join(against_layers)
    )


def test_no_import_inside_a_function() -> None:
    _, in_functions, _ = _scan()
    assert not in_functions, "imports inside a function body:\n" + "\n".join(in_functions)


def test_no_module_imports_itself_in_a_circle() -> None:
    _, _, graph = _scan()
    cycles = [_describe(graph, cycle) for cycle in _cycles(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checks_catch_what_they_promise() -> None:
    """The walker itself: a function-level import and a TYPE_CHECKING import are told apart,
    and a two-module circle is found."""
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import admin.app\n"
        "def f():\n    import bot.runtime\n"
    )
    found = [(node.lineno, inside, typing_only) for node, inside, typing_only in _walk(tree)]
    assert found == [(1, False, False), (3, False, True), (5, True, False)]
    graph = {"a": {"b": "a.py:1"}, "b": {"c": "b.py:1"}, "c": {"a": "c.py:1"}, "d": {}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
