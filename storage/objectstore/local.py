"""Local-directory store for the embedded default: same contract as S3, one version per key.

Layout: <root>/data/<key> holds the bytes, <root>/meta/<key>.json the version id, content
type, tags and legal hold. Writes go to a temporary file first and are renamed into place.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.objectstore.base import (
    CHUNK_SIZE,
    ByteRange,
    ObjectHeld,
    ObjectInfo,
    ObjectNotFound,
    ObjectStream,
    ObjectVersion,
    PutResult,
    PutSource,
    sha256_of,
    validate_key,
)


class LocalObjectStore:
    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._data = self.root / "data"
        self._meta = self.root / "meta"
        self._lock = asyncio.Lock()  # serialises metadata read-modify-write in this process

    def _paths(self, key: str) -> tuple[Path, Path]:
        validate_key(key)
        data, meta = self._data / key, self._meta / f"{key}.json"
        # validate_key already refuses traversal; this guards against symlinks in the tree.
        if self._data not in data.resolve().parents:
            raise ObjectNotFound(key)
        return data, meta

    async def ensure_bucket(self) -> None:
        await asyncio.to_thread(self._make_dirs)

    async def bucket_exists(self) -> bool:
        return await asyncio.to_thread(self._data.is_dir)

    def _make_dirs(self) -> None:
        self._data.mkdir(parents=True, exist_ok=True)
        self._meta.mkdir(parents=True, exist_ok=True)

    def _read_meta(self, key: str, version_id: str | None = None) -> dict[str, Any]:
        data, meta = self._paths(key)
        try:
            record = json.loads(meta.read_text())
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        if not data.exists() or (version_id and record["version_id"] != version_id):
            raise ObjectNotFound(key)
        return record

    def _write_meta(self, key: str, record: dict[str, Any]) -> None:
        _, meta = self._paths(key)
        meta.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(meta, json.dumps(record).encode())

    async def put(
        self,
        key: str,
        source: PutSource,
        *,
        content_type: str = "application/octet-stream",
        tags: dict[str, str] | None = None,
    ) -> PutResult:
        data, _ = self._paths(key)

        def write() -> PutResult:
            try:
                current = self._read_meta(key)
            except ObjectNotFound:
                current = None
            if current and current.get("legal_hold"):
                raise ObjectHeld(f"{key} is under legal hold and cannot be overwritten")
            digest, size = sha256_of(source)
            data.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=data.parent, prefix=".put-")
            try:
                with os.fdopen(fd, "wb") as out:
                    if isinstance(source, bytes):
                        out.write(source)
                    elif isinstance(source, Path):
                        with source.open("rb") as src:
                            shutil.copyfileobj(src, out, CHUNK_SIZE)
                    else:
                        shutil.copyfileobj(source, out, CHUNK_SIZE)
                os.replace(tmp, data)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            version_id = uuid.uuid4().hex
            self._write_meta(
                key,
                {
                    "version_id": version_id,
                    "content_type": content_type,
                    "tags": dict(tags or {}),
                    "legal_hold": False,
                    "last_modified": datetime.now(UTC).isoformat(),
                    "size": size,
                },
            )
            return PutResult(key=key, version_id=version_id, size=size, sha256=digest)

        async with self._lock:
            return await asyncio.to_thread(write)

    async def stat(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        record = await asyncio.to_thread(self._read_meta, key, version_id)
        return _info(key, record)

    async def exists(self, key: str, *, version_id: str | None = None) -> bool:
        try:
            await self.stat(key, version_id=version_id)
        except ObjectNotFound:
            return False
        return True

    async def get(
        self, key: str, *, version_id: str | None = None, byte_range: ByteRange | None = None
    ) -> ObjectStream:
        data, _ = self._paths(key)
        info = await self.stat(key, version_id=version_id)
        first, last = (0, info.size - 1) if byte_range is None else byte_range.resolve(info.size)
        try:
            handle = await asyncio.to_thread(data.open, "rb")
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        return ObjectStream(
            info=info, first=first, last=last, _chunks=_read_file(handle, first, last)
        )

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        data, meta = self._paths(key)

        def remove() -> None:
            try:
                record = self._read_meta(key)
            except ObjectNotFound:
                return
            if version_id and record["version_id"] != version_id:
                return
            if record.get("legal_hold"):
                raise ObjectHeld(f"{key} is under legal hold")
            data.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)

        async with self._lock:
            await asyncio.to_thread(remove)

    async def get_tags(self, key: str, *, version_id: str | None = None) -> dict[str, str]:
        record = await asyncio.to_thread(self._read_meta, key, version_id)
        return dict(record.get("tags", {}))

    async def set_tags(
        self, key: str, tags: dict[str, str], *, version_id: str | None = None
    ) -> None:
        await self._update(key, version_id, tags=dict(tags))

    async def set_legal_hold(self, key: str, on: bool, *, version_id: str | None = None) -> None:
        await self._update(key, version_id, legal_hold=on)

    async def is_legal_hold(self, key: str, *, version_id: str | None = None) -> bool:
        record = await asyncio.to_thread(self._read_meta, key, version_id)
        return bool(record.get("legal_hold"))

    async def _update(self, key: str, version_id: str | None, **changes: Any) -> None:
        def update() -> None:
            record = self._read_meta(key, version_id)
            record.update(changes)
            self._write_meta(key, record)

        async with self._lock:
            await asyncio.to_thread(update)

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        def collect() -> list[ObjectInfo]:
            found = []
            if not self._meta.exists():
                return found
            for meta in sorted(self._meta.rglob("*.json")):
                key = meta.relative_to(self._meta).as_posix()[: -len(".json")]
                if key.startswith(prefix) and (self._data / key).exists():
                    found.append(_info(key, json.loads(meta.read_text())))
            return found

        return await asyncio.to_thread(collect)

    async def list_versions(self, prefix: str = "") -> list[ObjectVersion]:
        return [
            ObjectVersion(
                key=info.key,
                version_id=info.version_id,
                is_delete_marker=False,
                is_latest=True,
                size=info.size,
                last_modified=info.last_modified,
            )
            for info in await self.list(prefix)
        ]

    async def remove_delete_marker(self, key: str, version_id: str) -> None:
        validate_key(key)
        raise ObjectNotFound(f"{key}: no delete marker {version_id} (this store keeps none)")

    async def check(self) -> dict[str, object]:
        writable = await asyncio.to_thread(os.access, self.root, os.W_OK)
        if not writable:
            raise OSError(f"object store directory {self.root} is not writable")
        # No path: /healthz and /readyz show this to anonymous callers.
        return {"kind": self.kind, "state": "writable"}

    async def close(self) -> None:
        return None


def _info(key: str, record: dict[str, Any]) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=int(record["size"]),
        version_id=record["version_id"],
        content_type=record.get("content_type", "application/octet-stream"),
        last_modified=datetime.fromisoformat(record["last_modified"]),
    )


def _atomic_write(path: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".meta-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def _read_file(handle: Any, first: int, last: int) -> AsyncIterator[bytes]:
    try:
        await asyncio.to_thread(handle.seek, first)
        remaining = last - first + 1
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)
