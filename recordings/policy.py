"""The recording policy (hold periods, archive bitrate, limits) read from Settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from recordings.audio import AudioLimits
from recordings.service import RecordingPolicy
from recordings.waveform import cache_dir
from storage.config import Settings


def policy_from_settings(settings: Settings, *, temp_dir: Path | None = None) -> RecordingPolicy:
    return RecordingPolicy(
        training_review=timedelta(days=settings.recording_training_hold_days),
        evidence_review=timedelta(days=settings.recording_evidence_hold_days),
        audio=AudioLimits(
            max_bytes=settings.recording_max_bytes,
            max_seconds=float(settings.recording_max_seconds),
            bitrate=settings.recording_opus_bitrate,
        ),
        temp_dir=temp_dir,
        waveform_dir=cache_dir(settings.data_dir),
    )
