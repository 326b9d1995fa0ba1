"""`supportdesk serve`: the admin (and the bot when a token is set) until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

import click
from aiohttp import web

from admin.app import create_app
from admin.cli.runtime import cli_runtime, cli_settings, run
from admin.server import start_runner
from storage.config import Settings
from storage.logs import configure_logging

log = logging.getLogger("supportdesk")


@click.command()
@click.option("--host", default=None, help="Bind address (default SUPPORTDESK_ADMIN_HOST).")
@click.option("--port", type=int, default=None, help="Port (default SUPPORTDESK_ADMIN_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Migrate the database, then serve the admin (and the bot when a token is set)."""
    settings = cli_settings()
    configure_logging(settings)  # text or JSON lines, secrets scrubbed
    run(
        _serve(
            settings, host or settings.admin_host, port if port is not None else settings.admin_port
        )
    )


async def _serve(settings: Settings, host: str, port: int) -> None:
    # The app first: its wiring checks settings (webhook, retention periods) before a
    # fresh database is migrated.
    app = create_app(settings)
    async with cli_runtime(settings):
        pass  # migrated; the app opens its own engine and object store in its cleanup_ctx
    # On SIGTERM in-flight requests get up to 25 s to finish (compose allows 60 s in all).
    # Every response, aiohttp's own 400s for unparsable requests too, says "supportdesk".
    runner = await start_runner(app, handle_signals=False, access_log=None, shutdown_timeout=25)
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0] if runner.addresses else (host, port)
    log.info("admin listening on http://%s:%s", bound[0], bound[1])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runner.cleanup()
