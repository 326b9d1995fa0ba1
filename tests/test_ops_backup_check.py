"""`supportdesk backup-check` against moto's S3 server and a real database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from admin.cli import main
from recordings.archive import RETENTION_RULE_ID, configure_lifecycle, retention_days
from storage import migrate
from storage.db import create_engine
from storage.objectstore import S3ObjectStore

pytestmark = pytest.mark.storage


async def _migrate(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine, revision)
    finally:
        await engine.dispose()


def _env(tmp_path: Path, database_url: str, endpoint: str = "", bucket: str = "") -> dict:
    env = {"SUPPORTDESK_DATA_DIR": str(tmp_path), "SUPPORTDESK_DATABASE_URL": database_url}
    if endpoint:
        env |= {
            "SUPPORTDESK_S3_ENDPOINT": endpoint,
            "SUPPORTDESK_S3_ACCESS_KEY": "test",
            "SUPPORTDESK_S3_SECRET_KEY": "testtest",
            "SUPPORTDESK_S3_BUCKET": bucket,
        }
    return env


def _report(output: str) -> dict[str, str]:
    """check name -> 'ok' | 'PROBLEM'."""
    lines = [line for line in output.splitlines() if line.startswith("[")]
    return {line[10:].split("  ")[0].strip(): line[1:8].strip() for line in lines}


def test_backup_check_passes_on_a_bootstrapped_bucket(
    tmp_path: Path, database_url: str, s3_endpoint: str, s3_bucket: str
) -> None:
    store = S3ObjectStore(s3_endpoint, "test", "testtest", s3_bucket)
    asyncio.run(configure_lifecycle(store))
    result = CliRunner().invoke(
        main, ["backup-check"], env=_env(tmp_path, database_url, s3_endpoint, s3_bucket)
    )
    assert result.exit_code == 0, result.output
    assert _report(result.output) == {
        "database migrations": "ok",
        "bucket": "ok",
        "versioning": "ok",
        "object lock": "ok",
        "lifecycle 90-day rule": "ok",
        "lifecycle noncurrent versions": "ok",
    }
    assert result.output.strip().endswith("all checks passed")
    assert f"at head {migrate.head_revision()}" in result.output


def test_backup_check_reports_every_gap(
    tmp_path: Path, empty_database_url: str, s3_endpoint: str, s3_bucket: str
) -> None:
    database_url = empty_database_url
    behind = migrate.all_revisions()[-2]
    asyncio.run(_migrate(database_url, behind))
    store = S3ObjectStore(s3_endpoint, "test", "testtest", s3_bucket)
    store.client.make_bucket(s3_bucket)  # plain bucket: no object lock, no versioning
    result = CliRunner().invoke(
        main, ["backup-check"], env=_env(tmp_path, database_url, s3_endpoint, s3_bucket)
    )
    assert result.exit_code == 1, result.output
    assert _report(result.output) == {
        "database migrations": "PROBLEM",
        "bucket": "ok",
        "versioning": "PROBLEM",
        "object lock": "PROBLEM",
        "lifecycle 90-day rule": "PROBLEM",
        "lifecycle noncurrent versions": "PROBLEM",
    }
    assert f"at {behind}, head is {migrate.head_revision()}" in result.output
    assert "only be enabled when the bucket is created" in result.output
    assert result.output.strip().endswith("5 problem(s)")


def test_backup_check_flags_missing_bucket_and_local_store(
    tmp_path: Path, database_url: str, s3_endpoint: str, s3_bucket: str
) -> None:
    missing = CliRunner().invoke(
        main, ["backup-check"], env=_env(tmp_path, database_url, s3_endpoint, s3_bucket)
    )
    assert missing.exit_code == 1
    assert _report(missing.output) == {"database migrations": "ok", "bucket": "PROBLEM"}
    local = CliRunner().invoke(main, ["backup-check"], env=_env(tmp_path, database_url))
    assert local.exit_code == 1
    assert _report(local.output) == {"database migrations": "ok", "object store": "PROBLEM"}
    assert "local directory" in local.output


def test_a_longer_recordings_period_reaches_the_bucket_rule(
    tmp_path: Path, database_url: str, s3_endpoint: str, s3_bucket: str
) -> None:
    """SUPPORTDESK_RETENTION_PERIODS may keep recordings longer than 90 days; the bucket's
    own expiry must then not delete them sooner than the app promises."""
    from storage.config import Settings

    store = S3ObjectStore(s3_endpoint, "test", "testtest", s3_bucket)
    settings = Settings(data_dir=tmp_path, retention_periods='{"recordings": 120}')
    asyncio.run(configure_lifecycle(store, retention_days(settings)))
    config = store.client.get_bucket_lifecycle(s3_bucket)
    [rule] = [r for r in config.rules if r.rule_id == RETENTION_RULE_ID]
    assert rule.expiration.days == 120
    env = _env(tmp_path, database_url, s3_endpoint, s3_bucket)
    ok = CliRunner().invoke(
        main, ["backup-check"], env=env | {"SUPPORTDESK_RETENTION_PERIODS": '{"recordings": 120}'}
    )
    assert ok.exit_code == 0 and _report(ok.output)["lifecycle 120-day rule"] == "ok", ok.output
    default = CliRunner().invoke(main, ["backup-check"], env=env)
    assert default.exit_code == 1 and _report(default.output)["lifecycle 90-day rule"] == "PROBLEM"
