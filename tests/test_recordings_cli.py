"""`supportdesk ingest` and `supportdesk sweep` as an operator runs them (in-process)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from recording_audio_helpers import make_audio

from tests.cli_fixtures import cli_env, invoke

pytestmark = pytest.mark.storage


def _run(tmp_path: Path, database_url: str, *args: str) -> Result:
    return invoke(cli_env(tmp_path / "var", database_url), *args)


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
    assert first.exit_code == 1, first.stderr
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
    assert bad_time.exit_code == 2 and "ISO" in bad_time.stderr
    # 2026-01-10T10:00 Europe/Amsterdam = 09:00 UTC; 90 days later is 2026-04-10T09:00Z.
    early = _run(tmp_path, database_url, "sweep", "--now", "2026-04-10T08:59:59Z")
    assert early.exit_code == 0, early.stderr
    assert "deleted 0" in early.stdout
    dry = _run(tmp_path, database_url, "sweep", "--now", "2026-04-10T09:00:01Z", "--dry-run")
    assert "would delete 5" in dry.stdout
    late = _run(tmp_path, database_url, "sweep", "--now", "2026-04-10T09:00:01Z")
    assert late.exit_code == 0, late.stderr
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
    assert future.exit_code == 2 and "in the future" in future.stderr
    # A file modified "in the future" (PBX clock ahead) counts as made now: 90 days from now.
    far = datetime(2099, 1, 1, tzinfo=UTC).timestamp()
    os.utime(audio, (far, far))
    done = _run(tmp_path, database_url, "ingest", str(audio), "-q")
    assert done.exit_code == 0 and "imported 1" in done.stdout, done.stderr
    after = (datetime.now(UTC) + timedelta(days=90, minutes=10)).isoformat()
    dry = _run(tmp_path, database_url, "sweep", "--now", after, "--dry-run")
    assert "recordings: would delete 1," in dry.stdout, dry.stdout


def test_ingest_shows_progress_unless_quiet_and_takes_a_file_once(
    tmp_path: Path, database_url: str
) -> None:
    first = make_audio(tmp_path, "wav_pcm", frequency=300)
    second = make_audio(tmp_path, "mp3", frequency=900)
    loud = _run(tmp_path, database_url, "ingest", str(first), "--caller-withheld")
    assert loud.exit_code == 0 and "imported 1," in loud.stdout, loud.stderr
    assert "ingesting" in loud.stderr, "the progress bar goes to stderr"
    quiet = _run(tmp_path, database_url, "ingest", str(second), str(second), "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert "imported 1, skipped 0" in quiet.stdout, "a file named twice is taken once"
    missing = _run(tmp_path, database_url, "ingest", str(tmp_path / "nope.wav"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
