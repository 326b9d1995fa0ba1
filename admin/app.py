"""The aiohttp application factory: the only place the web side is wired."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from admin import (
    api,
    contact_form,
    customers,
    display,
    ops,
    recordings_views,
    ticket_desk,
    views,
)
from admin import privacy as privacy_admin
from admin import retention as retention_admin
from admin.auth import public
from admin.keys import (
    CLOCK,
    ENGINE,
    OBJECT_STORE,
    READ_SESSIONMAKER,
    SESSIONMAKER,
    SETTINGS,
    TICKETS,
)
from admin.middleware import (
    access_middleware,
    db_middleware,
    errors_middleware,
    security_headers,
)
from admin.recordings_web import recordings_ctx
from recordings.archive import configure_lifecycle, retention_days
from storage.clock import Clock, SystemClock
from storage.config import Settings
from storage.db import create_engine, create_sessionmaker, read_only
from storage.objectstore import ObjectStore, create_object_store
from storage.services.tickets import TicketService

log = logging.getLogger(__name__)

__all__ = [
    "CLOCK",
    "ENGINE",
    "OBJECT_STORE",
    "SESSIONMAKER",
    "SETTINGS",
    "TICKETS",
    "create_app",
]


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: AsyncEngine | None = None,
    object_store: ObjectStore | None = None,
) -> web.Application:
    """Build the admin app. Engine and store are opened in cleanup_ctx unless given
    (tests and `serve` may share theirs)."""
    app = web.Application(middlewares=[errors_middleware, db_middleware, access_middleware])
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[TICKETS] = TicketService(app[CLOCK])
    ops.install(app)  # /readyz, /metrics, access log and latency (outermost middleware)
    app.cleanup_ctx.append(_database(engine))
    app.cleanup_ctx.append(_object_store(object_store))
    app.cleanup_ctx.append(recordings_ctx)  # needs the store opened just above
    retention_admin.install(app)  # /retention pages + periodic sweep (needs db and store)
    if settings.telegram_token.get_secret_value():
        from bot.runtime import bot_cleanup_ctx
        from bot.webhook import add_webhook_route

        add_webhook_route(app, settings)  # webhook mode only; ConfigError without a secret
        app.cleanup_ctx.append(bot_cleanup_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_routes(views.routes)
    app.router.add_routes(recordings_views.routes)
    app.router.add_routes(customers.routes)
    app.router.add_routes(contact_form.routes)
    app.router.add_routes(ticket_desk.routes)
    app.router.add_routes(privacy_admin.routes)
    app.add_subapp("/api/v1", api.create_api_app())
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("admin", "templates"),
        autoescape=True,
    )
    env.filters["local"] = display.local_time(settings.zone)  # times in SUPPORTDESK_TIMEZONE
    env.filters["delivery_reason"] = display.delivery_reason
    app.on_response_prepare.append(security_headers)
    return app


def _database(given: AsyncEngine | None):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        engine = given or create_engine(app[SETTINGS].effective_database_url)
        app[ENGINE] = engine
        app[SESSIONMAKER] = create_sessionmaker(engine)
        app[READ_SESSIONMAKER] = create_sessionmaker(read_only(engine))
        yield
        if given is None:
            await engine.dispose()

    return ctx


def _object_store(given: ObjectStore | None):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        store = given or create_object_store(app[SETTINGS])
        # Bucket with object lock plus the 90-day lifecycle rules, idempotently.
        await configure_lifecycle(store, retention_days(app[SETTINGS]))
        app[OBJECT_STORE] = store
        yield
        if given is None:
            await store.close()

    return ctx


@public
async def healthz(request: web.Request) -> web.Response:
    """Liveness plus a one-line state of the database and object store."""
    app = request.app
    body: dict[str, object] = {"status": "ok"}
    try:
        async with app[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        body["database"] = {"ok": True, "dialect": app[ENGINE].dialect.name}
    except Exception as exc:
        log.warning("healthz: database check failed: %s", type(exc).__name__)
        body["database"] = {"ok": False, "error": type(exc).__name__}
        body["status"] = "degraded"
    try:
        body["object_store"] = {"ok": True, **(await app[OBJECT_STORE].check())}
    except Exception as exc:
        log.warning("healthz: object store check failed: %s", type(exc).__name__)
        body["object_store"] = {
            "ok": False,
            "kind": app[OBJECT_STORE].kind,
            "error": type(exc).__name__,
        }
        body["status"] = "degraded"
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)
