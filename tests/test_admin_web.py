"""Admin web: permissions on every route, sessions, CSRF, throttling, headers, XSS."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from admin_fixtures import *  # noqa: F403  (fixtures: clock, world)
from admin_fixtures import CSRF_RE, PASSWORD, World, login
from desk_fixtures import PNG, seed_route_targets
from recording_audio_helpers import make_audio
from sqlalchemy import func, select

from admin.api import OPENAPI, PREFIX
from admin.app import create_app
from admin.auth import ROLE_PERMISSIONS, Access, Permission, requirement_of
from admin.keys import OBJECT_STORE
from admin.middleware import SESSION_COOKIE
from storage.config import Settings
from storage.models import (
    DeliveryState,
    SavedReply,
    StaffRole,
    StaffSession,
    TicketCategory,
    TicketMessage,
)
from storage.services import access
from storage.services.audit import Actor
from storage.services.tickets import TicketService

pytestmark = pytest.mark.storage


def _routes(app):
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        yield route.method, route.resource.canonical, route.handler


def test_every_route_declares_its_permission() -> None:
    app = create_app(Settings(data_dir="/nonexistent"))
    missing = [f"{m} {p}" for m, p, h in _routes(app) if requirement_of(h) is None]
    assert not missing, f"routes without a declared permission: {missing}"


def test_every_api_route_is_in_openapi() -> None:
    app = create_app(Settings(data_dir="/nonexistent"))
    documented = {
        (method.upper(), PREFIX + path) for path, ops in OPENAPI["paths"].items() for method in ops
    }
    api_routes = {(m, p) for m, p, _ in _routes(app) if p.startswith(PREFIX)}
    assert api_routes and api_routes == documented


def test_roles_and_permissions() -> None:
    assert set(ROLE_PERMISSIONS) == set(StaffRole)
    assert ROLE_PERMISSIONS[StaffRole.ADMIN] == frozenset(Permission)
    agent = ROLE_PERMISSIONS[StaffRole.AGENT]
    assert Permission.RECORDINGS_HOLD in agent
    assert Permission.RECORDINGS_RELEASE_EVIDENCE not in agent
    assert Permission.RECORDINGS_RELEASE_EVIDENCE in ROLE_PERMISSIONS[StaffRole.PRIVACY_OFFICER]
    assert ROLE_PERMISSIONS[StaffRole.TRAINER] == frozenset({Permission.TRAINING_LISTEN})


def _concrete(
    path: str, ticket_id: int, user_id: int = 0, reply_id: int = 1, saved_id: int = 1
) -> str:
    if path.startswith("/users/"):
        return path.replace("{id}", str(user_id))
    # The seed makes every {id} target id 1 on a fresh database, recording 1's hold is 1,
    # `reply_id` is the agent's reply it seeds on the ticket and `saved_id` a shared saved
    # reply.
    return (
        path.replace("{id}", str(ticket_id))
        .replace("{code}", "en")
        .replace("{hold_id}", "1")
        .replace("{reply_id}", str(reply_id))
        .replace("{saved_id}", str(saved_id))
    )


_BODIES = {
    "reply": {"text": "hello"},
    "replies": {"text": "hello"},
    "{reply_id}": {"text": "edited by {role} via {via}"},
    # a reply's edit takes the text, a saved reply's the title and body
    "edit": {"text": "edited by {role} via {via}", "title": "walk", "body": "edited"},
    "saved-replies": {"title": "walk by {role}", "body": "Dag {{customer_name}}"},
    "note": {"text": "a note"},
    "notes": {"text": "a note", "position_ms": "0"},  # a ticket's notes; a training note's
    "meta": {"category": "voip"},
    "password": {"current": PASSWORD, "new": PASSWORD},
    "users": {"username": "matrix-user", "role": "agent", "password": PASSWORD},
    "active": {"active": "1"},
    "role": {"role": "agent"},
    "tokens": {"name": "matrix"},
    "organisations": {"name": "Matrix BV", "customer_number": "M-{role}-{via}"},
    "contacts": {"name": "Matrix Contact"},
    "link-recording": {"recording_id": "1"},
    "holds": {"kind": "training", "reason": "route walk"},
    "release": {"reason": "route walk"},
    "renew": {"review_at": "2000-01-01"},
    "tags": {"tags": "route-walk"},
    "tag": {"tag": "route-walk"},
}


# The walk runs every route once per role on one recording: after the first release the hold
# is released (409 on the next), and a hold placed by the walk makes the delete answer 409.
# Those answers still prove the permission check let the request through.
_LATER_IN_WALK = {
    PREFIX + "/recordings/{id}/holds/{hold_id}/release": {409},
    "/recording-holds/{id}/release": {409},
    PREFIX + "/recordings/{id}": {409},
    "/recordings/{id}/delete": {409},
    # A review date in the past is refused after the permission check (422), or the hold
    # is already released by then (409).
    PREFIX + "/recordings/{id}/holds/{hold_id}/renew": {409, 422},
    "/recording-holds/{id}/renew": {409, 422},
    # Training note 1 is the trainer's, deleted by the trainer earlier in the walk.
    "/training-notes/{id}/delete": {404},
    # Saved reply {id} is the agent's own (the seed): after the permission check, another
    # role (an admin) does not find it, nor does anyone after the agent's walk deleted it.
    "/saved-replies/{id}/edit": {404},
    "/saved-replies/{id}/delete": {404},
}
# A privacy request's actions refuse on the spot (422/409 with the page) when the walk's body
# does not fit the request's state: that answer also proves the permission check let it in.
for _action in ("verify", "flag", "close", "erase", "export", "id-copy"):
    _LATER_IN_WALK["/privacy/{id}/" + _action] = {409, 422}
# The same for the privacy-request API (the walk's empty body is refused with 422, a
# request in the wrong state with 409).
_LATER_IN_WALK[PREFIX + "/privacy-requests"] = {422}
for _action in ("verify", "erase", "export", "id-copy"):
    _LATER_IN_WALK[PREFIX + "/privacy-requests/{id}/" + _action] = {409, 422}

# Routes that take a streamed file upload: the CSRF token part must precede the file.
_FILE_ROUTES = {"/recordings/upload", "/privacy/{id}/id-copy", PREFIX + "/recordings"}


def _upload(path: str, csrf: str | None, audio: Path) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if csrf is not None:
        form.add_field("csrf_token", csrf)
    if path.startswith("/privacy"):
        form.add_field("file", PNG, filename="id.png", content_type="image/png")
    else:
        form.add_field("file", audio.read_bytes(), filename=audio.name)
    return form


def _body(last: str, role: StaffRole, via: str) -> dict[str, object]:
    """The route's body; creates of unique things get the role and channel in their key."""
    tag = role.value.replace("_", "-")
    body: dict[str, object] = {
        k: v.format(role=tag, via=via) for k, v in _BODIES.get(last, {}).items()
    }
    if via == "api" and last == "tags":  # the API takes a JSON list, the form a text field
        body["tags"] = [body["tags"]]
    return body


