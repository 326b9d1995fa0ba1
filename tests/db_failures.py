"""Injected database failures at the driver edge, whichever layer (ORM flush or Core)
built the statement: the database refuses inserts into a table, or a commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def refusing_inserts(refused: Callable[[], list[type]]) -> Iterator[None]:
    """While the block runs, an INSERT into the table of a model in `refused()` raises."""

    def check(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        for model in refused():
            if statement.startswith(f"INSERT INTO {model.__tablename__} "):
                raise RuntimeError("injected database failure")

    event.listen(Engine, "before_cursor_execute", check)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", check)


@contextmanager
def refusing_commits(refused: Callable[[], list[type]]) -> Iterator[None]:
    """While the block runs, committing a transaction that inserted into the table of a
    model in `refused()` raises (as a full disk or a lost connection at COMMIT would)."""

    def note(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        for model in refused():
            if statement.startswith(f"INSERT INTO {model.__tablename__} "):
                conn.info["refused_commit"] = True

    def check(conn: Any) -> None:
        if conn.info.pop("refused_commit", False):
            raise RuntimeError("injected commit failure")

    def forget(conn: Any) -> None:
        conn.info.pop("refused_commit", None)

    hooks = [("before_cursor_execute", note), ("commit", check), ("rollback", forget)]
    for name, hook in hooks:
        event.listen(Engine, name, hook)
    try:
        yield
    finally:
        for name, hook in hooks:
            event.remove(Engine, name, hook)


@contextmanager
def refusing_statements(refused: Callable[[str], bool]) -> Iterator[None]:
    """While the block runs, a statement for which `refused(sql)` is true raises (the
    database gone away, as far as that query is concerned)."""

    def check(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if refused(statement):
            raise RuntimeError("injected database failure")

    event.listen(Engine, "before_cursor_execute", check)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", check)
