"""``registry verification expire``."""

from __future__ import annotations

from datetime import datetime

import click
from flask import Flask
from flask.cli import AppGroup

from registry.cli_util import UtcTime, checked_as_of, cli_actor
from registry.db import writing
from registry.timeutil import to_aware

verification_cli = AppGroup("verification", help="Real-name verification maintenance.")


@verification_cli.command("expire")
@click.option(
    "--as-of",
    "as_of",
    type=UtcTime(),
    default=None,
    help="Expire what is overdue at this time (default: now).",
)
@click.option("--dry-run", is_flag=True, help="Report what would expire and change nothing.")
def expire_command(as_of: datetime | None, dry_run: bool) -> None:
    """Mark verified accounts whose verification period has ended as expired."""
    from registry.verification.service import expire_overdue

    when = checked_as_of(as_of, dry_run=dry_run, has_dry_run=True)
    with writing():
        report = expire_overdue(as_of=when, actor=cli_actor(), dry_run=dry_run)
    verb = "would expire" if dry_run else "expired"
    stamp = to_aware(report.as_of).isoformat()
    click.echo(
        f"{verb} {report.expired} verification(s) as of {stamp}; "
        f"{report.unprotected} organisation/public name(s) no longer protected"
    )


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(verification_cli)
