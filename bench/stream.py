"""Streaming benchmark (issue 5): a large recording through the admin's audio route vs a
direct GET of the same object from the same S3 endpoint (moto's server), in one run.

    .venv/bin/python bench/stream.py [--size-mb 100] [--rounds 2]

moto and the admin (`supportdesk serve`) each run in their own process; this process is
only the HTTP client, reading both bodies the same way. Prints the throughput of each, the
ratio admin/direct (target >= 0.9) and the admin process's RSS growth while streaming
(target < 20 MB), sampled from /proc every 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from argon2 import PasswordHasher

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recordings.archive import configure_lifecycle  # noqa: E402
from storage import migrate  # noqa: E402
from storage.clock import SystemClock  # noqa: E402
from storage.db import create_engine, create_sessionmaker  # noqa: E402
from storage.models import Recording, StaffRole, StaffUser  # noqa: E402
from storage.objectstore import S3ObjectStore  # noqa: E402
from storage.services import access  # noqa: E402
from storage.services.audit import Actor  # noqa: E402

BUCKET = "bench-recordings"
READ = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _wait_http(url: str, patience: float = 60) -> None:
    deadline = time.monotonic() + patience
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up")
            await asyncio.sleep(0.2)


def _random_file(path: Path, size: int) -> None:
    with path.open("wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * READ))
            fh.write(chunk)
            left -= len(chunk)


async def _prepare(data_dir: Path, endpoint: str, size: int) -> tuple[str, str, int]:
    """Migrate, add a user + token and a recording row over a `size`-byte object."""
    store = S3ObjectStore(endpoint, "bench", "benchbench", BUCKET)
    await configure_lifecycle(store)
    source = data_dir / "big.ogg"
    await asyncio.to_thread(_random_file, source, size)
    put = await store.put(
        "recordings/bench/big.ogg", source, content_type="audio/ogg", tags={"retention": "standard"}
    )
    source.unlink()
    direct = await asyncio.to_thread(
        store.client.presigned_get_object, BUCKET, put.key, version_id=put.version_id
    )
    await store.close()
    engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'supportdesk.sqlite3'}")
    await migrate.upgrade(engine)
    now = datetime.now(UTC)
    async with create_sessionmaker(engine)() as session:
        session.add(
            StaffUser(
                username="bench",
                password_hash=PasswordHasher().hash("bench bench bench"),
                role=StaffRole.AGENT,
                is_active=True,
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        _, token = await access.create_api_token(
            session, SystemClock(), username="bench", name="bench", actor=Actor.system()
        )
        recording = Recording(
            object_key=put.key,
            version_id=put.version_id,
            sha256_original=hashlib.sha256(b"bench").hexdigest(),
            sha256_archive=put.sha256,
            duration_seconds=3600.0,
            original_format="wav/pcm_mulaw",
            sample_rate=8000,
            channels=1,
            original_size=size,
            archive_size=size,
            original_filename="big.wav",
            call_started_at=now,
            caller_withheld=False,
            created_at=now,
            expires_at=now + timedelta(days=90),
        )
        session.add(recording)
        await session.commit()
        ident = recording.id
    await engine.dispose()
    return direct, token, ident


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_kb(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _download(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    """Seconds to read the whole body, discarding it chunk by chunk."""
    started = time.perf_counter()
    received = 0
    async with http.get(url, headers=headers) as response:
        response.raise_for_status()
        async for chunk in response.content.iter_chunked(READ):
            received += len(chunk)
        expected = int(response.headers["Content-Length"])
    if received != expected:
        raise RuntimeError(f"short body from {url}: {received} of {expected}")
    return time.perf_counter() - started


async def _first_byte(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    """Best of 5 whole-object GETs left after the first chunk: the fixed cost per request
    (for the admin: auth, audit, stat)."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        async with http.get(url, headers=headers) as response:
            await response.content.read(1)
            best = min(best, time.perf_counter() - started)
            response.close()
    return best


async def main(size_mb: int, rounds: int) -> None:
    size = size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="sd-bench-") as tmp:
        data_dir = Path(tmp)
        s3_port, admin_port = _free_port(), _free_port()
        endpoint = f"http://127.0.0.1:{s3_port}"
        moto = await asyncio.create_subprocess_exec(
            *[
                str(Path(sys.executable).parent / "moto_server"),
                "-H",
                "127.0.0.1",
                "-p",
                str(s3_port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        admin = None
        try:
            await _wait_http(endpoint)
            direct_url, token, ident = await _prepare(data_dir, endpoint, size)
            env = {
                **os.environ,
                "SUPPORTDESK_DATA_DIR": str(data_dir),
                "SUPPORTDESK_S3_ENDPOINT": endpoint,
                "SUPPORTDESK_S3_ACCESS_KEY": "bench",
                "SUPPORTDESK_S3_SECRET_KEY": "benchbench",
                "SUPPORTDESK_S3_BUCKET": BUCKET,
                "SUPPORTDESK_LOG_LEVEL": "WARNING",
            }
            admin = await asyncio.create_subprocess_exec(
                *[
                    str(Path(sys.executable).parent / "supportdesk"),
                    "serve",
                    "--port",
                    str(admin_port),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
            )
            admin_base = f"http://127.0.0.1:{admin_port}"
            await _wait_http(admin_base + "/healthz")
            admin_url = f"{admin_base}/api/v1/recordings/{ident}/audio"
            auth = {"Authorization": f"Bearer {token}"}
            timeout = aiohttp.ClientTimeout(total=None)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                # Warm both paths (connections, imports, the play session row).
                for url, headers in ((direct_url, {}), (admin_url, auth)):
                    async with http.get(url, headers={**headers, "Range": "bytes=0-1023"}) as r:
                        await r.read()
                ttfb = [
                    await _first_byte(http, direct_url, {}),
                    await _first_byte(http, admin_url, auth),
                ]
                baseline = _rss_kb(admin.pid)
                direct_times, admin_times, admin_cpu = [], [], 0.0
                with RssSampler(admin.pid) as sampler:
                    for _ in range(rounds):
                        direct_times.append(await _download(http, direct_url, {}))
                        cpu_before = _cpu_seconds(admin.pid)
                        admin_times.append(await _download(http, admin_url, auth))
                        admin_cpu += _cpu_seconds(admin.pid) - cpu_before
            direct_best, admin_best = min(direct_times), min(admin_times)
            direct_mbs, admin_mbs = size_mb / direct_best, size_mb / admin_best
            growth_mb = (sampler.peak - baseline) / 1024
            print(f"object: {size_mb} MB, rounds: {rounds} (best of each)")
            print(f"direct S3 GET : {direct_mbs:8.1f} MB/s  ({direct_best:.2f} s)")
            print(f"admin route   : {admin_mbs:8.1f} MB/s  ({admin_best:.2f} s)")
            print(f"ratio admin/direct: {admin_mbs / direct_mbs:.2f} (target >= 0.9)")
            load = os.getloadavg()[0]
            print(f"admin CPU per transfer: {admin_cpu / rounds:.2f} s (load average {load:.1f})")
            print(
                f"time to first byte: direct {ttfb[0] * 1000:.1f} ms, admin {ttfb[1] * 1000:.1f} ms"
            )
            print(
                f"admin RSS: {baseline / 1024:.1f} MB before, peak {sampler.peak / 1024:.1f} MB, "
                f"growth {growth_mb:.1f} MB (target < 20 MB)"
            )
        finally:
            for proc in (admin, moto):
                if proc is not None:
                    proc.terminate()
                    await proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.size_mb, args.rounds))