async def test_route_matrix(world: World, tmp_path: Path) -> None:
    """Every route: anonymous → /login or 401, wrong role → 403, right role → success."""
    audio = make_audio(tmp_path, "wav_alaw")
    app = world.client.server.app
    client = world.client
    routes = list(_routes(app))
    async with world.sessions() as session:  # objects for the {id} of customer/attachment routes
        reply_id = await seed_route_targets(
            session, app[OBJECT_STORE], world.clock, world.ticket_id
        )
        now = world.clock.now()
        own = SavedReply(
            title="own",
            body="x",
            owner_id=world.users[StaffRole.AGENT].id,
            created_at=now,
            updated_at=now,
        )
        session.add(own)
        await session.flush()
        assert own.id == world.ticket_id  # the {id} of the saved-reply routes
        shared = SavedReply(title="shared", body="x", created_at=now, updated_at=now)
        session.add(shared)
        await session.commit()
        saved_id = shared.id
    client.session.cookie_jar.clear()
    for method, path, handler in routes:
        requirement = requirement_of(handler)
        if requirement == Access.PUBLIC:
            continue
        url = _concrete(path, world.ticket_id)
        response = await client.request(method, url, allow_redirects=False)
        if path.startswith(PREFIX):
            assert response.status == 401, (method, url)
            assert (await response.json())["error"]["code"] == "unauthorized"
        else:
            assert response.status == 302, (method, url, response.status)
            assert response.headers["Location"].startswith("/login")
    for role, user in world.users.items():
        csrf = await login(client, user.username)
        async with world.sessions() as session:
            _, token = await access.create_api_token(
                session, world.clock, username=user.username, name="t", actor=Actor.system()
            )
            await session.commit()
        for method, path, handler in routes:
            requirement = requirement_of(handler)
            # logout and token revocation end what this loop relies on; tested separately
            if requirement == Access.PUBLIC or path in ("/logout", "/account/tokens/{id}/revoke"):
                continue
            url = _concrete(
                path,
                world.ticket_id,
                world.users[StaffRole.AGENT].id,
                reply_id=reply_id,
                saved_id=saved_id,
            )
            last = path.rsplit("/", 1)[-1]
            if path.startswith(PREFIX):
                kwargs = {"headers": {"Authorization": f"Bearer {token}"}}
                if path in _FILE_ROUTES:
                    kwargs["data"] = _upload(path, None, audio)
                elif method in ("POST", "PUT", "PATCH"):
                    kwargs["json"] = _body(last, role, "api")
            else:
                kwargs = {}
                if path in _FILE_ROUTES:
                    kwargs["data"] = _upload(path, csrf, audio)
                elif method == "POST":
                    kwargs["data"] = {**_body(last, role, "web"), "csrf_token": csrf}
            response = await client.request(method, url, allow_redirects=False, **kwargs)
            allowed = requirement == Access.AUTHENTICATED or requirement in ROLE_PERMISSIONS[role]
            if not allowed:
                assert response.status == 403, (role, method, url, response.status)
            elif method == "GET":
                assert response.status in {200} | _LATER_IN_WALK.get(path, set()), (
                    role,
                    method,
                    url,
                    await response.text(),
                )
            else:
                assert response.status in {200, 201, 204, 303} | _LATER_IN_WALK.get(path, set()), (
                    role,
                    method,
                    url,
                    response.status,
                    await response.text(),
                )


