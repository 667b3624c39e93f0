"""``registry verification expire``."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask
from flask.cli import AppGroup

from registry.cli_util import cli_actor
from registry.db import writing
from registry.timeutil import to_aware, to_naive_utc

verification_cli = AppGroup("verification", help="Real-name verification maintenance.")


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint="--as-of") from None
    if parsed.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2024-05-01T08:00:00+08:00", param_hint="--as-of")
    return to_naive_utc(parsed.astimezone(UTC))


@verification_cli.command("expire")
@click.option("--as-of", "as_of", default=None, help="Expire what is overdue at this time (default: now).")
@click.option("--dry-run", is_flag=True, help="Report what would expire and change nothing.")
def expire_command(as_of: str | None, dry_run: bool) -> None:
    """Mark verified accounts whose verification period has ended as expired."""
    from registry.verification.service import expire_overdue

    when = _parse_time(as_of)
    with writing():
        report = expire_overdue(as_of=when, actor=cli_actor(), dry_run=dry_run)
    verb = "would expire" if dry_run else "expired"
    stamp = to_aware(report.as_of).isoformat()  # type: ignore[union-attr]
    click.echo(
        f"{verb} {report.expired} verification(s) as of {stamp}; "
        f"{report.unprotected} organisation/public name(s) no longer protected"
    )


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(verification_cli)
