"""``registry index snapshot``: build the check index from the database and save it for workers."""

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


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(index_cli)
