"""Bucket bootstrap for the recording archive on S3/MinIO.

`ensure_bucket` creates the bucket with object lock (hence versioning). `configure_lifecycle`
adds the lifecycle configuration: current versions tagged retention=standard expire after
90 days, noncurrent versions are removed a day later, expired delete markers are cleaned up.
MinIO's scanner runs late and at its own pace; our own sweeper (storage/retention) ends access on
time, the lifecycle is the safety net. Idempotent; a no-op for the local store.
"""

from __future__ import annotations

import asyncio
from typing import Any
from xml.etree import ElementTree

from minio.commonconfig import ENABLED, Filter, Tag
from minio.lifecycleconfig import (
    Expiration,
    LifecycleConfig,
    NoncurrentVersionExpiration,
    Rule,
)

from recordings.service import RETENTION_STANDARD, RETENTION_TAG
from storage.config import Settings
from storage.objectstore.base import ObjectStore

RETENTION_RULE_ID = "recordings-retention-standard-90d"
CLEANUP_RULE_ID = "recordings-noncurrent-and-delete-markers"
RETENTION_DAYS = 90
NONCURRENT_DAYS = 1


def lifecycle_config(days: int = RETENTION_DAYS) -> LifecycleConfig:
    return LifecycleConfig(
        [
            Rule(
                ENABLED,
                rule_filter=Filter(tag=Tag(RETENTION_TAG, RETENTION_STANDARD)),
                rule_id=RETENTION_RULE_ID,
                expiration=Expiration(days=days),
            ),
            Rule(
                ENABLED,
                rule_filter=Filter(prefix=""),
                rule_id=CLEANUP_RULE_ID,
                noncurrent_version_expiration=NoncurrentVersionExpiration(
                    noncurrent_days=NONCURRENT_DAYS
                ),
                expiration=Expiration(expired_object_delete_marker=True),
            ),
        ]
    )


def retention_days(settings: Settings) -> int:
    """The recordings period this deployment runs with (SUPPORTDESK_RETENTION_PERIODS may
    override the statement's 90 days): the bucket rule must never expire an object sooner
    than our own sweeper would delete it."""
    return max(1, int(settings.retention_period_days.get("recordings", RETENTION_DAYS)))


async def configure_lifecycle(store: ObjectStore, days: int = RETENTION_DAYS) -> bool:
    """Make sure the bucket exists (object lock + versioning) and carries the lifecycle
    rules. Returns True when the configuration was written, False when it was already in
    place or the store has no lifecycle (local directory)."""
    await store.ensure_bucket()
    client: Any = getattr(store, "client", None)
    bucket = getattr(store, "bucket", None)
    if store.kind != "s3" or client is None or bucket is None:
        return False
    wanted = lifecycle_config(days)

    def apply() -> bool:
        current = client.get_bucket_lifecycle(bucket)
        if current is not None and ElementTree.tostring(
            current.toxml(None)
        ) == ElementTree.tostring(wanted.toxml(None)):
            return False
        client.set_bucket_lifecycle(bucket, wanted)
        return True

    return await asyncio.to_thread(apply)
