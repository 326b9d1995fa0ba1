"""One direction of imports: storage <- recordings <- bot <- admin. A lower package reaches a
higher one only through a Protocol the composition root fills (e.g. the sweeper and the
erasure request get the recording vault through storage/services/recording_port.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ("storage", "recordings", "bot", "admin")
# CLI code still waiting to move to admin/cli/ (the composition root).


def imported_packages(path: Path) -> set[str]:
    """Top-level packages imported anywhere in the file (function-level imports too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def upward_imports(package: str) -> list[str]:
    higher = set(ORDER[ORDER.index(package) + 1 :])
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if up := imported_packages(path) & higher:
            wrong.append(f"{name} imports {sorted(up)}")
    return wrong


def test_storage_imports_no_higher_package() -> None:
    assert upward_imports("storage") == []


def test_recordings_imports_neither_bot_nor_admin() -> None:
    assert upward_imports("recordings") == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from recordings.service import RecordingService\n")
    assert imported_packages(module) == {"recordings"}
