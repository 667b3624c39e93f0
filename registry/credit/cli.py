"""``registry credit recover``."""

from __future__ import annotations

from datetime import datetime

import click
from flask import Flask
from flask.cli import AppGroup

from registry.cli_util import UtcTime, checked_as_of, cli_actor
from registry.db import writing

credit_cli = AppGroup("credit", help="Credit housekeeping.")


@credit_cli.command("recover")
@click.option("--as-of", type=UtcTime(), default=None, help="Pretend it is this time (default: now).")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
def recover_command(as_of: datetime | None, batch_size: int) -> None:
    """Write down credit recovered over time and move tiers back up (run daily from cron)."""
    from registry.credit.service import recover

    when = checked_as_of(as_of)
    with writing():
        report = recover(as_of=when, actor=cli_actor(), batch_size=batch_size)
    click.echo(
        f"credit recover: {report.examined} accounts due, {report.recovered} recovered, "
        f"{report.tiers_moved} tiers moved"
    )


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(credit_cli)
