"""The Telegram webhook route on the admin app (SUPPORTDESK_WEBHOOK_URL's path).

Telegram proves itself with the secret token header, not a staff login or CSRF token.
Store-then-200: the update is committed to the inbox before Telegram gets its answer, so a
crash after the 200 loses nothing; handling happens after, on the update's user lane.

Registration (setWebhook) runs in the background like long polling: the admin serves while
the Bot API is unreachable or refuses, /readyz reports the bot not ready until it succeeds,
and each failure is one log line. A refusal (400, e.g. Telegram cannot resolve or reach the
URL) may be fixed outside this process (DNS, proxy, certificate), so it is retried too, but
slowly (every REFUSED_RETRY seconds).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiohttp import web

from bot.probe import BotProbe
from bot.processor import readable_update
from bot.transport import BotTransport
from storage.config import ConfigError, Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - as secret_token.
SECRET_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,256}")
FIRST_RETRY, MAX_RETRY = 1.0, 60.0  # network errors and 5xx: doubling, capped
REFUSED_RETRY = 300.0  # a 400 refusal rarely fixes itself within seconds
NOT_REGISTERED = "webhook_not_registered"

Sleep = Callable[[float], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.Response]]
# How the handler finds the running bot; None while it is not started (yet).
TransportLookup = Callable[[web.Request], BotTransport | None]


def webhook_path(settings: Settings) -> str:
    """The route path, after checking the webhook settings (ConfigError names the setting)."""
    secret = settings.webhook_secret.get_secret_value()
    if not secret:
        raise ConfigError(
            "SUPPORTDESK_WEBHOOK_SECRET: required when SUPPORTDESK_WEBHOOK_URL is set"
        )
    if not SECRET_FORMAT.fullmatch(secret):
        raise ConfigError(
            "SUPPORTDESK_WEBHOOK_SECRET: 1-256 characters of A-Z, a-z, 0-9, _ and - only"
        )
    path = urlsplit(settings.webhook_url).path
    if path in ("", "/"):
        raise ConfigError(
            "SUPPORTDESK_WEBHOOK_URL: needs a path, e.g. https://desk.example.com/telegram/webhook"
        )
    return path


def webhook_handler(transport_of: TransportLookup) -> Handler:
    """The webhook view. The caller (the admin app) declares its access: Telegram proves
    itself with the secret token header, not a staff login or CSRF token."""

    async def telegram_webhook(request: web.Request) -> web.Response:
        transport = transport_of(request)
        if transport is None:  # not started (yet): Telegram retries later
            return web.Response(status=503)
        given = request.headers.get(SECRET_HEADER, "")
        secret = transport.secret
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            log.warning(
                "telegram webhook: request from %s without the right secret", request.remote
            )
            return web.Response(status=401)
        body = await request.read()
        try:
            raw = json.loads(body)
        except ValueError:  # not JSON (or not UTF-8)
            raw = None
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            log.warning("telegram webhook: body is not a Telegram update; refused")
            return web.Response(status=400)
        # A shape this aiogram cannot read is stored all the same and filed as a placeholder.
        update = readable_update(raw, transport.bot)
        # Committed (with whatever else arrived meanwhile) before the 200; queued if new.
        await transport.processor.receive(update_id, update, body.decode())
        return web.Response(status=200)

    return telegram_webhook


async def register_webhook(
    bot: Bot,
    url: str,
    secret: str,
    allowed_updates: list[str],
    probe: BotProbe,
    *,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """setWebhook until Telegram accepts it, then mark the bot ready on `probe` (the
    caller marks it NOT_REGISTERED before starting this, so no probe sees a gap)."""
    backoff = FIRST_RETRY
    attempt = 0
    while True:
        attempt += 1
        try:
            await bot.set_webhook(
                url,
                secret_token=secret,
                allowed_updates=allowed_updates,
                drop_pending_updates=False,
            )
        except asyncio.CancelledError:
            raise
        except TelegramBadRequest as exc:
            wait = REFUSED_RETRY
            # Telegram's description names the problem (e.g. "bad webhook: ..."); the
            # logging handler scrubs the token and secret should it ever echo them.
            log.error(
                "telegram refused setWebhook for %s (attempt %d): %s; "
                "check SUPPORTDESK_WEBHOOK_URL; retrying in %.0fs",
                url,
                attempt,
                _scrub(exc.message, bot.token, secret),
                wait,
            )
        except Exception as exc:
            wait, backoff = backoff, min(backoff * 2, MAX_RETRY)
            log.warning(
                "telegram setWebhook failed (%s, attempt %d); retrying in %.0fs",
                type(exc).__name__,
                attempt,
                wait,
            )
        else:
            probe.not_ready = None
            log.info("telegram webhook registered (%s)", url)
            return
        await sleep(wait)


def _scrub(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
