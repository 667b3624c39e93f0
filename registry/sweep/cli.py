"""``registry sweep``: the nightly zombie and shell account sweep."""

from __future__ import annotations

import sys
from datetime import datetime

import click
from flask import Flask
from flask.cli import with_appcontext
from tqdm import tqdm

from registry.cli_util import UtcTime, cli_actor
from registry.db import writing
from registry.sweep import service
from registry.sweep.models import SweepRun


@click.command("sweep")
@with_appcontext
@click.option("--dry-run", is_flag=True, help="Report what a run would do; change nothing.")
@click.option("--as-of", "as_of", type=UtcTime(), help="Sweep as of this ISO 8601 time (default: now).")
@click.option("--force", is_flag=True, help="Run even if the safety cap would refuse it.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Accounts per committed batch.")
def sweep_command(dry_run: bool, as_of: datetime | None, force: bool, batch_size: int | None) -> None:
    """Run the zombie/shell account sweep; print a summary.

    Exit status: 0 done, 3 refused by the safety cap, 4 another sweep is running, 1 other errors.
    """
    when = as_of
    with tqdm(unit=" accounts", file=sys.stderr, disable=None, mininterval=0.5) as bar:

        def progress(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            with writing():
                run = service.run_sweep(
                    actor=cli_actor(),
                    as_of=when,
                    dry_run=dry_run,
                    force=force,
                    batch_size=batch_size,
                    progress=progress,
                )
        except service.SweepInputError as exc:
            raise click.BadParameter(str(exc), param_hint=f"--{exc.field.replace('_', '-')}") from None
        except service.SweepBusy as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(service.EXIT_BUSY)
        except service.SweepRefused as exc:
            click.echo(f"refused (run {exc.run.id}): {exc}", err=True)
            click.echo(summary(exc.run))
            sys.exit(service.EXIT_REFUSED)
    click.echo(summary(run))


def summary(run: SweepRun) -> str:
    """Describe a run in one line."""
    n = {k: (run.counts or {}).get(k, 0) for k in ("dormant", "shell", "zombie", "suspended", "purged")}
    timings = run.timings or {}
    verb = "would make" if run.dry_run or run.status == "refused" else "made"
    text = (
        f"sweep {run.id} {run.status}{' (dry run)' if run.dry_run else ''} "
        f"as of {run.as_of:%Y-%m-%dT%H:%M:%S}Z: "
        f"{verb} {n['dormant']} dormant ({n['shell']} shell, {n['zombie']} zombie), "
        f"{n['suspended']} suspended, {n['purged']} purged; "
        f"{timings.get('accounts', 0)} accounts in {timings.get('total_seconds', 0)} s"
    )
    return f"{text}; {run.message}" if run.message else text


def init_app(app: Flask) -> None:
    """Register the command."""
    app.cli.add_command(sweep_command)
