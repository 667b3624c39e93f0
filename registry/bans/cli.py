"""``registry bans import`` and ``registry bans expire``."""

from __future__ import annotations

import sys
import time
from datetime import datetime

import click
from flask import Flask
from flask.cli import AppGroup

from registry.cli_util import UtcTime, checked_as_of, cli_actor, open_input, print_line_notes, progress_bar

bans_cli = AppGroup("bans", help="Bulk ban operations.")


@bans_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--batch-size", default=2000, show_default=True, help="Bans committed per transaction.")
@click.option(
    "--workers", type=int, default=None, help="Processes preparing lines (default: one per CPU, max 8)."
)
@click.option(
    "--no-backcheck", is_flag=True, help="Leave the back-check of the new bans to `registry bans backcheck`."
)
def import_command(file: str, batch_size: int, workers: int | None, no_backcheck: bool) -> None:
    """Bulk-load bans from JSON Lines (one POST /v1/bans body per line); re-runs create nothing new."""
    from registry.bans.importer import default_workers, import_bans
    from registry.db import writing

    started = time.perf_counter()
    with open_input(file) as fh, progress_bar(file, "bans") as bar, writing():
        report = import_bans(
            fh, actor=cli_actor(), batch_size=batch_size, progress=bar, workers=workers or default_workers()
        )
    elapsed = time.perf_counter() - started
    print_line_notes(report)
    rate = report.created / elapsed if elapsed > 0 else 0.0
    # Same wording as the accounts import, so scripts read both summaries alike.
    click.echo(
        f"bans: {report.read} lines read, {report.created} created, {report.skipped} already present, "
        f"{len(report.errors)} rejected, {len(report.warnings)} warnings "
        f"({elapsed:.1f} s, {rate:,.0f} bans/s)"
    )
    if report.created and not no_backcheck:
        _backcheck(None)
    if report.errors:
        sys.exit(1)


def _backcheck(since: datetime | None) -> None:
    from tqdm import tqdm

    from registry.backcheck.service import pending, run
    from registry.db import writing

    started = time.perf_counter()
    _, total = pending(since)
    with tqdm(total=total, unit=" bans", file=sys.stderr, disable=None, mininterval=0.5) as bar, writing():
        report = run(actor=cli_actor(), since=since, progress=bar.update)
    elapsed = time.perf_counter() - started
    click.echo(
        f"backcheck: {report.bans} bans judged, {report.candidates} accounts recalled, "
        f"{report.reviews} reviews opened ({elapsed:.1f} s)"
    )


@bans_cli.command("backcheck")
@click.option(
    "--since",
    type=UtcTime(),
    default=None,
    help="Re-judge the bans created from this time (default: after the cursor).",
)
def backcheck_command(since: datetime | None) -> None:
    """Back-check new bans against existing accounts: matches open reviews (kind backcheck), never bans."""
    _backcheck(since)


@bans_cli.command("expire")
@click.option("--as-of", type=UtcTime(), default=None, help="Judge expiry at this time (default: now).")
@click.option("--dry-run", is_flag=True, help="Count the accounts without changing them.")
def expire_command(as_of: datetime | None, dry_run: bool) -> None:
    """Return accounts to active once every ban naming them has expired (run nightly, before the sweep)."""
    from registry.bans.service import release_expired
    from registry.db import writing

    when = checked_as_of(as_of, dry_run=dry_run, has_dry_run=True)
    with writing():
        count = release_expired(as_of=when, actor=cli_actor(), dry_run=dry_run)
    verb = "would return" if dry_run else "returned"
    click.echo(f"bans expire: {verb} {count} account(s) to active")


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(bans_cli)
