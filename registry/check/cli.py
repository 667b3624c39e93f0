"""``registry index snapshot|load|recount``: the check index, its snapshot and its name key counts."""

from __future__ import annotations

import sys
import time

import click
from flask import Flask
from flask.cli import AppGroup

index_cli = AppGroup("index", help="The check index (in-memory ban indexes) and its snapshot.")


@index_cli.command("snapshot")
@click.option("--path", default=None, help="Write here instead of REGISTRY_INDEX_SNAPSHOT.")
def snapshot_command(path: str | None) -> None:
    """Build the check index from the database and write its snapshot (the next start loads it)."""
    from flask import current_app

    from registry.check.index import CheckIndex

    index = CheckIndex(current_app._get_current_object())  # type: ignore[attr-defined]
    target = path or index.snapshot_path
    if not target:
        click.echo("index snapshot: REGISTRY_INDEX_SNAPSHOT is off; give --path", err=True)
        sys.exit(2)
    # Always from the database: a snapshot of a snapshot would carry its flaws forward.
    index.rebuild()
    started = time.perf_counter()
    written = index.write_snapshot(target)
    if written is None:
        click.echo("index snapshot: the change log is empty; nothing to save (a build is instant)")
        return
    stats = index.stats()
    click.echo(
        f"index snapshot: {written[0]} ({written[1]:,} bytes), {stats.bans} bans, {stats.names} names, "
        f"to event {stats.last_event}; built in {index.build_seconds:.1f} s, "
        f"written in {time.perf_counter() - started:.1f} s"
    )


@index_cli.command("load")
@click.option("--path", default=None, help="Read this instead of REGISTRY_INDEX_SNAPSHOT.")
def load_command(path: str | None) -> None:
    """Load the snapshot as a worker would and report whether it is used, and how long it took."""
    from flask import current_app

    from registry.check.index import CheckIndex

    index = CheckIndex(current_app._get_current_object())  # type: ignore[attr-defined]
    if path:
        index.snapshot_path = path
    index.ensure_ready()
    applied = 0
    while n := index.sync():
        applied += n
    stats = index.stats()
    click.echo(
        f"index load: from the {index.source} in {index.build_seconds:.2f} s, {stats.bans} bans, "
        f"{stats.names} names; {applied} later events applied, now at event {stats.last_event}"
    )


@index_cli.command("recount")
@click.option("--dry-run", is_flag=True, help="Report the differences without writing them.")
def recount_command(dry_run: bool) -> None:
    """Recount the name key counts (match and statistics keys) from the accounts in good standing."""
    from registry.accounts.recount import recount_name_keys
    from registry.extensions import db

    started = time.perf_counter()
    result = recount_name_keys(dry_run=dry_run)
    if not dry_run:
        db.session.commit()
    verb = "would change" if dry_run else "changed"
    click.echo(
        f"index recount: {result.accounts} accounts in good standing hold {result.keys} keys; {verb} "
        f"{result.changed}, added {result.added}, zeroed {result.zeroed}"
        + (f" (event {result.event_id})" if result.event_id else "")
        + f" in {time.perf_counter() - started:.1f} s"
    )


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(index_cli)
