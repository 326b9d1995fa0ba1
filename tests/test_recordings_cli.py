"""`supportdesk ingest` and `supportdesk sweep` as an operator runs them (a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from recording_audio_helpers import make_audio

pytestmark = pytest.mark.storage

CLI = [sys.executable, "-m", "admin.cli"]


def _run(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTDESK_")}
    env["SUPPORTDESK_DATA_DIR"] = str(tmp_path / "var")
    env["SUPPORTDESK_DATABASE_URL"] = database_url
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_ingest_folder_is_idempotent_and_sweep_deletes_after_90_days(
    tmp_path: Path, database_url: str
) -> None:
    export = tmp_path / "pbx-export"
    (export / "2026-01").mkdir(parents=True)
    make_audio(export / "2026-01", "wav_mulaw", frequency=300)
    make_audio(export / "2026-01", "raw_gsm", frequency=400)
    make_audio(export, "mp3", frequency=500)
    (export / "broken.wav").write_bytes(b"RIFF....not really")
    (export / "notes.txt").write_text("ignored: not an audio suffix")

    args = ["ingest", str(export), "--started-at", "2026-01-10T10:00:00", "--agent", "bob", "-q"]
    first = _run(tmp_path, database_url, *args)
    assert first.returncode == 1, first.stderr
    assert "imported 3, skipped 0 (already stored), failed 1" in first.stdout
    assert "broken.wav" in first.stderr
    second = _run(tmp_path, database_url, *args)
    assert "imported 0, skipped 3 (already stored), failed 1" in second.stdout

    bad_time = _run(tmp_path, database_url, "sweep", "--now", "yesterday")
    assert bad_time.returncode == 2 and "ISO" in bad_time.stderr
    # 2026-01-10T10:00 Europe/Amsterdam = 09:00 UTC; 90 days later is 2026-04-10T09:00Z.
    early = _run(tmp_path, database_url, "sweep", "--now", "2026-04-10T08:59:59Z")
    assert early.returncode == 0, early.stderr
    assert "deleted 0" in early.stdout
    dry = _run(tmp_path, database_url, "sweep", "--now", "2026-04-10T09:00:01Z", "--dry-run")
    assert "would delete 3" in dry.stdout
    late = _run(tmp_path, database_url, "sweep", "--now", "2026-04-10T09:00:01Z")
    assert late.returncode == 0, late.stderr
    assert "deleted 3" in late.stdout
    objects = [p for p in (tmp_path / "var" / "objects" / "data").rglob("*") if p.is_file()]
    assert objects == []
