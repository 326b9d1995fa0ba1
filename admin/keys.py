"""Typed application and request keys, shared by the app factory, middlewares and views."""

from __future__ import annotations

from aiohttp import web
from babel.support import Translations
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from admin.metrics import Metrics
from bot.probe import BotProbe
from bot.transport import BotTransport
from recordings.service import RecordingService
from recordings.waveform import Waveforms
from storage.clock import Clock
from storage.config import Settings
from storage.models import StaffSession, StaffUser
from storage.objectstore import ObjectStore
from storage.sealing import Sealer
from storage.services.access import LoginLimits
from storage.services.disk_cleanup import DiskCleanupWorker
from storage.services.tickets import TicketService

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
# Sessions that only read (storage.db.read_only): GET/HEAD requests not marked `writes`.
READ_SESSIONMAKER = web.AppKey("read_sessionmaker", async_sessionmaker[AsyncSession])
OBJECT_STORE = web.AppKey("object_store", ObjectStore)
TICKETS = web.AppKey("tickets", TicketService)
LOGIN_LIMITS = web.AppKey("login_limits", LoginLimits)
RECORDINGS = web.AppKey("recordings", RecordingService)
WAVEFORMS = web.AppKey("waveforms", Waveforms)
BOT_TRANSPORT = web.AppKey("bot_transport", BotTransport)
METRICS = web.AppKey("metrics", Metrics)
BOT_PROBE = web.AppKey("bot_probe", BotProbe)
TRANSLATIONS = web.AppKey("translations", dict[str, Translations])  # language -> catalog
# Seals the one-time page values (admin/flash.py) kept on the staff session row.
FLASH_SEALER = web.AppKey("flash_sealer", Sealer)
# Cleans the database files after erasures, off the request path (started with the database).
DISK_CLEANUP = web.AppKey("disk_cleanup", DiskCleanupWorker)
REDIS = web.AppKey("redis", Redis)  # only when SUPPORTDESK_REDIS_URL is set (readiness)

DB = web.RequestKey("db", AsyncSession)
DB_WRITES = web.RequestKey("db_writes", bool)  # False: DB is a read-only session
USER = web.RequestKey("user", StaffUser)
STAFF_SESSION = web.RequestKey("staff_session", StaffSession)
LANG = web.RequestKey("lang", str)
REQUEST_ID = web.RequestKey("request_id", str)