async def test_login_sets_secure_session_cookie_and_new_id(world: World) -> None:
    client = world.client
    await login(client, "agent")
    first = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    await login(client, "agent")
    second = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    assert first != second
    async with world.sessions() as session:
        ids = set(await session.scalars(select(StaffSession.id)))
    assert access.token_hash(second) in ids and second not in ids


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "/ /evil.example/",
    ],
)
async def test_next_never_leaves_the_site(world: World, target: str) -> None:
    """Browsers drop tabs and newlines from a Location and read a backslash as a slash:
    each of these would land on another host."""
    client = world.client
    response = await client.get("/lang/nl", params={"next": target}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/login"
    page = await client.get("/login", params={"next": target})
    token = CSRF_RE.search(await page.text()).group(1)
    response = await client.post(
        "/login",
        data={"username": "agent", "password": PASSWORD, "csrf_token": token, "next": target},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"].startswith("/")
    assert "evil" not in response.headers["Location"]
    fine = await client.get("/lang/en", params={"next": "/tickets/1?x=1"}, allow_redirects=False)
    assert fine.headers["Location"] == "/tickets/1?x=1"


async def test_cookie_flags_and_security_headers(world: World) -> None:
    client = world.client
    page = await client.get("/login")
    token = CSRF_RE.search(await page.text()).group(1)
    response = await client.post(
        "/login",
        data={"username": "agent", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and "sd_session" in v)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    inbox = await client.get("/")
    headers = inbox.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in headers


async def test_server_header_names_no_versions_on_any_response(world: World) -> None:
    """Pages, redirects, static files, errors (404, 405, 403 CSRF, API 401) and HEAD all
    say only "supportdesk": no Python or aiohttp version to look up exploits for."""
    client = world.client
    answers = [
        await client.get("/login"),
        await client.get("/", allow_redirects=False),
        await client.get("/static/admin.css"),
        await client.get("/no/such/page"),
        await client.put("/login"),
        await client.post("/login", data={"username": "agent", "password": "x"}),
        await client.get(f"{PREFIX}/tickets"),
        await client.get(f"{PREFIX}/no-such-thing"),
        await client.head("/login"),
        await client.get("/healthz"),
    ]
    statuses = {response.status for response in answers}
    assert {200, 302, 401, 403, 404, 405} <= statuses
    assert [r.headers.get("Server") for r in answers] == ["supportdesk"] * len(answers)


async def test_https_turns_on_secure_cookie_and_hsts(
    aiohttp_client, engine, tmp_path, world: World
) -> None:
    settings = Settings(data_dir=tmp_path / "v2", public_url="https://desk.example")
    client = await aiohttp_client(create_app(settings, clock=world.clock, engine=engine))
    page = await client.get("/login")
    assert "max-age" in page.headers["Strict-Transport-Security"]
    assert "Secure" in page.headers["Set-Cookie"]


async def test_logout_revokes_session(world: World) -> None:
    client = world.client
    csrf = await login(client, "agent")
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    response = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert response.status == 303
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: token})  # replay the old cookie
    response = await client.get("/", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/login")


async def test_disabling_user_revokes_sessions(world: World) -> None:
    client = world.client
    await login(client, "agent")
    assert (await client.get("/", allow_redirects=False)).status == 200
    async with world.sessions() as session:
        await access.set_active(
            session,
            world.clock,
            world.users[StaffRole.AGENT].id,
            active=False,
            actor=Actor.system(),
        )
        await session.commit()
        assert await session.scalar(select(func.count()).select_from(StaffSession)) == 0
    response = await client.get("/", allow_redirects=False)
    assert response.status == 302


async def test_idle_and_absolute_timeouts(world: World) -> None:
    client = world.client
    await login(client, "agent")
    world.clock.advance(timedelta(minutes=29))
    assert (await client.get("/", allow_redirects=False)).status == 200
    world.clock.advance(timedelta(minutes=31))
    assert (await client.get("/", allow_redirects=False)).status == 302
    await login(client, "agent")
    for _ in range(26):  # active all day long, but never past 12 hours
        world.clock.advance(timedelta(minutes=28))
        await client.get("/", allow_redirects=False)
    assert (await client.get("/", allow_redirects=False)).status == 302


async def test_login_throttle_waits_then_lets_the_right_password_in(world: World) -> None:
    client = world.client
    page = await client.get("/login")
    token = CSRF_RE.search(await page.text()).group(1)
    for _ in range(5):
        response = await client.post(
            "/login", data={"username": "agent", "password": "wrong", "csrf_token": token}
        )
        assert response.status == 401
    response = await client.post(
        "/login", data={"username": "agent", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status == 429
    assert response.headers["Retry-After"] == "30"
    assert "30" in await response.text()
    world.clock.advance(timedelta(seconds=31))
    response = await client.post(
        "/login",
        data={"username": "agent", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303


async def test_csrf_required_on_every_post_form(world: World) -> None:
    app = world.client.server.app
    client = world.client
    page = await client.get("/login")
    response = await client.post("/login", data={"username": "agent", "password": PASSWORD})
    assert response.status == 403
    assert page.status == 200
    csrf = await login(client, "admin")
    posts = [p for m, p, _ in _routes(app) if m == "POST" and not p.startswith(PREFIX)]
    assert "/logout" in posts
    for path in posts:
        url = _concrete(path, world.ticket_id)
        response = await client.post(url, data={"text": "x"}, allow_redirects=False)
        assert response.status == 403, url
        response = await client.post(
            url, data={"text": "x", "csrf_token": csrf + "x"}, allow_redirects=False
        )
        assert response.status == 403, url


async def test_script_in_message_renders_escaped(world: World) -> None:
    client = world.client
    csrf = await login(client, "agent")
    await client.post(
        f"/tickets/{world.ticket_id}/note",
        data={"text": "<script>alert(2)</script>", "csrf_token": csrf},
    )
    for url in (f"/tickets/{world.ticket_id}", "/"):
        html = await (await client.get(url)).text()
        assert "<script>" not in html, url
    html = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_reply_from_page_and_stale_thread_warning(world: World) -> None:
    client = world.client
    csrf = await login(client, "agent")
    html = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    assert 'name="thread_version" value="1"' in html
    response = await client.post(
        f"/tickets/{world.ticket_id}/reply",
        data={"text": "We are on it", "thread_version": "1", "csrf_token": csrf},
    )
    assert response.status == 200 and "We are on it" in await response.text()
    response = await client.post(
        f"/tickets/{world.ticket_id}/reply",
        data={"text": "Old draft", "thread_version": "1", "csrf_token": csrf},
    )
    assert response.status == 409
    text = await response.text()
    assert "Old draft" in text and 'role="alert"' in text
    async with world.sessions() as session:
        states = list(
            await session.scalars(
                select(TicketMessage.delivery_state).where(TicketMessage.direction == "out")
            )
        )
    assert states == [DeliveryState.PENDING]


async def test_inbox_filters_and_language(world: World) -> None:
    client = world.client
    await login(client, "agent")
    html = await (await client.get("/?status=new&q=internet")).text()
    assert f"/tickets/{world.ticket_id}" in html
    html = await (await client.get("/?status=closed")).text()
    assert f"/tickets/{world.ticket_id}" not in html
    assert (await client.get("/?status=bogus")).status == 422
    await client.get("/lang/en")
    assert "Log out" in await (await client.get("/")).text()
    await client.get("/lang/nl")
    assert "Uitloggen" in await (await client.get("/")).text()


async def test_category_and_priority_are_translated(world: World) -> None:
    """Inbox and ticket page name categories as the bot does, and priorities in words."""
    from admin.i18n import label, load_translations
    from bot.texts import create_i18n
    from bot.texts import translate as bot_translate

    client = world.client
    await login(client, "agent")
    async with world.sessions() as session:
        await TicketService(world.clock).set_category(
            session, world.ticket_id, actor=Actor.system(), category=TicketCategory.VOIP
        )
        await session.commit()
    i18n = create_i18n()
    admin_texts = load_translations()
    for lang in ("nl", "en"):
        for category in TicketCategory:
            key = f"category_{category.value}"
            assert label(admin_texts[lang], "category", category) == bot_translate(
                i18n, lang, key
            ), key
    await client.get("/lang/nl")
    inbox = await (await client.get("/")).text()
    assert "<td>Vaste telefonie (VoIP)</td>" in inbox and ">Alarmlijn 24/7</option>" in inbox
    page = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    assert 'value="voip" selected>Vaste telefonie (VoIP)</option>' in page
    assert 'value="urgent" >Urgent</option>' in page and ">Normaal</option>" in page
    for raw in ("alarm_247", "voip", "low", "urgent"):
        assert f">{raw}<" not in inbox + page, raw
    await client.get("/lang/en")
    page = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    assert ">Telephony (VoIP)</option>" in page and ">Low</option>" in page


async def test_unknown_ticket_is_404(world: World) -> None:
    await login(world.client, "agent")
    assert (await world.client.get("/tickets/999999")).status == 404


async def test_ids_beyond_64_bits_are_404_on_every_route(world: World, tmp_path: Path) -> None:
    """A path id no row can have is a 404 (SQLite's driver used to overflow into a 500)."""
    huge = str(2**70)
    client = world.client
    csrf = await login(client, "admin")
    async with world.sessions() as session:
        _, token = await access.create_api_token(
            session, world.clock, username="admin", name="t", actor=Actor.system()
        )
        await session.commit()
    audio = make_audio(tmp_path, "wav_alaw")
    walked = 0
    for method, path, _ in _routes(client.server.app):
        if "{id}" not in path and "{hold_id}" not in path:
            continue
        url = path.replace("{id}", huge).replace("{hold_id}", huge).replace("{reply_id}", huge)
        last = path.rsplit("/", 1)[-1]
        if path.startswith(PREFIX):
            kwargs: dict = {"headers": {"Authorization": f"Bearer {token}"}}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = _body(last, StaffRole.ADMIN, "api")
        else:
            kwargs = {}
            if path in _FILE_ROUTES:
                kwargs["data"] = _upload(path, csrf, audio)
            elif method == "POST":
                kwargs["data"] = {**_body(last, StaffRole.ADMIN, "web"), "csrf_token": csrf}
        response = await client.request(method, url, allow_redirects=False, **kwargs)
        assert response.status == 404, (method, url, response.status, await response.text())
        if path.startswith(PREFIX):
            assert (await response.json())["error"]["code"] == "not_found"
        walked += 1
    assert walked > 20


async def test_admin_manages_users(world: World) -> None:
    client = world.client
    csrf = await login(client, "admin")
    response = await client.post(
        "/users",
        data={"username": "bob", "role": "agent", "password": "short", "csrf_token": csrf},
    )
    assert response.status == 422 and "12" in await response.text()
    response = await client.post(
        "/users",
        data={"username": "bob", "role": "agent", "password": PASSWORD, "csrf_token": csrf},
    )
    assert response.status == 200 and "bob" in await response.text()
    agent = world.users[StaffRole.AGENT]
    await client.post(f"/users/{agent.id}/role", data={"role": "trainer", "csrf_token": csrf})
    await client.post(f"/users/{agent.id}/active", data={"active": "0", "csrf_token": csrf})
    admin_id = world.users[StaffRole.ADMIN].id
    response = await client.post(
        f"/users/{admin_id}/active", data={"active": "0", "csrf_token": csrf}
    )
    assert response.status == 422
    # The only admin cannot demote themselves: nobody could manage users any more.
    response = await client.post(
        f"/users/{admin_id}/role", data={"role": "agent", "csrf_token": csrf}
    )
    assert response.status == 409 and "de laatste actieve admin" in await response.text()
    # Usernames are unique whatever their case.
    response = await client.post(
        "/users",
        data={"username": "BOB", "role": "agent", "password": PASSWORD, "csrf_token": csrf},
    )
    assert response.status == 409 and "&#39;bob&#39; bestaat al" in await response.text()
    async with world.sessions() as session:
        from storage.models import StaffUser

        changed = await session.get(StaffUser, agent.id)
        assert changed.role == StaffRole.TRAINER and not changed.is_active
        kept = await session.get(StaffUser, admin_id)
        assert kept.role == StaffRole.ADMIN and kept.is_active
        assert await session.scalar(select(func.count()).where(StaffUser.username == "BOB")) == 0
    client.session.cookie_jar.clear()
    page = await client.get("/login")
    token = CSRF_RE.search(await page.text()).group(1)
    response = await client.post(
        "/login", data={"username": "agent", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status == 401
    await login(client, "bob")


async def test_password_change_revokes_other_sessions(world: World) -> None:
    client = world.client
    await login(client, "agent")
    other = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    csrf = await login(client, "agent")
    response = await client.post(
        "/account/password", data={"current": "wrong", "new": "x" * 12, "csrf_token": csrf}
    )
    assert response.status == 422
    new_password = "a much better passphrase"
    response = await client.post(
        "/account/password",
        data={"current": PASSWORD, "new": new_password, "csrf_token": csrf},
    )
    assert response.status == 200
    assert (await client.get("/", allow_redirects=False)).status == 200
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: other})
    assert (await client.get("/", allow_redirects=False)).status == 302
    await login(client, "agent", new_password)


async def test_personal_api_tokens(world: World) -> None:
    client = world.client
    csrf = await login(client, "agent")
    response = await client.post("/account/tokens", data={"name": "laptop", "csrf_token": csrf})
    html = await response.text()
    token = re.search(r"<code>(sdt_[^<]+)</code>", html).group(1)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/tickets", headers=headers)).status == 200
    token_id = re.search(r"/account/tokens/(\d+)/revoke", html).group(1)
    await client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert (await client.get("/api/v1/tickets", headers=headers)).status == 401
    csrf = await login(client, "trainer")
    response = await client.post(
        f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert response.status == 404


async def test_audit_page_and_csv(world: World) -> None:
    client = world.client
    await login(client, "privacy-officer")
    html = await (await client.get("/audit?action=ticket.opened")).text()
    assert "ticket.opened" in html and "staff.login" not in html
    assert (await client.get("/audit?since=yesterday")).status == 422
    response = await client.get("/audit.csv?subject_type=ticket")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/csv")
    lines = (await response.text()).strip().splitlines()
    assert lines[0].startswith("id,occurred_at") and "ticket.opened" in lines[1]
    html = await (await client.get("/audit?since=2026-11-28")).text()
    assert "ticket.opened" not in html


async def test_metrics(world: World) -> None:
    response = await world.client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    assert 'supportdesk_tickets{status="new"} 1' in text
    assert "supportdesk_replies_pending 0" in text


def test_openapi_upload_lists_every_field_the_api_reads() -> None:
    """A PBX integration reads the schema: a field the upload accepts must be in it."""
    from recordings.upload import FIELDS

    schema = OPENAPI["paths"]["/recordings"]["post"]["requestBody"]["content"][
        "multipart/form-data"
    ]["schema"]
    assert set(schema["properties"]) == (FIELDS - {"csrf_token"}) | {"file"}
