"""The `supportdesk` command as an operator runs it: a real subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "admin.cli"]


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTDESK_")}
    env["SUPPORTDESK_DATA_DIR"] = str(tmp_path / "var")
    env["SUPPORTDESK_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_help_explains_every_command() -> None:
    out = subprocess.run([*CLI, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("serve", "migrate", "create-user"):
        assert command in out
    for command in ("serve", "migrate", "create-user"):
        sub = subprocess.run([*CLI, command, "--help"], capture_output=True, text=True, check=True)
        assert "Usage:" in sub.stdout and len(sub.stdout.splitlines()) > 3


def test_bad_setting_fails_with_one_clear_line(tmp_path: Path) -> None:
    env = _env(tmp_path, "", SUPPORTDESK_ADMIN_PORT="eighty")
    result = subprocess.run([*CLI, "migrate"], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], (
        "exactly one line, no traceback"
    )
    assert "SUPPORTDESK_ADMIN_PORT" in result.stderr and "Traceback" not in result.stderr

    env = _env(tmp_path, "", SUPPORTDESK_TIMEZONE="Mars/Olympus")
    result = subprocess.run([*CLI, "migrate"], capture_output=True, text=True, env=env)
    assert result.returncode == 2 and "SUPPORTDESK_TIMEZONE" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SUPPORTDESK_LOG_LEVEL", "LOUD"),
        ("SUPPORTDESK_OFFICE_HOLIDAYS", "notjson"),
        ("SUPPORTDESK_DATABASE_URL", "foo://"),
        ("SUPPORTDESK_REDIS_URL", "foo://bar"),
        ("SUPPORTDESK_TELEGRAM_TOKEN", "notatoken"),
        ("SUPPORTDESK_WEBHOOK_URL", "http://desk.example.com/telegram/hook"),
        ("SUPPORTDESK_DATA_DIR", "/proc/nope"),
        ("SUPPORTDESK_RETENTION_PERIODS", '{"nope": 3}'),
    ],
)
def test_serve_with_a_bad_setting_exits_2_with_one_line(
    tmp_path: Path, variable: str, value: str
) -> None:
    env = _env(tmp_path, "", SUPPORTDESK_ADMIN_PORT=str(_free_port()), **{variable: value})
    result = subprocess.run(
        [*CLI, "serve"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"configuration error: {variable}:"), lines
    # Checked before anything is migrated: a fresh data dir holds no database.
    assert not (tmp_path / "var" / "supportdesk.sqlite3").exists()


@pytest.mark.storage
def test_migrate_and_create_user(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url, SUPPORTDESK_PASSWORD="a-long-enough-secret")
    out = subprocess.run([*CLI, "migrate"], capture_output=True, text=True, env=env, check=True)
    assert "database at revision" in out.stdout
    created = subprocess.run(
        [*CLI, "create-user", "priya", "--role", "privacy_officer"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "created privacy_officer priya" in created.stdout
    again = subprocess.run(
        [*CLI, "create-user", "priya", "--role", "agent"], capture_output=True, text=True, env=env
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    weak = subprocess.run(
        [*CLI, "create-user", "bob", "--role", "agent"],
        capture_output=True,
        text=True,
        env={**env, "SUPPORTDESK_PASSWORD": "short"},
    )
    assert weak.returncode == 1 and "at least 12 characters" in weak.stderr


def test_serve_with_no_configuration_answers_healthz(tmp_path: Path) -> None:
    """A fresh checkout: no settings at all, run from an empty directory."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTDESK_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    body = json.loads(r.read())
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.2)
        assert body is not None, "serve did not answer within 30 s"
        assert body["status"] == "ok"
        assert body["database"] == {"ok": True, "dialect": "sqlite"}
        assert body["object_store"]["ok"] is True and body["object_store"]["kind"] == "local"
        assert (tmp_path / "var" / "supportdesk.sqlite3").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0
