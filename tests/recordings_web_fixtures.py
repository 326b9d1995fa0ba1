"""Fixtures for the recordings web tests: the real admin app (create_app) on a migrated DB
with moto's S3 server behind the real minio SDK, one user and API token per role."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from admin_fixtures import PASSWORD, PASSWORD_HASH
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from admin.app import create_app
from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import StaffRole, StaffUser
from storage.objectstore import S3ObjectStore
from storage.services import access
from storage.services.audit import Actor

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
MAX_BYTES = 3 * 1024 * 1024
__all__ = ["s3_store_options", "vault"]


@dataclass
class Vault:
    client: TestClient
    clock: FrozenClock
    users: dict[StaffRole, StaffUser]
    tokens: dict[StaffRole, dict[str, str]]
    sessions: async_sessionmaker[AsyncSession]
    store: S3ObjectStore
    settings: Settings

    async def upload(
        self, path: Path | None, role: StaffRole = StaffRole.AGENT, **fields: str
    ) -> aiohttp.ClientResponse:
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        if path is not None:
            form.add_field("file", path.open("rb"), filename=path.name)
        return await self.client.post("/api/v1/recordings", data=form, headers=self.tokens[role])

    async def create(self, path: Path, **fields: str) -> dict[str, Any]:
        response = await self.upload(path, **fields)
        assert response.status == 201, await response.text()
        return await response.json()

    async def count(self, model: type) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def objects(self) -> int:
        return len(await self.store.list(""))

    async def login(self, role: StaffRole) -> str:
        """Log in with a fresh cookie jar; return the session's CSRF token."""
        client = self.client
        client.session.cookie_jar.clear()
        page = await client.get("/login")
        token = CSRF_RE.search(await page.text()).group(1)  # type: ignore[union-attr]
        response = await client.post(
            "/login",
            data={"username": self.users[role].username, "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()
        account = await client.get("/account")
        match = CSRF_RE.search(await account.text())
        assert match
        return match.group(1)


@pytest.fixture
def s3_store_options() -> dict[str, Any]:
    """Extra S3ObjectStore arguments (a module overrides it: short deadlines)."""
    return {}


@pytest.fixture
async def vault(
    aiohttp_client,
    engine,
    session_factory,
    tmp_path: Path,
    database_url: str,
    s3_endpoint,
    s3_bucket,
    s3_store_options: dict[str, Any],
) -> AsyncIterator[Vault]:
    clock = FrozenClock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        recording_max_bytes=MAX_BYTES,
        recording_max_seconds=120,
    )
    store = S3ObjectStore(s3_endpoint, "test", "testtest", s3_bucket, **s3_store_options)
    users: dict[StaffRole, StaffUser] = {}
    tokens: dict[StaffRole, dict[str, str]] = {}
    password_hash = PASSWORD_HASH
    async with session_factory() as session:
        for role in StaffRole:
            user = StaffUser(
                username=role.value.replace("_", "-"),
                display_name=role.value.title(),
                password_hash=password_hash,
                role=role,
                is_active=True,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
            session.add(user)
            users[role] = user
        await session.flush()
        for role in StaffRole:
            _, token = await access.create_api_token(
                session, clock, username=users[role].username, name="t", actor=Actor.system()
            )
            tokens[role] = {"Authorization": f"Bearer {token}"}
        await session.commit()
    client = await aiohttp_client(
        create_app(settings, clock=clock, engine=engine, object_store=store)
    )
    try:
        yield Vault(client, clock, users, tokens, session_factory, store, settings)
    finally:
        await store.close()
