"""The `supportdesk` command: in-process with click's CliRunner, plus what only a real
process shows: the installed script (its packages as pyproject ships them, no PYTHONPATH)
serving a fresh checkout, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from admin.cli import main
from tests.cli_fixtures import cli_env, invoke, restore_logging

__all__ = ["restore_logging"]
ROOT = Path(__file__).resolve().parents[1]
SUPPORTDESK = Path(sys.executable).with_name("supportdesk")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = invoke(cli_env(tmp_path, ""), "--help")
    assert result.exit_code == 0
    for command in main.commands:
        assert command in result.stdout


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_explains_itself(tmp_path: Path, command: str) -> None:
    result = invoke(cli_env(tmp_path, ""), command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 3


def test_readme_command_table_names_every_command() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Command line") :].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `supportdesk ([a-z-]+)", table, re.MULTILINE))
    assert documented == set(main.commands)


def test_bad_setting_fails_with_one_clear_line(tmp_path: Path) -> None:
    result = invoke(cli_env(tmp_path, "", SUPPORTDESK_ADMIN_PORT="eighty"), "migrate")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], (
        "exactly one line, no traceback"
    )
    assert "SUPPORTDESK_ADMIN_PORT" in result.stderr and "Traceback" not in result.stderr

    result = invoke(cli_env(tmp_path, "", SUPPORTDESK_TIMEZONE="Mars/Olympus"), "migrate")
    assert result.exit_code == 2 and "SUPPORTDESK_TIMEZONE" in result.stderr


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
@pytest.mark.usefixtures("restore_logging")
def test_serve_with_a_bad_setting_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    env = cli_env(tmp_path / "var", "", SUPPORTDESK_ADMIN_PORT=str(_free_port()))
    env[variable] = value
    result = invoke(env, "serve")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"configuration error: {variable}:"), lines
    # Checked before anything is migrated: a fresh data dir holds no database.
    assert not (tmp_path / "var" / "supportdesk.sqlite3").exists()


@pytest.mark.storage
def test_migrate_and_create_user(tmp_path: Path, database_url: str) -> None:
    env = cli_env(tmp_path / "var", database_url, SUPPORTDESK_PASSWORD="a-long-enough-secret")
    out = invoke(env, "migrate")
    assert out.exit_code == 0 and "database at revision" in out.stdout
    created = invoke(env, "create-user", "priya", "--role", "privacy_officer")
    assert created.exit_code == 0 and "created privacy_officer priya" in created.stdout
    again = invoke(env, "create-user", "priya", "--role", "agent")
    assert again.exit_code == 1 and "already exists" in again.stderr
    weak = invoke({**env, "SUPPORTDESK_PASSWORD": "short"}, "create-user", "bob", "--role", "agent")
    assert weak.exit_code == 1 and "at least 12 characters" in weak.stderr


@pytest.mark.storage
def test_create_user_prompts_for_the_password(tmp_path: Path, database_url: str) -> None:
    env = cli_env(tmp_path / "var", database_url)
    secret = "typed-twice-at-the-prompt"
    args = ("create-user", "ann", "--role", "agent", "--name", "Ann")
    made = invoke(env, *args, input=f"{secret}\n" * 2)
    assert made.exit_code == 0 and "created agent ann" in made.stdout
    assert secret not in made.output, "the prompt hides the password"
    unknown = invoke(env, "create-user", "zed", "--role", "boss")
    assert unknown.exit_code == 2 and "boss" in unknown.stderr


def test_serve_with_no_configuration_answers_healthz(tmp_path: Path) -> None:
    """A fresh checkout: no settings at all, run from an empty directory through the
    console script pyproject installs (admin.cli:main); SIGTERM stops it with exit 0.
    (A real process: serve installs signal handlers.)"""
    port = _free_port()
    # No PYTHONPATH: the script finds its packages as the install put them.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SUPPORTDESK_") and k != "PYTHONPATH"
    }
    proc = subprocess.Popen(
        [str(SUPPORTDESK), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = None
        deadline = time.monotonic() + 60  # a cold start on a loaded CI machine
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    body = json.loads(r.read())
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.2)
        assert body is not None, "serve did not answer within 60 s"
        assert body["status"] == "ok"
        assert body["database"] == {"ok": True, "dialect": "sqlite"}
        assert body["object_store"]["ok"] is True and body["object_store"]["kind"] == "local"
        assert (tmp_path / "var" / "supportdesk.sqlite3").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0
