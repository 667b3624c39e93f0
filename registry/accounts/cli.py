"""``registry accounts import``."""

from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import AppGroup

from registry.cli_util import cli_actor, open_input, print_import_report, progress_bar

accounts_cli = AppGroup("accounts", help="Bulk account operations.")


@accounts_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--batch-size", default=1000, show_default=True, help="Rows committed per transaction.")
@click.option(
    "--workers", type=int, default=None, help="Processes preparing lines (default: one per CPU, max 8)."
)
def import_command(file: str, batch_size: int, workers: int | None) -> None:
    """Bulk-load accounts from JSON Lines (one POST /v1/accounts body per line)."""
    from registry.accounts.service import import_accounts
    from registry.bans.importer import default_workers
    from registry.db import writing

    started = time.perf_counter()
    # Writers from the start, as the bans import: SQLite must not upgrade a read transaction mid-batch.
    with open_input(file) as fh, progress_bar(file, "accounts") as bar, writing():
        report = import_accounts(
            fh, actor=cli_actor(), batch_size=batch_size, progress=bar, workers=workers or default_workers()
        )
    elapsed = time.perf_counter() - started
    rate = report.created / elapsed if elapsed > 0 else 0.0
    click.echo(f"accounts import: {elapsed:.1f} s, {rate:,.0f} accounts/s", err=True)
    print_import_report(report, "accounts")


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(accounts_cli)
