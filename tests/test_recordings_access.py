"""Every recordings route (admin pages and API): anonymous → /login or 401, a role without
the route's permission → 403, for a recording and hold that exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from recording_audio_helpers import make_audio
from recordings_web_fixtures import *  # noqa: F403  (fixture: vault)
from recordings_web_fixtures import Vault

from admin.auth import ROLE_PERMISSIONS, requirement_of
from storage.models import Recording, StaffRole

pytestmark = pytest.mark.storage
MINE = ("/recordings", "/recording-holds", "/training", "/api/v1/recordings")


def _my_routes(vault: Vault) -> list[tuple[str, str, object]]:
    return [
        (route.method, route.resource.canonical, route.handler)
        for route in vault.client.server.app.router.routes()
        if route.method != "HEAD" and route.resource.canonical.startswith(MINE)
    ]


async def test_every_recording_route_refuses_strangers(vault: Vault, tmp_path: Path) -> None:
    created = await vault.create(make_audio(tmp_path, "wav_pcm"))
    hold = await vault.client.post(
        f"/api/v1/recordings/{created['id']}/holds",
        json={"kind": "training", "reason": "r"},
        headers=vault.tokens[StaffRole.AGENT],
    )
    hold_id = (await hold.json())["id"]
    routes = _my_routes(vault)
    assert len(routes) >= 20

    def concrete(path: str) -> str:
        if path.startswith("/recording-holds/"):
            return path.replace("{id}", str(hold_id))
        return path.replace("{id}", str(created["id"])).replace("{hold_id}", str(hold_id))

    client = vault.client
    client.session.cookie_jar.clear()
    for method, path, _ in routes:
        response = await client.request(method, concrete(path), allow_redirects=False)
        if path.startswith("/api/"):
            assert response.status == 401, (method, path)
            assert response.headers["WWW-Authenticate"] == "Bearer"
        else:
            assert response.status == 302, (method, path, response.status)
            assert response.headers["Location"].startswith("/login")
    for role in StaffRole:
        csrf = await vault.login(role)
        for method, path, handler in routes:
            if requirement_of(handler) in ROLE_PERMISSIONS[role]:
                continue
            kwargs: dict[str, object] = {"allow_redirects": False}
            if path.startswith("/api/"):
                kwargs["headers"] = vault.tokens[role]
            elif method == "POST":
                kwargs["data"] = {"csrf_token": csrf}
            response = await client.request(method, concrete(path), **kwargs)
            assert response.status == 403, (role, method, path, response.status)
    # Nothing was changed by any refused request.
    assert await vault.count(Recording) == 1 and await vault.objects() == 1
