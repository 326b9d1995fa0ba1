"""`supportdesk ingest` and `supportdesk sweep` as an operator runs them (a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
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
    make_audio(export, "raw_ulaw", frequency=600)  # MixMonitor's headerless formats
    make_audio(export, "raw_sln16", frequency=700)
    (export / "broken.wav").write_bytes(b"RIFF....not really")
    (export / "notes.txt").write_text("ignored: not an audio suffix")
    for name in ("call.au", "call.flac", "call.mp4"):  # audio, but not a kind we take
        (export / name).write_bytes(b"\0" * 64)

    args = ["ingest", str(export), "--started-at", "2026-01-10T10:00:00", "--agent", "bob", "-q"]
    first = _run(tmp_path, database_url, *args)
    assert first.returncode == 1, first.stderr
    not_taken = "4 not audio we take"
    assert (
        f"imported 5, skipped 4 (0 already stored, 0 deleted before, {not_taken}), failed 1"
        in first.stdout
    )
    assert "broken.wav" in first.stderr and "call.flac: not audio we take" in first.stderr
    second = _run(tmp_path, database_url, *args)
    assert (
        f"imported 0, skipped 9 (5 already stored, 0 deleted before, {not_taken}), failed 1"
        in second.stdout
    )

    bad_time = _run(tmp_path, database_url, "sweep", "--now", "yesterday")
    assert bad_time.returncode == 2 and "ISO" in bad_time.stderr
    # 2026-01-10T10:00 Europe/Amsterdam = 09:00 UTC; 90 days later is 2026-04-10T09:00Z.
    early = _run(tmp_path, database_url, "sweep", "--now", "2026-04-10T08:59:59Z")
    assert early.returncode == 0, early.stderr
    assert "deleted 0" in early.stdout
    dry = _run(tmp_path, database_url, "sweep", "--now", "2026-04-10T09:00:01Z", "--dry-run")
    assert "would delete 5" in dry.stdout
    late = _run(tmp_path, database_url, "sweep", "--now", "2026-04-10T09:00:01Z")
    assert late.returncode == 0, late.stderr
    assert "deleted 5" in late.stdout
    objects = [p for p in (tmp_path / "var" / "objects" / "data").rglob("*") if p.is_file()]
    assert objects == []
    # Swept away: a re-run of the same export does not bring them back for another 90 days.
    third = _run(tmp_path, database_url, *args)
    assert (
        f"imported 0, skipped 9 (0 already stored, 5 deleted before, {not_taken}), failed 1"
        in third.stdout
    )
    assert "deleted before" in third.stderr


def test_ingest_refuses_a_future_call_start(tmp_path: Path, database_url: str) -> None:
    audio = make_audio(tmp_path, "wav_pcm")
    future = _run(tmp_path, database_url, "ingest", str(audio), "--started-at", "2099-01-01", "-q")
    assert future.returncode == 2 and "in the future" in future.stderr
    # A file modified "in the future" (PBX clock ahead) counts as made now: 90 days from now.
    far = datetime(2099, 1, 1, tzinfo=UTC).timestamp()
    os.utime(audio, (far, far))
    done = _run(tmp_path, database_url, "ingest", str(audio), "-q")
    assert done.returncode == 0 and "imported 1" in done.stdout, done.stderr
    after = (datetime.now(UTC) + timedelta(days=90, minutes=10)).isoformat()
    dry = _run(tmp_path, database_url, "sweep", "--now", after, "--dry-run")
    assert "recordings: would delete 1," in dry.stdout, dry.stdout
