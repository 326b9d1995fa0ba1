"""The `supportdesk` command line: one entry point for operators.

One module per area; each command loads settings with runtime.cli_settings and opens the
database and object store with runtime.cli_runtime."""

from __future__ import annotations

import click

from admin.cli.ops import backup_check, link_code, migrate
from admin.cli.privacy import export
from admin.cli.recordings import ingest
from admin.cli.retention import hold_review, reconcile, sweep
from admin.cli.serve import serve
from admin.cli.users import create_token, create_user

COMMANDS = (
    serve,
    migrate,
    create_user,
    ingest,
    sweep,
    reconcile,
    hold_review,
    create_token,
    backup_check,
    export,
    link_code,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """supportdesk: support desk for business customers (Telegram bot, web admin,
    call-recording vault). Configure with SUPPORTDESK_* environment variables (see README)."""


for command in COMMANDS:
    main.add_command(command)

__all__ = ["main"]
