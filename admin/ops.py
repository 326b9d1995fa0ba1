"""Operations wiring for the admin app: /readyz, /metrics and one log line plus a latency
observation per request. `install(app)` is called once from create_app."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from sqlalchemy import inspect, text

from admin.auth import public
from admin.keys import (
    BOT_PROBE,
    CLOCK,
    DB,
    ENGINE,
    METRICS,
    OBJECT_STORE,
    REDIS,
    REQUEST_ID,
    SETTINGS,
    USER,
)
from admin.metrics import Metrics
from bot.dispatcher import create_bot
from bot.probe import CHECK_TIMEOUT, BotProbe
from storage import migrate
from storage.logs import fields

log = logging.getLogger("supportdesk.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


async def _bot_probe(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    bot = None
    if settings.telegram_token.get_secret_value():
        bot = create_bot(settings)
    app[BOT_PROBE] = BotProbe(bot)
    if settings.redis_url:
        app[REDIS] = Redis.from_url(settings.redis_url)
    yield
    if bot is not None:
        await bot.session.close()
    if settings.redis_url:
        await app[REDIS].aclose()


async def _check_database(app: web.Application) -> dict[str, object]:
    engine = app[ENGINE]
    revision = await migrate.current_revision(engine)  # also proves the database answers
    # Reading the migration scripts is file I/O: off the event loop.
    head = await asyncio.to_thread(migrate.head_revision)
    return {"ok": revision == head, "dialect": engine.dialect.name, "revision": revision}


async def _check_store(app: web.Application) -> dict[str, object]:
    detail = await app[OBJECT_STORE].check()
    return {"ok": detail.get("bucket_exists", True) is not False, **detail}


async def _check_redis(app: web.Application) -> dict[str, object]:
    redis = app.get(REDIS)
    if redis is None:
        return {"ok": True, "state": "disabled"}
    await redis.ping()
    return {"ok": True, "state": "connected"}


async def _guarded(name: str, check: Awaitable[dict[str, object]]) -> dict[str, object]:
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT)
    except Exception as exc:
        log.warning("readyz: %s check failed: %s", name, type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}


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


@public
async def readyz(request: web.Request) -> web.Response:
    """Readiness: database (reachable, schema at head), object store, Bot API, Redis."""
    app = request.app
    database, store, bot, redis = await asyncio.gather(
        _guarded("database", _check_database(app)),
        _guarded("object_store", _check_store(app)),
        _guarded("bot", app[BOT_PROBE].check()),
        _guarded("redis", _check_redis(app)),
    )
    checks = {"database": database, "object_store": store, "bot": bot, "redis": redis}
    ready = all(check["ok"] for check in checks.values())
    body = {"status": "ready" if ready else "not_ready", **checks}
    return web.json_response(body, status=200 if ready else 503)


def _authorised(request: web.Request) -> bool:
    expected = request.config_dict[SETTINGS].metrics_token.get_secret_value()
    if not expected:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode(), expected.encode()
    )


@public  # guarded by SUPPORTDESK_METRICS_TOKEN instead of a staff login
async def metrics_view(request: web.Request) -> web.Response:
    if not _authorised(request):
        return web.json_response(
            {"error": {"code": "unauthorized", "message": "metrics token required"}},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    metrics = request.config_dict[METRICS]
    await metrics.snapshot.refresh(request[DB], request.config_dict[CLOCK].now())
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def route_label(request: web.Request) -> str:
    """The route template (never the raw path: ids and searches stay out of labels/logs)."""
    info = request.match_info
    if info.http_exception is not None:
        return "unmatched"
    resource = info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _staff_id(request: web.Request) -> int | None:
    user = request.get(USER)
    if user is None:
        return None
    # The identity key survives an expired (rolled back) instance without a reload.
    identity = inspect(user).identity
    return identity[0] if identity else None


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: request id, one access log line and the latency histogram."""
    given = request.headers.get("X-Request-ID", "")
    request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers["X-Request-ID"] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-ID"] = request_id
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away
        raise
    finally:
        duration = time.perf_counter() - started
        route = route_label(request)
        request.config_dict[METRICS].request_duration.labels(
            request.method, route, str(status)
        ).observe(duration)
        log.info(
            "%s %s %s",
            request.method,
            route,
            status,
            extra=fields(
                event="http_request",
                method=request.method,
                route=route,
                status=status,
                duration_ms=round(duration * 1000, 1),
                request_id=request_id,
                staff_user_id=_staff_id(request),
            ),
        )


def install(app: web.Application) -> None:
    """Metrics registry, outermost middleware and the probe context (routes: admin.routes)."""
    app[METRICS] = Metrics()
    app.middlewares.insert(0, observe_middleware)
    app.cleanup_ctx.append(_bot_probe)
