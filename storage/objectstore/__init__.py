"""Object store: one async contract, an S3/MinIO and a local-directory implementation."""

from storage.config import Settings
from storage.objectstore.base import (
    ByteRange,
    InvalidObjectKey,
    ObjectHeld,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailable,
    ObjectStream,
    ObjectVersion,
    PutResult,
    RangeNotSatisfiable,
    validate_key,
)
from storage.objectstore.local import LocalObjectStore
from storage.objectstore.s3 import S3ObjectStore


def create_object_store(settings: Settings) -> ObjectStore:
    """S3/MinIO when an endpoint is configured, otherwise a directory under DATA_DIR."""
    if settings.s3_endpoint:
        return S3ObjectStore(
            settings.s3_endpoint,
            settings.s3_access_key.get_secret_value(),
            settings.s3_secret_key.get_secret_value(),
            settings.s3_bucket,
            settings.s3_region,
            connect_timeout=settings.s3_connect_timeout,
            read_timeout=settings.s3_read_timeout,
        )
    return LocalObjectStore(settings.local_store_dir)


__all__ = [
    "ByteRange",
    "InvalidObjectKey",
    "LocalObjectStore",
    "ObjectHeld",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreError",
    "ObjectStoreUnavailable",
    "ObjectStream",
    "ObjectVersion",
    "PutResult",
    "RangeNotSatisfiable",
    "S3ObjectStore",
    "create_object_store",
    "validate_key",
]
