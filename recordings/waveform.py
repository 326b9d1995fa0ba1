"""Server-rendered waveform pictures (SVG), computed from the archived audio off the event
loop and cached on disk by the archive's sha256 (the archive never changes)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from array import array
from pathlib import Path

from pydub.utils import get_encoder_name

from recordings.audio import AudioError
from storage.objectstore.base import ObjectStore
from storage.services.errors import N_
from storage.tempdirs import temporary_directory

WIDTH = 600
HEIGHT = 80
RATE = 2000  # decoded sample rate: plenty for a picture, cheap to scan
READ = 64 * 1024


def peaks_sync(archive: Path, duration: float, width: int = WIDTH) -> list[int]:
    """Peak amplitude (0..32767) per column, decoding as a stream (constant memory)."""
    total = max(1, int(duration * RATE))
    per_column = max(1, -(-total // width))
    cmd = [
        get_encoder_name(),
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(archive),
        "-ac",
        "1",
        "-ar",
        str(RATE),
        "-f",
        "s16le",
        "-",
    ]
    peaks = [0] * width
    samples = array("h")
    column = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        carry = b""
        while data := proc.stdout.read(READ):
            data = carry + data
            even = len(data) - len(data) % 2  # a pipe read may split a sample
            samples.frombytes(data[:even])
            carry = data[even:]
            while len(samples) >= per_column and column < width:
                block = samples[:per_column]
                peaks[column] = max(max(block), -min(block), 0)
                del samples[:per_column]
                column += 1
            if column >= width:
                samples = array("h")
        if len(samples) and column < width:
            peaks[column] = max(max(samples), -min(samples), 0)
        if proc.wait() != 0:
            raise AudioError(
                N_("{name}: the archived audio could not be decoded"),
                name=archive.name,
            )
    return [min(p, 32767) for p in peaks]


def svg(peaks: list[int], height: int = HEIGHT) -> str:
    middle = height / 2
    scale = max(max(peaks, default=0), 1)
    bars = " ".join(
        f"M{x} {middle - h:.1f}V{middle + h:.1f}"
        for x, h in ((x, max(0.5, p / scale * (middle - 1))) for x, p in enumerate(peaks))
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {len(peaks)} {height}" '
        f'preserveAspectRatio="none" width="{len(peaks)}" height="{height}">'
        f'<path d="{bars}" stroke="#2a6f97" stroke-width="1" fill="none"/></svg>'
    )


def cache_dir(data_dir: Path) -> Path:
    return data_dir / "cache" / "waveforms"


def waveform_path(directory: Path, sha256: str) -> Path:
    """The cached picture of the archive with this sha256 (the delete path removes it)."""
    return directory / f"{sha256}.svg"


class Waveforms:
    """The cache directory plus one lock per sha256 so a picture is rendered once
    (a lock is a few bytes; there is one per recording ever pictured in this process)."""

    def __init__(self, directory: Path, temp_dir: Path | None = None) -> None:
        self.directory = directory
        self.temp_dir = temp_dir
        self._locks: dict[str, asyncio.Lock] = {}

    def path_for(self, sha256: str) -> Path:
        return waveform_path(self.directory, sha256)

    async def get(
        self,
        store: ObjectStore,
        key: str,
        *,
        version_id: str | None,
        sha256: str,
        duration: float,
    ) -> bytes:
        path = self.path_for(sha256)
        lock = self._locks.setdefault(sha256, asyncio.Lock())
        async with lock:
            if await asyncio.to_thread(path.is_file):
                return await asyncio.to_thread(path.read_bytes)
            body = (await self._render(store, key, version_id, duration)).encode()
            await asyncio.to_thread(_write_atomically, path, body)
            return body

    async def _render(
        self, store: ObjectStore, key: str, version_id: str | None, duration: float
    ) -> str:
        async with temporary_directory("sd-wave-", self.temp_dir) as tmp:
            archive = tmp / "archive.ogg"
            stream = await store.get(key, version_id=version_id)
            fh = await asyncio.to_thread(archive.open, "wb")
            try:
                async with stream:
                    async for chunk in stream:
                        await asyncio.to_thread(fh.write, chunk)
            finally:
                await asyncio.to_thread(fh.close)
            peaks = await asyncio.to_thread(peaks_sync, archive, duration)
        return svg(peaks)


def _write_atomically(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
    os.replace(tmp, path)
