"""Is what we rely on for backups and retention in place? (`supportdesk backup-check`,
admin/cli/ops.py, prints these checks.)

Checks the bucket (exists, versioning on, object lock on, the 90-day lifecycle rules) and
the database (reachable, schema at the newest migration). Prints one line per check and
exits 1 when any check fails, so cron or CI can alert on it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from minio.error import S3Error
from sqlalchemy.ext.asyncio import AsyncEngine

from recordings.archive import CLEANUP_RULE_ID, RETENTION_RULE_ID
from recordings.service import RETENTION_STANDARD, RETENTION_TAG
from storage import migrate
from storage.objectstore import ObjectStore, S3ObjectStore


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


async def check_database(engine: AsyncEngine) -> list[Check]:
    try:
        revision = await migrate.current_revision(engine)
    except Exception as exc:
        return [Check("database", False, f"unreachable ({type(exc).__name__})")]
    head = migrate.head_revision()
    if revision == head:
        return [Check("database migrations", True, f"at head {head}")]
    return [
        Check(
            "database migrations",
            False,
            f"at {revision or 'no revision'}, head is {head}: run `supportdesk migrate`",
        )
    ]


def _lifecycle_checks(client: object, bucket: str, wanted_days: int) -> list[Check]:
    config = client.get_bucket_lifecycle(bucket)  # type: ignore[attr-defined]
    rules = {rule.rule_id: rule for rule in (config.rules if config else [])}
    checks: list[Check] = []
    retention = rules.get(RETENTION_RULE_ID)
    tag = retention.rule_filter.tag if retention and retention.rule_filter else None
    days = retention.expiration.days if retention and retention.expiration else None
    wanted_tag = f"{RETENTION_TAG}={RETENTION_STANDARD}"
    if (
        retention is not None
        and retention.status == "Enabled"
        and tag is not None
        and (tag.key, tag.value) == (RETENTION_TAG, RETENTION_STANDARD)
        and days == wanted_days
    ):
        checks.append(
            Check(
                f"lifecycle {wanted_days}-day rule",
                True,
                f"{wanted_tag} objects expire after {wanted_days} days",
            )
        )
    else:
        found = "missing" if retention is None else f"found expiration {days} days, tag {tag}"
        checks.append(
            Check(
                f"lifecycle {wanted_days}-day rule",
                False,
                f"rule {RETENTION_RULE_ID} {found}; `supportdesk serve` writes it at start-up",
            )
        )
    cleanup = rules.get(CLEANUP_RULE_ID)
    noncurrent = cleanup.noncurrent_version_expiration if cleanup else None
    checks.append(
        Check(
            "lifecycle noncurrent versions",
            noncurrent is not None and cleanup is not None and cleanup.status == "Enabled",
            "old versions and delete markers are cleaned up"
            if noncurrent is not None
            else f"rule {CLEANUP_RULE_ID} missing: deleted recordings would linger as versions",
        )
    )
    return checks


def check_bucket(store: S3ObjectStore, days: int) -> list[Check]:
    """Blocking (minio SDK): run in a thread."""
    client, bucket = store.client, store.bucket
    if not client.bucket_exists(bucket):
        return [Check("bucket", False, f"{bucket} does not exist")]
    checks = [Check("bucket", True, f"{bucket} exists at {store.endpoint}")]
    status = client.get_bucket_versioning(bucket).status
    checks.append(
        Check(
            "versioning",
            status == "Enabled",
            "enabled" if status == "Enabled" else f"{status}: versioning must be Enabled",
        )
    )
    try:
        client.get_object_lock_config(bucket)
        checks.append(Check("object lock", True, "enabled"))
    except S3Error as exc:
        checks.append(
            Check(
                "object lock",
                False,
                f"not enabled ({exc.code}); it can only be enabled when the bucket is created",
            )
        )
    return checks + _lifecycle_checks(client, bucket, days)


async def run_checks(engine: AsyncEngine, store: ObjectStore, days: int) -> list[Check]:
    """The database's migration level, then the bucket's settings for a `days` retention."""
    checks = await check_database(engine)
    if isinstance(store, S3ObjectStore):
        try:
            checks += await asyncio.to_thread(check_bucket, store, days)
        except Exception as exc:
            checks.append(Check("object store", False, f"unreachable ({type(exc).__name__})"))
    else:
        checks.append(
            Check(
                "object store",
                False,
                "local directory: no versioning, object lock or lifecycle; "
                "use S3/MinIO in production (back up DATA_DIR/objects meanwhile)",
            )
        )
    return checks
