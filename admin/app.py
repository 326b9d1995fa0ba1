"""The aiohttp application factory: the only place the web side is wired."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from admin import (
    display,
    i18n,
    live,
    ops,
)
from admin import retention as retention_admin
from admin.keys import (
    BOT_PROBE,
    BOT_TRANSPORT,
    CLOCK,
    DISK_CLEANUP,
    ENGINE,
    FLASH_SEALER,
    LOGIN_LIMITS,
    OBJECT_STORE,
    READ_SESSIONMAKER,
    SESSIONMAKER,
    SETTINGS,
    TICKETS,
    TRANSLATIONS,
)
from admin.middleware import (
    access_middleware,
    db_middleware,
    errors_middleware,
    security_headers,
)
from admin.proxies import TrustedProxies
from admin.recordings_http import recordings_ctx
from admin.routes import add_routes
from bot.runtime import BotRuntime
from recordings.archive import configure_lifecycle, retention_days
from storage.clock import Clock, SystemClock
from storage.config import Settings
from storage.db import create_engine, create_sessionmaker, read_only
from storage.objectstore import ObjectStore, create_object_store
from storage.sealing import FLASH_PURPOSE, Sealer
from storage.services.access import LoginLimits
from storage.services.disk_cleanup import DiskCleanupWorker
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
    app[LOGIN_LIMITS] = LoginLimits(
        per_username=settings.login_failures_per_username,
        per_address=settings.login_failures_per_address,
    )
    app[TRANSLATIONS] = i18n.load_translations()
    ops.install(app)  # /readyz, /metrics, access log and latency (outermost middleware)
    # Outside even that: everything below sees the client, not the reverse proxy.
    app.middlewares.insert(0, TrustedProxies(settings.trusted_proxy_networks).middleware)
    app.cleanup_ctx.append(_flash_sealer)
    app.cleanup_ctx.append(_database(engine))
    app.cleanup_ctx.append(_disk_cleanup)  # needs the database
    app.cleanup_ctx.append(_object_store(object_store))
    app.cleanup_ctx.append(recordings_ctx)  # needs the store opened just above
    live.install(app)  # the live inbox's poller (needs the db); streams end on shutdown
    retention_admin.install(app)  # periodic sweep (needs db and store)
    if settings.telegram_token.get_secret_value():
        app.cleanup_ctx.append(_bot_runtime)  # needs the database and store opened above
    add_routes(app, settings)  # every route, the webhook's too (ConfigError without a secret)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("admin", "templates"),
        autoescape=True,
    )
    i18n.install(env)  # `_`, ngettext, `label`: per request language, one shared env
    env.filters["local"] = display.local_time(settings.zone)  # times in SUPPORTDESK_TIMEZONE
    env.filters["delivery_reason"] = display.delivery_reason
    env.globals["minutes_between"] = display.minutes_between
    app.on_response_prepare.append(security_headers)
    return app


async def _flash_sealer(app: web.Application) -> AsyncIterator[None]:
    # At startup, not in the factory: the secret key may be generated and written first.
    app[FLASH_SEALER] = Sealer(app[SETTINGS].effective_secret_key(), FLASH_PURPOSE)
    yield


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


async def _disk_cleanup(app: web.Application) -> AsyncIterator[None]:
    worker = DiskCleanupWorker(app[ENGINE])
    worker.start()  # first works through what a previous run left
    app[DISK_CLEANUP] = worker
    yield
    await worker.stop()  # finishes its pass or logs what the next start takes over


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


async def _bot_runtime(app: web.Application) -> AsyncIterator[None]:
    runtime = BotRuntime(
        settings=app[SETTINGS],
        sessionmaker=app[SESSIONMAKER],
        clock=app[CLOCK],
        ticket_service=app[TICKETS],
        object_store=app[OBJECT_STORE],
        probe=app[BOT_PROBE],
    )
    app[BOT_TRANSPORT] = await runtime.start()
    try:
        yield
    finally:
        await runtime.stop()
