"""Operations: `supportdesk migrate`, `supportdesk backup-check` and `supportdesk link-code`."""

from __future__ import annotations

import sys

import click

from admin.backup_check import Check, run_checks
from admin.cli.runtime import cli_runtime, cli_settings, run
from recordings.archive import retention_days
from storage.config import Settings
from storage.services.audit import Actor
from storage.services.linking import LinkCodeService


@click.command()
def migrate() -> None:
    """Upgrade the database schema to the newest revision."""
    click.echo(f"database at revision {run(_migrate(cli_settings()))}")


async def _migrate(settings: Settings) -> str | None:
    async with cli_runtime(settings) as rt:
        return await rt.revision()


@click.command("backup-check")
def backup_check() -> None:
    """Verify the bucket's versioning, object lock and 90-day lifecycle and the database's
    migration level; exit 1 when something is not in place."""
    checks = run(_backup_check(cli_settings()))
    width = max(len(check.name) for check in checks)
    for check in checks:
        mark = "ok     " if check.ok else "PROBLEM"
        click.echo(f"[{mark}] {check.name.ljust(width)}  {check.detail}")
    problems = sum(not check.ok for check in checks)
    click.echo(f"{problems} problem(s)" if problems else "all checks passed")
    sys.exit(1 if problems else 0)


async def _backup_check(settings: Settings) -> list[Check]:
    # Neither migrates nor creates the bucket: both are what it checks.
    async with cli_runtime(settings, migrate=False) as rt:
        return await run_checks(rt.engine, rt.store, retention_days(settings))


@click.command("link-code")
@click.argument("contact_id", type=int)
@click.option(
    "--relink",
    is_flag=True,
    help="The contact is linked already and changed Telegram account: move it to the new one.",
)
def link_code(contact_id: int, relink: bool) -> None:
    """Print a one-time code (valid 24 h) and its deep link that links a Telegram account to
    contact CONTACT_ID."""
    settings = cli_settings()
    code = run(_link_code(settings, contact_id, relink))
    bot = settings.telegram_bot_username.lstrip("@") or "<bot-username>"
    click.echo(code)
    click.echo(f"https://t.me/{bot}?start={code}")


async def _link_code(settings: Settings, contact_id: int, relink: bool) -> str:
    async with cli_runtime(settings) as rt:
        return await rt.in_session(
            lambda session: LinkCodeService(rt.clock).create(
                session, contact_id, actor=Actor.system("cli"), relink=relink
            )
        )
