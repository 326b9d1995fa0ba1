"""History lives in git: no tracker issue numbers in code, templates or migrations."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "recordings", "storage", "admin", "bench", "tests")
SUFFIXES = {".py", ".html", ".js", ".css", ".mako"}
ISSUE = re.compile(r"\bissues? #?\d+\b", re.IGNORECASE)


def test_no_issue_numbers_in_the_code() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*"))
        if path.suffix in SUFFIXES and path.name != Path(__file__).name
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ISSUE.search(line)
    ]
    assert found == [], "issue numbers (history belongs in git):\n" + "\n".join(found)
