"""The `supportdesk` command line: one entry point for operators."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from storage import migrate as migrations
from storage.clock import SystemClock
from storage.config import ConfigError, Settings, ensure_data_dir, load_settings
from storage.db import create_engine, create_sessionmaker
from storage.models import StaffRole
from storage.services.audit import Actor
from storage.services.errors import ServiceError
from storage.services.staff import create_user as create_staff_user

T = TypeVar("T")
log = logging.getLogger("supportdesk")


def _settings(ctx: click.Context) -> Settings:
    try:
        settings = load_settings()
        ensure_data_dir(settings)  # SQLite file, local store, secret key, temp files
        return settings
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        ctx.exit(2)
        raise  # unreachable; keeps type checkers honest


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


def _run_in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Migrate, run one service call in its own session and commit; a ServiceError ends the
    command with its message and exit code 1."""

    async def run() -> T:
        await _migrate(settings)
        engine = create_engine(settings.effective_database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except ServiceError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


def _setup_logging(settings: Settings) -> None:
    from storage.logs import configure_logging

    configure_logging(settings)  # text or JSON lines, secrets scrubbed


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """supportdesk: support desk for business customers (Telegram bot, web admin,
    call-recording vault). Configure with SUPPORTDESK_* environment variables (see README)."""


async def _migrate(settings: Settings) -> str | None:
    engine = create_engine(settings.effective_database_url)
    try:
        await migrations.upgrade(engine)
        return await migrations.current_revision(engine)
    finally:
        await engine.dispose()


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Upgrade the database schema to the newest revision."""
    settings = _settings(ctx)
    revision = _run(lambda: _migrate(settings))
    click.echo(f"database at revision {revision}")


@main.command()
@click.option("--host", default=None, help="Bind address (default SUPPORTDESK_ADMIN_HOST).")
@click.option("--port", type=int, default=None, help="Port (default SUPPORTDESK_ADMIN_PORT).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Migrate the database, then serve the admin (and the bot when a token is set)."""
    settings = _settings(ctx)
    _setup_logging(settings)
    try:
        _run(
            lambda: _serve(
                settings,
                host or settings.admin_host,
                port if port is not None else settings.admin_port,
            )
        )
    except ConfigError as exc:  # e.g. webhook mode without a secret
        click.echo(str(exc), err=True)
        ctx.exit(2)


async def _serve(settings: Settings, host: str, port: int) -> None:
    from admin.app import create_app

    # The app first: its wiring checks settings (webhook, retention periods) before a
    # fresh database is migrated.
    app = create_app(settings)
    await _migrate(settings)
    # On SIGTERM in-flight requests get up to 25 s to finish (compose allows 60 s in all).
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=25)
    await runner.setup()
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


@main.command("create-user")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([r.value for r in StaffRole]),
    required=True,
    help="agent, trainer, privacy_officer or admin.",
)
@click.option("--name", "display_name", default="", help="Display name.")
@click.pass_context
def create_user(ctx: click.Context, username: str, role: str, display_name: str) -> None:
    """Create a staff user. The password comes from SUPPORTDESK_PASSWORD or a prompt."""
    settings = _settings(ctx)
    password = os.environ.get("SUPPORTDESK_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )

    user = _run_in_session(
        settings,
        lambda session: create_staff_user(
            session,
            SystemClock(),
            username=username,
            password=password,
            role=StaffRole(role),
            actor=Actor.system("cli"),
            display_name=display_name,
        ),
    )
    click.echo(f"created {user.role.value} {user.username} (id {user.id})")


@main.command("create-token")
@click.argument("username")
@click.option("--name", default="", help="A label for the token (e.g. the script using it).")
@click.option(
    "--expires-in",
    default="",
    help="Refuse the token after this long: 12h, 90d or 4w (default: valid until revoked).",
)
@click.pass_context
def create_token(ctx: click.Context, username: str, name: str, expires_in: str) -> None:
    """Create a personal API token for USERNAME and print it (it is stored hashed only)."""
    from admin.parsing import parse_duration
    from storage.services.access import create_api_token

    try:
        lifetime = parse_duration(expires_in) if expires_in else None
    except ServiceError as exc:
        raise click.BadParameter(exc.message, param_hint="--expires-in") from None
    settings = _settings(ctx)
    clock = SystemClock()
    expires_at = clock.now() + lifetime if lifetime else None

    record, token = _run_in_session(
        settings,
        lambda session: create_api_token(
            session,
            clock,
            username=username,
            name=name,
            actor=Actor.system("cli"),
            expires_at=expires_at,
        ),
    )
    click.echo(token)
    if record.expires_at is not None:
        click.echo(f"expires {record.expires_at:%Y-%m-%d %H:%M} UTC", err=True)


@main.command("link-code")
@click.argument("contact_id", type=int)
@click.option(
    "--relink",
    is_flag=True,
    help="The contact is linked already and changed Telegram account: move it to the new one.",
)
@click.pass_context
def link_code(ctx: click.Context, contact_id: int, relink: bool) -> None:
    """Print a one-time code (valid 24 h) and its deep link that links a Telegram account to
    contact CONTACT_ID."""
    from storage.services.linking import LinkCodeService

    settings = _settings(ctx)
    code = _run_in_session(
        settings,
        lambda session: LinkCodeService(SystemClock()).create(
            session, contact_id, actor=Actor.system("cli"), relink=relink
        ),
    )
    bot = settings.telegram_bot_username.lstrip("@") or "<bot-username>"
    click.echo(code)
    click.echo(f"https://t.me/{bot}?start={code}")


# The recording vault's commands (issue 5).
import recordings.cli as _recordings_cli  # noqa: E402

main.add_command(_recordings_cli.ingest)
# Retention (issue 6): `sweep` covers every rule, recordings included.
import storage.retention.cli as _retention_cli  # noqa: E402

main.add_command(_retention_cli.sweep)
main.add_command(_retention_cli.reconcile)
main.add_command(_retention_cli.hold_review)

# Privacy rights (issue 6): the access/portability export.
from admin.privacy_cli import export as _privacy_export  # noqa: E402

main.add_command(_privacy_export)

# Operations (issue 7).
from admin.backup_check import backup_check as _backup_check  # noqa: E402

main.add_command(_backup_check)


if __name__ == "__main__":
    main()
