"""`supportdesk export` as an operator runs it (in-process) on the test database and moto's
S3."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.models import PrivacyDocument
from tests.cli_fixtures import Env, ainvoke, cli_env
from tests.privacy_fixtures import SUBJECT, PrivacyWorld, pworld

pytestmark = pytest.mark.storage
__all__ = ["pworld"]


def _env(tmp_path: Path, database_url: str, s3_endpoint: str, s3_bucket: str) -> Env:
    return cli_env(
        tmp_path / "var",
        database_url,
        SUPPORTDESK_S3_ENDPOINT=s3_endpoint,
        SUPPORTDESK_S3_ACCESS_KEY="test",
        SUPPORTDESK_S3_SECRET_KEY="testtest",
        SUPPORTDESK_S3_BUCKET=s3_bucket,
    )


async def test_export_writes_the_zip_and_keeps_a_temporary_copy(
    pworld: PrivacyWorld, tmp_path: Path, database_url: str, s3_endpoint: str, s3_bucket: str
) -> None:
    env = _env(tmp_path, database_url, s3_endpoint, s3_bucket)
    out = tmp_path / "subject.zip"
    done = await ainvoke(env, "export", "--contact", str(SUBJECT.contact_id), "--out", str(out))
    assert done.exit_code == 0, done.stderr
    assert "removed after 7 days" in done.stdout
    names = zipfile.ZipFile(out).namelist()
    assert {"README.txt", "contact.json", "tickets.csv", "recordings.json"} <= set(names)
    async with pworld.sessions() as s:
        exports = list(
            await s.scalars(select(PrivacyDocument).where(PrivacyDocument.kind == "export"))
        )
    assert len(exports) == 1 and await pworld.store.exists(exports[0].object_key)
    missing = await ainvoke(env, "export", "--contact", "99999")
    assert missing.exit_code == 1 and "contact 99999 not found" in missing.stderr


async def test_export_without_out_writes_to_the_working_directory(
    pworld: PrivacyWorld,
    tmp_path: Path,
    database_url: str,
    s3_endpoint: str,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    env = _env(tmp_path, database_url, s3_endpoint, s3_bucket)
    done = await ainvoke(env, "export", "--contact", str(SUBJECT.contact_id))
    name = f"export-contact-{SUBJECT.contact_id}.zip"
    assert done.exit_code == 0 and done.stdout.startswith(name), done.stderr
    assert "contact.json" in zipfile.ZipFile(tmp_path / name).namelist()
