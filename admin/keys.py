"""Typed application and request keys, shared by the app factory, middlewares and views."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.clock import Clock
from storage.config import Settings
from storage.models import StaffSession, StaffUser
from storage.objectstore import ObjectStore
from storage.services.tickets import TicketService

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
OBJECT_STORE = web.AppKey("object_store", ObjectStore)
TICKETS = web.AppKey("tickets", TicketService)

DB = web.RequestKey("db", AsyncSession)
USER = web.RequestKey("user", StaffUser)
STAFF_SESSION = web.RequestKey("staff_session", StaffSession)
LANG = web.RequestKey("lang", str)
