"""The aiohttp application factory: the only place the web side is wired."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.clock import Clock, SystemClock
from storage.config import Settings
from storage.db import create_engine, create_sessionmaker
from storage.objectstore import ObjectStore, create_object_store
from storage.services.tickets import TicketService

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
OBJECT_STORE = web.AppKey("object_store", ObjectStore)
TICKETS = web.AppKey("tickets", TicketService)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: AsyncEngine | None = None,
    object_store: ObjectStore | None = None,
) -> web.Application:
    """Build the admin app. Engine and store are opened in cleanup_ctx unless given
    (tests and `serve` may share theirs)."""
    app = web.Application()
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[TICKETS] = TicketService(app[CLOCK])
    app.cleanup_ctx.append(_database(engine))
    app.cleanup_ctx.append(_object_store(object_store))
    app.router.add_get("/healthz", healthz)
    return app


def _database(given: AsyncEngine | None):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        engine = given or create_engine(app[SETTINGS].effective_database_url)
        app[ENGINE] = engine
        app[SESSIONMAKER] = create_sessionmaker(engine)
        yield
        if given is None:
            await engine.dispose()

    return ctx


def _object_store(given: ObjectStore | None):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        store = given or create_object_store(app[SETTINGS])
        await store.ensure_bucket()
        app[OBJECT_STORE] = store
        yield
        if given is None:
            await store.close()

    return ctx


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
