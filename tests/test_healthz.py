"""/healthz through the real app factory."""

from __future__ import annotations

import pytest

from admin.app import OBJECT_STORE, create_app
from storage.config import Settings
from storage.objectstore import S3ObjectStore

pytestmark = pytest.mark.storage


async def test_healthz_reports_database_and_store(aiohttp_client, engine, settings) -> None:
    client = await aiohttp_client(create_app(settings, engine=engine))
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "dialect": engine.dialect.name}
    assert body["object_store"] == {"ok": True, "kind": "local", "state": "writable"}
    # Nothing about the server's file system for an anonymous caller, here or in /readyz.
    ready = await (await client.get("/readyz")).text()
    for text in (await response.text(), ready):
        assert str(settings.data_dir) not in text and "/objects" not in text, text


async def test_healthz_with_s3(aiohttp_client, engine, tmp_path, s3_endpoint, s3_bucket) -> None:
    settings = Settings(
        data_dir=tmp_path,
        s3_endpoint=s3_endpoint,
        s3_access_key="test",
        s3_secret_key="testtest",
        s3_bucket=s3_bucket,
    )
    client = await aiohttp_client(create_app(settings, engine=engine))
    body = await (await client.get("/healthz")).json()
    assert body["object_store"] == {
        "ok": True,
        "kind": "s3",
        "bucket": s3_bucket,
        "bucket_exists": True,
    }
    # Start-up bootstrapped the recording archive's 90-day lifecycle on the bucket.
    store = client.app[OBJECT_STORE]
    rules = store.client.get_bucket_lifecycle(s3_bucket).rules
    retention = next(rule for rule in rules if rule.expiration and rule.expiration.days)
    assert retention.expiration.days == 90
    assert (retention.rule_filter.tag.key, retention.rule_filter.tag.value) == (
        "retention",
        "standard",
    )


async def test_healthz_degraded_when_store_unreachable(aiohttp_client, engine, tmp_path) -> None:
    store = S3ObjectStore("http://127.0.0.1:9", "k", "s", "recordings")
    store.client._http.connection_pool_kw["retries"] = 0

    class Unbootstrapped:
        """The store went away after start-up: bootstrap passes, checks fail."""

        kind = "s3"

        async def ensure_bucket(self) -> None:
            return None

        async def check(self) -> dict[str, object]:
            return await store.check()

        async def close(self) -> None:
            return None

    settings = Settings(data_dir=tmp_path)
    app = create_app(settings, engine=engine, object_store=Unbootstrapped())  # type: ignore[arg-type]
    client = await aiohttp_client(app)
    response = await client.get("/healthz")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "degraded" and body["object_store"]["ok"] is False
    assert body["database"]["ok"] is True
