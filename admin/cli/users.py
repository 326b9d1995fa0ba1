"""`supportdesk create-user` and `supportdesk create-token`: staff accounts and their
personal API tokens."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import click

from admin.cli.runtime import cli_runtime, cli_settings, run
from admin.parsing import parse_duration
from storage.config import Settings
from storage.models import StaffRole, StaffUser
from storage.services.access import create_api_token
from storage.services.audit import Actor
from storage.services.errors import ServiceError
from storage.services.staff import create_user as create_staff_user


@click.command("create-user")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([r.value for r in StaffRole]),
    required=True,
    help="agent, trainer, privacy_officer or admin.",
)
@click.option("--name", "display_name", default="", help="Display name.")
def create_user(username: str, role: str, display_name: str) -> None:
    """Create a staff user. The password comes from SUPPORTDESK_PASSWORD or a prompt."""
    settings = cli_settings()
    password = os.environ.get("SUPPORTDESK_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    user = run(_create_user(settings, username, StaffRole(role), password, display_name))
    click.echo(f"created {user.role.value} {user.username} (id {user.id})")


async def _create_user(
    settings: Settings, username: str, role: StaffRole, password: str, display_name: str
) -> StaffUser:
    async with cli_runtime(settings) as rt:
        return await rt.in_session(
            lambda session: create_staff_user(
                session,
                rt.clock,
                username=username,
                password=password,
                role=role,
                actor=Actor.system("cli"),
                display_name=display_name,
            )
        )


@click.command("create-token")
@click.argument("username")
@click.option("--name", default="", help="A label for the token (e.g. the script using it).")
@click.option(
    "--expires-in",
    default="",
    help="Refuse the token after this long: 12h, 90d or 4w (default: valid until revoked).",
)
def create_token(username: str, name: str, expires_in: str) -> None:
    """Create a personal API token for USERNAME and print it (it is stored hashed only)."""
    try:
        lifetime = parse_duration(expires_in) if expires_in else None
    except ServiceError as exc:
        raise click.BadParameter(exc.message, param_hint="--expires-in") from None
    token, expires_at = run(_create_token(cli_settings(), username, name, lifetime))
    click.echo(token)
    if expires_at is not None:
        click.echo(f"expires {expires_at:%Y-%m-%d %H:%M} UTC", err=True)


async def _create_token(
    settings: Settings, username: str, name: str, lifetime: timedelta | None
) -> tuple[str, datetime | None]:
    async with cli_runtime(settings) as rt:
        expires_at = rt.clock.now() + lifetime if lifetime else None
        record, token = await rt.in_session(
            lambda session: create_api_token(
                session,
                rt.clock,
                username=username,
                name=name,
                actor=Actor.system("cli"),
                expires_at=expires_at,
            )
        )
        return token, record.expires_at
