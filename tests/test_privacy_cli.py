"""`supportdesk export` as an operator runs it: a real subprocess on the test database and
moto's S3."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.models import PrivacyDocument
from tests.privacy_fixtures import SUBJECT, PrivacyWorld, pworld

pytestmark = pytest.mark.storage
__all__ = ["pworld"]
CLI = [sys.executable, "-m", "admin.cli"]


async def test_export_writes_the_zip_and_keeps_a_temporary_copy(
    pworld: PrivacyWorld, tmp_path: Path, database_url: str, s3_endpoint: str, s3_bucket: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTDESK_")}
    env |= {
        "SUPPORTDESK_DATA_DIR": str(tmp_path / "var"),
        "SUPPORTDESK_DATABASE_URL": database_url,
        "SUPPORTDESK_S3_ENDPOINT": s3_endpoint,
        "SUPPORTDESK_S3_ACCESS_KEY": "test",
        "SUPPORTDESK_S3_SECRET_KEY": "testtest",
        "SUPPORTDESK_S3_BUCKET": s3_bucket,
    }
    out = tmp_path / "subject.zip"
    args = [*CLI, "export", "--contact", str(SUBJECT.contact_id), "--out", str(out)]
    done = await asyncio.to_thread(subprocess.run, args, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "removed after 7 days" in done.stdout
    names = zipfile.ZipFile(out).namelist()
    assert {"README.txt", "contact.json", "tickets.csv", "recordings.json"} <= set(names)
    async with pworld.sessions() as s:
        exports = list(
            await s.scalars(select(PrivacyDocument).where(PrivacyDocument.kind == "export"))
        )
    assert len(exports) == 1 and await pworld.store.exists(exports[0].object_key)
    missing = await asyncio.to_thread(
        subprocess.run,
        [*CLI, "export", "--contact", "99999"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert missing.returncode == 1 and "contact 99999 not found" in missing.stderr
