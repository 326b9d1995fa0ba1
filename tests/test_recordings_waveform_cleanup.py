"""A rendered waveform is cached by the archive's sha256; every delete path (the API's
hold-checked delete, the periodic sweep in `serve`, `supportdesk sweep` and
`reconcile --fix`) removes the deleted recording's picture and leaves the others."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from recording_audio_helpers import make_audio
from recordings_web_fixtures import *  # noqa: F403  (fixture: vault)
from recordings_web_fixtures import Vault
from retention_helpers import T0, recording
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from admin.app import create_app
from admin.keys import SESSIONMAKER
from recordings.waveform import cache_dir, waveform_path
from storage.clock import FrozenClock
from storage.config import Settings
from storage.models import Recording, RetentionRun, StaffRole
from storage.objectstore import LocalObjectStore
from tests.cli_fixtures import ainvoke, cli_env

pytestmark = pytest.mark.storage
LATE = T0.replace(year=T0.year + 3) + timedelta(seconds=1)  # past every retention period


async def test_api_delete_removes_the_cached_waveform_held_one_keeps_it(
    vault: Vault, tmp_path: Path
) -> None:
    gone = await vault.create(make_audio(tmp_path, "mp3", seconds=1, frequency=500))
    held = await vault.create(make_audio(tmp_path, "mp3", seconds=1, frequency=700))
    officer = vault.tokens[StaffRole.PRIVACY_OFFICER]
    await vault.login(StaffRole.PRIVACY_OFFICER)
    pictures = {}
    for rec in (gone, held):
        response = await vault.client.get(f"/recordings/{rec['id']}/waveform.svg")
        assert response.status == 200
        pictures[rec["id"]] = waveform_path(
            cache_dir(vault.settings.data_dir), rec["sha256_archive"]
        )
        assert pictures[rec["id"]].is_file()
    placed = await vault.client.post(
        f"/api/v1/recordings/{held['id']}/holds",
        json={"kind": "evidence", "reason": "dispute"},
        headers=officer,
    )
    assert placed.status == 201

    refused = await vault.client.delete(
        f"/api/v1/recordings/{held['id']}", json={"reason": "x"}, headers=officer
    )
    assert refused.status == 409
    deleted = await vault.client.delete(
        f"/api/v1/recordings/{gone['id']}", json={"reason": "x"}, headers=officer
    )
    assert deleted.status == 204
    assert not pictures[gone["id"]].exists()
    assert pictures[held["id"]].is_file()  # held: the recording and its picture stay


async def _recording_with_picture(
    sessions: async_sessionmaker[AsyncSession], store: LocalObjectStore, data_dir: Path
) -> tuple[int, Path]:
    async with sessions() as session:
        row = await recording(session, store, T0)
        ident, sha = row.id, row.sha256_archive
        await session.commit()
    picture = waveform_path(cache_dir(data_dir), sha)
    picture.parent.mkdir(parents=True, exist_ok=True)
    picture.write_text("<svg/>")
    return ident, picture


def _live_picture(data_dir: Path) -> Path:
    """A cached picture of no deleted recording: must survive every delete."""
    other = waveform_path(cache_dir(data_dir), "f" * 64)
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_text("<svg/>")
    return other


async def test_periodic_sweep_in_serve_removes_the_cached_waveform(
    aiohttp_client,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    store = LocalObjectStore(settings.data_dir / "objects")
    app = create_app(
        settings.model_copy(update={"retention_sweep_interval": 1}),
        clock=FrozenClock(LATE),
        engine=engine,
        object_store=store,
    )
    ident, picture = await _recording_with_picture(session_factory, store, settings.data_dir)
    other = _live_picture(settings.data_dir)
    client = await aiohttp_client(app)
    async with asyncio.timeout(15):
        while True:
            async with client.server.app[SESSIONMAKER]() as s:
                run = await s.scalar(select(RetentionRun).where(RetentionRun.trigger == "serve"))
            if run is not None and run.status == "done":
                break
            await asyncio.sleep(0.2)
    async with session_factory() as s:
        assert await s.get(Recording, ident) is None
    assert not picture.exists() and other.is_file()


async def test_cli_sweep_and_reconcile_remove_the_cached_waveform(
    tmp_path: Path, database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    data_dir = tmp_path / "var"
    store = LocalObjectStore(data_dir / "objects")
    swept, swept_picture = await _recording_with_picture(session_factory, store, data_dir)
    lost, lost_picture = await _recording_with_picture(session_factory, store, data_dir)
    other = _live_picture(data_dir)
    async with session_factory() as s:
        row = await s.get(Recording, lost)
        assert row is not None
        await store.delete(row.object_key)  # its object is lost: reconcile drops the row
        row.expires_at = LATE + timedelta(days=1)  # and the sweep leaves it to reconcile
        await s.commit()

    env = cli_env(data_dir, database_url)
    done = await ainvoke(env, "sweep", "--now", LATE.isoformat())
    assert done.exit_code == 0, done.stderr
    assert not swept_picture.exists() and lost_picture.is_file()
    fixed = await ainvoke(env, "reconcile", "--fix")
    assert fixed.exit_code == 0, fixed.stderr
    async with session_factory() as s:
        assert await s.get(Recording, swept) is None and await s.get(Recording, lost) is None
    assert not lost_picture.exists() and other.is_file()
