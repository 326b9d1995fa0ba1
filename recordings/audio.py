"""Probe and normalise call audio with ffprobe/ffmpeg (the binaries pydub uses).

Everything here blocks, so the async entry points run it in a thread. Audio is streamed
through temporary files by ffmpeg itself: a recording is never held in memory whole.

Inputs: WAV (PCM, 8 kHz mu-law/A-law, GSM `wav49`, G.722), the headerless files Asterisk
writes (`.gsm`, `.ulaw`/`.pcm`, `.alaw`, `.sln`/`.sln16`..., `.g722`), MP3, Ogg/Opus (and
Vorbis), M4A/AAC. Output: one archive format, Ogg/Opus mono; the decoder
always hands the encoder 16-bit samples (mu-law and A-law are widened to 16-bit, never 8).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydub.utils import get_encoder_name, get_prober_name

from storage.services.errors import N_, InvalidInput

CHUNK = 1024 * 1024
ARCHIVE_CONTENT_TYPE = "audio/ogg"
ARCHIVE_SUFFIX = ".ogg"
# Container/codec names ffprobe reports for the inputs we accept.
ACCEPTED_CODECS = {
    "pcm_s16le",
    "pcm_s24le",
    "pcm_s32le",
    "pcm_u8",
    "pcm_f32le",
    "pcm_mulaw",
    "pcm_alaw",
    "gsm",
    "gsm_ms",
    "mp3",
    "opus",
    "vorbis",
    "aac",
    "adpcm_g722",
}


# Headerless files as Asterisk writes them (Monitor/MixMonitor formats gsm, pcm, alaw, sln*,
# g722): nothing in the bytes says what they are, so the file name's suffix does, exactly
# as Asterisk itself decides (format_pcm.c, format_sln.c, format_gsm.c, format_g722.c).
def _raw(fmt: str, rate: int) -> list[str]:
    return ["-f", fmt, "-sample_rate", str(rate), "-ch_layout", "mono"]


RAW_INPUTS: dict[str, list[str]] = {
    ".gsm": ["-f", "gsm", "-sample_rate", "8000"],
    **dict.fromkeys((".ulaw", ".ul", ".mu", ".ulw", ".pcm"), _raw("mulaw", 8000)),
    **dict.fromkeys((".alaw", ".al", ".alw"), _raw("alaw", 8000)),
    **dict.fromkeys((".sln", ".slin", ".raw"), _raw("s16le", 8000)),
    **{
        f".sln{khz}": _raw("s16le", rate)
        for khz, rate in {
            "12": 12000,
            "16": 16000,
            "24": 24000,
            "32": 32000,
            "44": 44100,
            "48": 48000,
            "96": 96000,
            "192": 192000,
        }.items()
    },
    ".g722": ["-f", "g722"],  # 16 kHz wideband
}
# Every file name suffix we take audio from (the CLI's folder scan skips others).
AUDIO_SUFFIXES = frozenset(
    {".wav", ".wav49", ".mp3", ".ogg", ".opus", ".oga", ".m4a", ".aac", *RAW_INPUTS}
)


class AudioError(InvalidInput):
    """The file is not acceptable audio; the message says why."""

    code = "invalid_audio"


@dataclass(frozen=True)
class AudioLimits:
    max_bytes: int = 500 * 1024 * 1024
    max_seconds: float = 4 * 3600
    bitrate: str = "24k"
    timeout_seconds: float = 3600


@dataclass(frozen=True)
class ProbeResult:
    format_name: str
    codec: str
    sample_rate: int
    channels: int
    duration: float
    bits_per_sample: int


@dataclass(frozen=True)
class NormalisedAudio:
    archive_path: Path
    duration: float
    original_format: str  # container/codec, e.g. "wav/pcm_mulaw"
    original_codec: str
    sample_rate: int
    channels: int
    original_size: int
    archive_size: int
    sha256_original: str
    sha256_archive: str
    archive_codec: str = "opus"
    archive_content_type: str = ARCHIVE_CONTENT_TYPE

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["archive_path"] = str(self.archive_path)
        return data


def file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _input_args(path: Path) -> list[str]:
    """A headerless file: tell ffmpeg what its suffix says it is (RAW_INPUTS)."""
    return RAW_INPUTS.get(path.suffix.lower(), [])


def probe_sync(path: Path) -> ProbeResult:
    cmd = [
        get_prober_name(),
        "-v",
        "error",
        *_input_args(path),
        "-show_entries",
        "format=format_name,duration:stream=codec_type,codec_name,sample_rate,channels,"
        "bits_per_sample,bits_per_raw_sample,duration",
        "-of",
        "json",
        str(path),
    ]
    proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise AudioError(N_("{name}: not a readable audio file"), name=path.name)
    try:
        info = json.loads(proc.stdout or b"{}")
    except json.JSONDecodeError:
        raise AudioError(N_("{name}: not a readable audio file"), name=path.name) from None
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise AudioError(N_("{name}: no audio stream found"), name=path.name)
    stream = streams[0]
    codec = str(stream.get("codec_name", ""))
    if codec not in ACCEPTED_CODECS:
        raise AudioError(
            N_("{name}: unsupported audio codec {codec!r}"),
            name=path.name,
            codec=codec or N_("unknown"),
        )
    fmt = info.get("format", {})
    duration_raw = fmt.get("duration") or stream.get("duration")
    try:
        duration = float(duration_raw)
    except (TypeError, ValueError):
        raise AudioError(N_("{name}: cannot determine the duration"), name=path.name) from None
    if duration <= 0:
        raise AudioError(N_("{name}: the recording is empty"), name=path.name)
    bits = int(stream.get("bits_per_sample") or stream.get("bits_per_raw_sample") or 0)
    return ProbeResult(
        format_name=str(fmt.get("format_name", "")).split(",")[0],
        codec=codec,
        sample_rate=int(stream.get("sample_rate") or 0),
        channels=int(stream.get("channels") or 0),
        duration=duration,
        bits_per_sample=bits,
    )


def _ffmpeg(args: list[str], timeout: float, name: str) -> None:
    cmd = [get_encoder_name(), "-nostdin", "-hide_banner", "-v", "error", "-xerror", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AudioError(N_("{name}: decoding took too long"), name=name) from None
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        reason = detail[-1] if detail else "decoder failed"
        for arg in args:  # ffmpeg names files by path: keep our directories out of messages
            if os.sep in arg:
                reason = reason.replace(f"{arg}: ", "").replace(arg, Path(arg).name)
        raise AudioError(
            N_("{name}: damaged or truncated audio ({reason})"), name=name, reason=reason[:200]
        )


OGG_PAGE_MAX = 65_307  # header 27 + 255 lacing values + 255 segments of 255 bytes
OPUS_RATE = 48_000  # Opus granule positions count 48 kHz samples whatever the input rate


def _decoded_seconds(archive_path: Path, name: str) -> float:
    """The length of the archive we wrote: its last Ogg page's granule position less the
    encoder's pre-skip (RFC 7845). Our own file, so honest; read here rather than by another
    ffprobe process per recording."""
    with archive_path.open("rb") as archive:
        head = archive.read(512)
        size = archive.seek(0, os.SEEK_END)
        archive.seek(max(0, size - OGG_PAGE_MAX))
        tail = archive.read()
    granule = last_granule(tail)
    at = head.find(b"OpusHead")
    if granule is None or at < 0 or len(head) < at + 12:
        raise AudioError(N_("{name}: no audio could be decoded"), name=name)
    pre_skip = int.from_bytes(head[at + 10 : at + 12], "little")
    duration = (granule - pre_skip) / OPUS_RATE
    if duration <= 0:
        raise AudioError(N_("{name}: no audio could be decoded"), name=name)
    return duration


def last_granule(tail: bytes) -> int | None:
    """The granule position of the Ogg page that ends exactly at the end of `tail` (a page
    found by its capture pattern, version 0 and a segment table that adds up)."""
    position = len(tail)
    while (position := tail.rfind(b"OggS", 0, position)) >= 0:
        if tail[position + 4 : position + 5] != b"\x00" or position + 27 > len(tail):
            continue
        count = tail[position + 26]
        segments = tail[position + 27 : position + 27 + count]
        if len(segments) == count and position + 27 + count + sum(segments) == len(tail):
            return int.from_bytes(tail[position + 6 : position + 14], "little", signed=True)
    return None


def _check_size(path: Path, limits: AudioLimits) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise AudioError(N_("{name}: file not found"), name=path.name) from None
    if size == 0:
        raise AudioError(N_("{name}: the file is empty (0 bytes)"), name=path.name)
    if size > limits.max_bytes:
        raise AudioError(
            N_("{name}: {size} bytes is over the limit of {max_bytes} bytes"),
            name=path.name,
            size=size,
            max_bytes=limits.max_bytes,
        )
    return size


def normalise_sync(
    source: Path,
    archive_path: Path,
    limits: AudioLimits,
    original: tuple[str, int] | None = None,
) -> NormalisedAudio:
    """Validate `source` and encode it to Ogg/Opus mono at `archive_path`.

    `original` is `file_sha256(source)` when the caller already has it (the ingest's
    idempotency check), so a big file is read for hashing once. On any error the partial
    archive file is removed and AudioError raised.
    """
    _check_size(source, limits)
    probe = probe_sync(source)
    if probe.duration > limits.max_seconds:
        raise AudioError(
            N_("{name}: {duration:.0f} s is over the limit of {max_seconds:.0f} s"),
            name=source.name,
            duration=probe.duration,
            max_seconds=limits.max_seconds,
        )
    sha_original, size_original = original or file_sha256(source)
    try:
        _ffmpeg(
            [
                *_input_args(source),
                "-i",
                str(source),
                "-vn",
                "-map_metadata",
                "-1",
                # Widen to 16-bit (mu-law/A-law are 8-bit on the wire) and downmix to mono.
                # Timestamps are recounted from the decoded samples: a header or granule
                # position that lies about the length can then neither shorten the stored
                # duration nor let `-t` decode (and archive) past the limit.
                "-af",
                "aformat=sample_fmts=s16:channel_layouts=mono,asetpts=N/SR/TB",
                "-t",
                f"{limits.max_seconds + 1:.3f}",
                "-c:a",
                "libopus",
                "-b:a",
                limits.bitrate,
                "-application",
                "voip",
                "-f",
                "ogg",
                "-y",
                str(archive_path),
            ],
            limits.timeout_seconds,
            source.name,
        )
        sha_archive, size_archive = file_sha256(archive_path)
        if size_archive == 0:
            raise AudioError(N_("{name}: no audio could be decoded"), name=source.name)
        # The stored duration is what was decoded, not what the input's header claims.
        duration = _decoded_seconds(archive_path, source.name)
        if duration > limits.max_seconds:
            # Decoding stopped a second past the limit: the rest was never read.
            if duration >= limits.max_seconds + 0.5:
                raise AudioError(
                    N_("{name}: {duration:.0f} s or more is over the limit of {max_seconds:.0f} s"),
                    name=source.name,
                    duration=duration,
                    max_seconds=limits.max_seconds,
                )
            raise AudioError(
                N_("{name}: {duration:.0f} s is over the limit of {max_seconds:.0f} s"),
                name=source.name,
                duration=duration,
                max_seconds=limits.max_seconds,
            )
    except BaseException:
        archive_path.unlink(missing_ok=True)
        raise
    return NormalisedAudio(
        archive_path=archive_path,
        duration=round(duration, 3),
        original_format=f"{probe.format_name}/{probe.codec}",
        original_codec=probe.codec,
        sample_rate=probe.sample_rate,
        channels=probe.channels,
        original_size=size_original,
        archive_size=size_archive,
        sha256_original=sha_original,
        sha256_archive=sha_archive,
    )


def decode_pcm16_sync(source: Path, wav_path: Path) -> None:
    """Decode any accepted input (or an archive) to 16-bit PCM WAV, keeping the sample rate."""
    _ffmpeg(
        [
            *_input_args(source),
            "-i",
            str(source),
            "-vn",
            "-c:a",
            "pcm_s16le",
            "-f",
            "wav",
            "-y",
            str(wav_path),
        ],
        3600,
        source.name,
    )


async def probe(path: Path) -> ProbeResult:
    return await asyncio.to_thread(probe_sync, path)


async def normalise(
    source: Path,
    archive_path: Path,
    limits: AudioLimits,
    original: tuple[str, int] | None = None,
) -> NormalisedAudio:
    return await asyncio.to_thread(normalise_sync, source, archive_path, limits, original)


async def decode_pcm16(source: Path, wav_path: Path) -> None:
    await asyncio.to_thread(decode_pcm16_sync, source, wav_path)
