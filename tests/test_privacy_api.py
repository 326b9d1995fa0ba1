"""Privacy requests through the JSON API (/api/v1/privacy-requests) on the real app and
moto's S3: record, ID copy, verify (the copy deleted), export and its ZIP, erase with its
items, read; roles (privacy officer and admin only), bad input (422, nothing stored), 409
for an action that does not fit the request."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from admin.api import OPENAPI
from admin.app import create_app
from storage.config import Settings
from storage.models import (
    ContactPerson,
    DocumentKind,
    PrivacyDocument,
    PrivacyRequest,
    StaffRole,
    StaffUser,
)
from storage.services import access
from storage.services.audit import Actor
from tests.privacy_fixtures import NOW, OTHER, SUBJECT, PrivacyWorld, pworld

pytestmark = pytest.mark.storage
__all__ = ["pworld"]
BASE = "/api/v1/privacy-requests"


@pytest.fixture
async def api(
    aiohttp_client, engine, settings: Settings, pworld: PrivacyWorld
) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    async with pworld.sessions() as s:
        for role in (StaffRole.AGENT, StaffRole.ADMIN):
            s.add(
                StaffUser(
                    username=role.value, password_hash="x", role=role,
                    created_at=NOW, updated_at=NOW,
                )
            )  # fmt: skip
        await s.commit()
    app = create_app(settings, clock=pworld.clock, engine=engine, object_store=pworld.store)
    yield await aiohttp_client(app)


async def _headers(world: PrivacyWorld, username: str = "privacy-officer") -> dict[str, str]:
    async with world.sessions() as session:
        _, token = await access.create_api_token(
            session, world.clock, username=username, name="t", actor=Actor.system()
        )
        await session.commit()
    return {"Authorization": f"Bearer {token}"}


async def _requests(world: PrivacyWorld) -> int:
    async with world.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(PrivacyRequest)) or 0)


def _file(body: bytes, content_type: str) -> FormData:
    form = FormData()
    form.add_field("file", body, filename="id.pdf", content_type=content_type)
    return form


async def test_record_upload_verify_export_and_read(api: TestClient, pworld: PrivacyWorld):
    headers = await _headers(pworld)
    body = {"contact_id": OTHER.contact_id, "kind": "access", "channel": "bot"}
    created = await api.post(BASE, json=body, headers=headers)
    assert created.status == 201
    item = await created.json()
    assert item["kind"] == "access" and item["status"] == "received" and item["channel"] == "bot"
    rid = item["id"]
    async with pworld.sessions() as s:
        row = await s.get(PrivacyRequest, rid)
        assert row is not None and row.channel == "telegram" and row.contact_id == OTHER.contact_id

    # Verify before any ID copy: refused, nothing changed.
    early = await api.post(f"{BASE}/{rid}/verify", json={}, headers=headers)
    assert early.status == 409
    assert (await (await api.get(f"{BASE}/{rid}", headers=headers)).json())["status"] == "received"
    bad_type = await api.post(
        f"{BASE}/{rid}/id-copy", data=_file(b"GIF89a", "image/gif"), headers=headers
    )
    assert bad_type.status == 422
    uploaded = await api.post(
        f"{BASE}/{rid}/id-copy", data=_file(b"%PDF-1.4 paspoort", "application/pdf"),
        headers=headers,
    )  # fmt: skip
    assert uploaded.status == 201
    document_id = (await uploaded.json())["id"]
    async with pworld.sessions() as s:
        copies = list(
            await s.scalars(
                select(PrivacyDocument).where(
                    PrivacyDocument.request_id == rid, PrivacyDocument.kind == DocumentKind.ID_COPY
                )
            )
        )
        assert [d.id for d in copies] == [document_id]  # the refused GIF left nothing
        key = copies[0].object_key
    assert await pworld.store.exists(key)

    # The export is built at once but handed out only after verification.
    made = await api.post(f"{BASE}/{rid}/export", headers=headers)
    assert made.status == 201
    assert (await api.get(f"{BASE}/{rid}/export", headers=headers)).status == 409

    verified = await api.post(f"{BASE}/{rid}/verify", json={}, headers=headers)
    assert verified.status == 200 and (await verified.json())["status"] == "verified"
    assert not await pworld.store.exists(key)  # the ID copy went at verification
    again = await api.post(f"{BASE}/{rid}/verify", json={}, headers=headers)
    assert again.status == 409

    download = await api.get(f"{BASE}/{rid}/export", headers=headers)
    assert download.status == 200 and download.content_type == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(await download.read()))
    contents = "".join(archive.read(n).decode(errors="ignore") for n in archive.namelist())
    assert OTHER.email in contents

    read = await (await api.get(f"{BASE}/{rid}", headers=headers)).json()
    assert read["id"] == rid and read["status"] == "verified" and read["items"] == []
    assert read["verified_at"] is not None
    # Not an erasure request: erase is refused, nothing erased.
    refused = await api.post(f"{BASE}/{rid}/erase", headers=headers)
    assert refused.status == 409
    assert (await refused.json())["error"]["code"] == "conflict"
    async with pworld.sessions() as s:
        assert await s.get(ContactPerson, OTHER.contact_id) is not None


async def test_erase_returns_items_and_the_request_keeps_them(
    api: TestClient, pworld: PrivacyWorld
) -> None:
    """The fixture's erasure request (ID copy uploaded, an evidence-held recording)."""
    headers = await _headers(pworld, "admin")
    rid = pworld.request_id
    unverified = await api.post(f"{BASE}/{rid}/erase", headers=headers)
    assert unverified.status == 409
    assert (await api.post(f"{BASE}/{rid}/verify", json={}, headers=headers)).status == 200
    erased = await api.post(f"{BASE}/{rid}/erase", headers=headers)
    assert erased.status == 200
    result = await erased.json()
    assert result["status"] == "waiting"  # a hold keeps the recording
    kept = [i for i in result["items"] if i["outcome"] == "kept"]
    assert any(
        i["type"] == "recording" and i["id"] == pworld.held_recording_id and i["ground"]
        for i in kept
    )
    assert {"type": "contact", "id": SUBJECT.contact_id, "outcome": "erased"} in result["items"]
    assert all({"type", "id", "outcome"} <= set(i) for i in result["items"])
    async with pworld.sessions() as s:
        assert await s.get(ContactPerson, SUBJECT.contact_id) is None
    read = await (await api.get(f"{BASE}/{rid}", headers=headers)).json()
    assert read["erasure"] == "waiting" and read["items"] == result["items"]


