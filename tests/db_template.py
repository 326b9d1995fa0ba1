"""Copying the test run's migrated SQLite template (see conftest's `sqlite_template`)."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_sqlite_template(template: Path, target: Path) -> str:
    """A migrated database at `target` (a copy of the template); its URL."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    for suffix in ("-wal", "-shm"):  # empty after the TRUNCATE checkpoint; copied if present
        side = template.with_name(template.name + suffix)
        if side.exists():
            shutil.copyfile(side, target.with_name(target.name + suffix))
    return f"sqlite+aiosqlite:///{target}"
