"""Audio probe/normalise: every accepted input becomes Ogg/Opus mono; bad input is refused."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from recording_audio_helpers import FORMATS, make_audio, make_lying_mp3

from recordings.audio import (
    AudioError,
    AudioLimits,
    decode_pcm16,
    file_sha256,
    last_granule,
    normalise,
    probe,
)

LIMITS = AudioLimits(max_bytes=10 * 1024 * 1024, max_seconds=30, bitrate="24k")


@pytest.mark.parametrize("kind", sorted(FORMATS))
async def test_every_format_normalises_to_opus_mono(kind: str, tmp_path: Path) -> None:
    source = make_audio(tmp_path, kind, seconds=1.0)
    archive = tmp_path / "out.ogg"
    result = await normalise(source, archive, LIMITS)
    assert archive.exists() and result.archive_size == archive.stat().st_size
    assert abs(result.duration - 1.0) < 0.1
    assert result.sha256_original == file_sha256(source)[0]
    assert result.sha256_archive == file_sha256(archive)[0]
    assert result.original_size == source.stat().st_size
    out = await probe(archive)
    assert (out.format_name, out.codec, out.channels) == ("ogg", "opus", 1)
    assert result.sample_rate > 0 and result.channels >= 1


@pytest.mark.parametrize(
    ("kind", "codec", "container"),
    [
        ("wav_mulaw", "pcm_mulaw", "wav"),
        ("wav_alaw", "pcm_alaw", "wav"),
        ("raw_ulaw", "pcm_mulaw", "mulaw"),
        ("raw_alaw", "pcm_alaw", "alaw"),
    ],
)
async def test_g711_decodes_to_16_bit(
    kind: str, codec: str, container: str, tmp_path: Path
) -> None:
    source = make_audio(tmp_path, kind)
    info = await probe(source)
    assert (info.codec, info.sample_rate, info.bits_per_sample) == (codec, 8000, 8)
    wav = tmp_path / "decoded.wav"
    await decode_pcm16(source, wav)
    with wave.open(str(wav)) as fh:
        assert fh.getsampwidth() == 2
        assert fh.getframerate() == 8000
    result = await normalise(source, tmp_path / "a.ogg", LIMITS)
    assert result.original_format == f"{container}/{codec}"


async def test_bad_inputs_are_refused_and_leave_no_archive(tmp_path: Path) -> None:
    good = make_audio(tmp_path, "wav_mulaw", seconds=2.0)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_bytes(b"this is not audio at all\n" * 100)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2 + 1])
    ogg = make_audio(tmp_path, "ogg_opus", seconds=2.0)
    truncated_ogg = tmp_path / "truncated.ogg"
    truncated_ogg.write_bytes(ogg.read_bytes()[: ogg.stat().st_size // 3])
    cases = {
        empty: "empty",
        text: "not a readable audio",
        truncated: "truncated",
        truncated_ogg: "truncated",
    }
    for path, message in cases.items():
        archive = tmp_path / f"{path.stem}.ogg.out"
        with pytest.raises(AudioError, match=message):
            await normalise(path, archive, LIMITS)
        assert not archive.exists()
    with pytest.raises(AudioError, match="over the limit of 100 bytes"):
        await normalise(good, tmp_path / "big.out", AudioLimits(max_bytes=100))
    with pytest.raises(AudioError, match="over the limit of 1 s"):
        await normalise(good, tmp_path / "long.out", AudioLimits(max_seconds=1))
    assert not _leftovers(tmp_path)


async def test_stored_duration_is_what_was_decoded(tmp_path: Path) -> None:
    """A truncated MP3 keeps its header's length (7.2 s); only the decoded part counts."""
    whole = make_audio(tmp_path, "mp3", seconds=7.2)
    truncated = tmp_path / "truncated.mp3"
    truncated.write_bytes(whole.read_bytes()[:7000])
    assert (await probe(truncated)).duration == pytest.approx(7.2, abs=0.2)  # the header's word
    archive = tmp_path / "truncated.ogg"
    result = await normalise(truncated, archive, LIMITS)
    decoded = (await probe(archive)).duration
    assert decoded < 4 and result.duration == pytest.approx(decoded, abs=0.2)


async def test_a_header_that_understates_the_length_cannot_pass_the_limit(tmp_path: Path) -> None:
    liar = make_lying_mp3(tmp_path, seconds=12, claimed=1)
    assert (await probe(liar)).duration < 2  # ffprobe believes it: the old check did too
    archive = tmp_path / "liar.ogg.out"
    with pytest.raises(AudioError, match="over the limit of 5 s"):
        await normalise(liar, archive, AudioLimits(max_seconds=5))
    assert not archive.exists()
    result = await normalise(liar, tmp_path / "liar.ogg", LIMITS)
    assert result.duration == pytest.approx(12, abs=0.2)


async def test_decoding_stops_a_second_past_the_limit(tmp_path: Path) -> None:
    """A 20 s liar under a 3 s limit is cut after 4 s of audio (the message says so) and
    refused: no archive of the whole file is ever written."""
    liar = make_lying_mp3(tmp_path, seconds=20, claimed=1)
    archive = tmp_path / "cut.ogg.out"
    with pytest.raises(AudioError, match=r"\.mp3: 4 s or more is over the limit of 3 s"):
        await normalise(liar, archive, AudioLimits(max_seconds=3))
    assert not archive.exists()


def _leftovers(directory: Path) -> list[Path]:
    return list(directory.glob("*.out"))


@pytest.mark.parametrize("seconds", [0.5, 2.5, 7.0])
async def test_stored_duration_counts_the_archived_samples(seconds: float, tmp_path: Path) -> None:
    """Read from the archive's last Ogg page (granule position less the pre-skip): exact to
    the sample, where ffprobe's container duration also counts the encoder's pre-skip."""
    source = make_audio(tmp_path, "wav_mulaw", seconds=seconds)
    result = await normalise(source, tmp_path / "out.ogg", LIMITS)
    assert result.duration == pytest.approx(seconds, abs=0.001)
    container = (await probe(tmp_path / "out.ogg")).duration
    assert container == pytest.approx(seconds + 312 / 48_000, abs=0.001)


def test_the_last_page_is_found_past_a_capture_pattern_inside_audio() -> None:
    def page(granule: int, payload: bytes) -> bytes:
        header = b"OggS\x00\x00" + granule.to_bytes(8, "little") + bytes(12)
        return header + bytes([1, len(payload)]) + payload

    last = page(96_000, b"..OggS..")  # the pattern inside a packet, not a page
    assert last_granule(page(48_000, b"x") + last) == 96_000
    assert last_granule(page(48_000, b"x") + last[:-1]) is None  # cut short: no page ends here


async def test_a_call_of_exactly_the_maximum_length_is_taken(tmp_path: Path) -> None:
    source = make_audio(tmp_path, "wav_mulaw", seconds=LIMITS.max_seconds)
    result = await normalise(source, tmp_path / "out.ogg", LIMITS)
    assert result.duration == pytest.approx(LIMITS.max_seconds, abs=0.001)