async def test_roles_and_bad_input(api: TestClient, pworld: PrivacyWorld) -> None:
    rid = pworld.request_id
    agent = await _headers(pworld, "agent")
    before = await _requests(pworld)
    body = {"contact_id": OTHER.contact_id, "kind": "access", "channel": "email"}
    for method, path in [
        ("post", BASE),
        ("get", f"{BASE}/{rid}"),
        ("post", f"{BASE}/{rid}/verify"),
        ("post", f"{BASE}/{rid}/export"),
        ("get", f"{BASE}/{rid}/export"),
        ("post", f"{BASE}/{rid}/erase"),
    ]:
        response = await api.request(method, path, json=body, headers=agent)
        assert response.status == 403, path
    forbidden = await api.post(
        f"{BASE}/{rid}/id-copy", data=_file(b"%PDF", "application/pdf"), headers=agent
    )
    assert forbidden.status == 403
    assert (await api.post(BASE, json=body)).status == 401

    officer = await _headers(pworld)
    for bad in [
        {**body, "kind": "gossip"},
        {**body, "channel": "fax"},
        {**body, "contact_id": "12"},
        {**body, "contact_id": True},
        {k: v for k, v in body.items() if k != "contact_id"},
    ]:
        response = await api.post(BASE, json=bad, headers=officer)
        assert response.status == 422, bad
        assert (await response.json())["error"]["code"] == "invalid_input"
    as_json = {**officer, "Content-Type": "application/json"}
    not_json = await api.post(BASE, data="{", headers=as_json)
    assert not_json.status == 422
    missing = await api.post(BASE, json={**body, "contact_id": 999999}, headers=officer)
    assert missing.status == 404
    assert await _requests(pworld) == before  # nothing stored by any refusal
    assert (await api.get(f"{BASE}/999999", headers=officer)).status == 404
    no_file = await api.post(f"{BASE}/{rid}/id-copy", data=FormData({"x": "1"}), headers=officer)
    assert no_file.status == 422


def test_openapi_lists_the_privacy_endpoints() -> None:
    paths = OPENAPI["paths"]
    for path in ["", "/{id}", "/{id}/id-copy", "/{id}/verify", "/{id}/export", "/{id}/erase"]:
        assert f"/privacy-requests{path}" in paths
    assert paths["/privacy-requests"]["post"]["x-permission"] == "privacy.manage"
    assert "get" in paths["/privacy-requests/{id}/export"]


async def test_export_only_on_an_access_or_portability_request(
    api: TestClient, pworld: PrivacyWorld
) -> None:
    """The erasure request (verified, so only its kind stands in the way) neither builds nor
    hands out an export: 409, nothing stored."""
    headers = await _headers(pworld)
    rid = pworld.request_id
    async with pworld.sessions() as s:
        await pworld.privacy.verify_identity(s, rid, actor=Actor.system("test"))
        await s.commit()
    for method in ("post", "get"):
        refused = await api.request(method, f"{BASE}/{rid}/export", headers=headers)
        assert refused.status == 409, method
        error = (await refused.json())["error"]
        assert "is a erasure request: it does not offer export" in error["message"]
    async with pworld.sessions() as s:
        exports = select(func.count()).where(PrivacyDocument.kind == DocumentKind.EXPORT)
        assert await s.scalar(exports) == 0
    made = await api.post(
        BASE, json={"contact_id": SUBJECT.contact_id, "kind": "portability", "channel": "email"},
        headers=headers,
    )  # fmt: skip
    portability = (await made.json())["id"]
    assert (await api.post(f"{BASE}/{portability}/export", headers=headers)).status == 201
