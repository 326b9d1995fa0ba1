"""Generate short test audio with ffmpeg (shared by the recordings tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path

# name -> (file name, ffmpeg output args)
FORMATS: dict[str, tuple[str, list[str]]] = {
    "wav_pcm": ("pcm.wav", ["-ar", "16000", "-ac", "2", "-c:a", "pcm_s16le"]),
    "wav_mulaw": ("mulaw.wav", ["-ar", "8000", "-c:a", "pcm_mulaw"]),
    "wav_alaw": ("alaw.wav", ["-ar", "8000", "-c:a", "pcm_alaw"]),
    "wav49_gsm": ("wav49.wav", ["-ar", "8000", "-ac", "1", "-c:a", "gsm_ms"]),
    "raw_gsm": ("raw.gsm", ["-ar", "8000", "-ac", "1", "-f", "gsm"]),
    "mp3": ("call.mp3", ["-ar", "22050", "-c:a", "libmp3lame", "-b:a", "32k"]),
    "ogg_opus": ("call.opus.ogg", ["-ar", "48000", "-c:a", "libopus", "-b:a", "24k"]),
    "m4a_aac": ("call.m4a", ["-ar", "16000", "-c:a", "aac", "-b:a", "32k"]),
    # Headerless, as Asterisk's Monitor/MixMonitor writes them: the suffix names the format.
    "raw_ulaw": ("call.ulaw", ["-ar", "8000", "-ac", "1", "-f", "mulaw"]),
    "raw_pcm": ("call.pcm", ["-ar", "8000", "-ac", "1", "-f", "mulaw"]),  # Asterisk "pcm"
    "raw_alaw": ("call.alaw", ["-ar", "8000", "-ac", "1", "-f", "alaw"]),
    "raw_sln": ("call.sln", ["-ar", "8000", "-ac", "1", "-f", "s16le"]),
    "raw_sln16": ("call.sln16", ["-ar", "16000", "-ac", "1", "-f", "s16le"]),
    "raw_g722": ("call.g722", ["-ar", "16000", "-ac", "1", "-c:a", "g722", "-f", "g722"]),
}


# What ffmpeg made, per (kind, seconds, frequency): the same tone is asked for by many tests.
_made: dict[tuple[str, float, int], bytes] = {}


def make_audio(directory: Path, kind: str, *, seconds: float = 1.0, frequency: int = 440) -> Path:
    name, args = FORMATS[kind]
    out = directory / f"{frequency}-{seconds}-{name}"
    made = _made.get((kind, seconds, frequency))
    if made is not None:
        out.write_bytes(made)
        return out
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={frequency}:duration={seconds}",
            *args,
            str(out),
        ],
        check=True,
    )
    _made[(kind, seconds, frequency)] = out.read_bytes()
    return out


def make_lying_mp3(directory: Path, *, seconds: float, claimed: float) -> Path:
    """An MP3 whose Xing/Info header claims `claimed` seconds while `seconds` of audio decode:
    ffprobe (and so a header-trusting duration check) believes the header."""
    source = make_audio(directory, "mp3", seconds=seconds)
    data = bytearray(source.read_bytes())
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    assert tag > 0, "libmp3lame wrote no Xing/Info header"
    frames = int.from_bytes(data[tag + 8 : tag + 12], "big")
    data[tag + 8 : tag + 12] = max(1, int(frames * claimed / seconds)).to_bytes(4, "big")
    out = directory / f"lying-{seconds}-as-{claimed}.mp3"
    out.write_bytes(bytes(data))
    return out
