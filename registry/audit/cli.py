"""``registry audit verify`` and ``registry audit export``."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click
from flask import Flask
from flask.cli import AppGroup

from registry.cli_util import UtcTime, open_input

audit_cli = AppGroup("audit", help="Verify and export the audit trail.")


@audit_cli.command("verify")
@click.option(
    "--file", "path", default=None, help="Re-verify an export (JSON Lines) instead of the database."
)
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(1, 1_000_000))
def verify_command(path: str | None, batch_size: int) -> None:
    """Walk the hash chain; exit 1 naming the first altered, inserted or removed entry."""
    from registry.audit.verify import verify_chain, verify_lines

    if path is not None:
        with open_input(path) as fh:
            result = verify_lines(fh)
        where = path
    else:
        result = verify_chain(batch_size=batch_size)
        where = "audit trail"
    if result.problem is not None:
        click.echo(
            f"{where}: TAMPERED ({result.problem.kind}) - {result.problem.message}; "
            f"{result.count} entries before it verified",
            err=True,
        )
        sys.exit(1)
    click.echo(f"{where}: intact, {result.count} entries verified (last seq {result.last_seq})")


@audit_cli.command("export")
@click.option("--since", type=UtcTime(), default=None, help="Entries at or after this time.")
@click.option("--until", type=UtcTime(), default=None, help="Entries before this time.")
@click.option("--output", "-o", default="-", show_default=True, help="File to write (- for stdout).")
def export_command(since: datetime | None, until: datetime | None, output: str) -> None:
    """Write entries as JSON Lines (with prev_hash and hash, so a slice can be re-verified)."""
    from registry.audit.verify import iter_export

    fh = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
    count = 0
    try:
        for doc in iter_export(since=since, until=until):
            fh.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    finally:
        if fh is not sys.stdout:
            fh.close()
    click.echo(f"exported {count} entries", err=True)


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(audit_cli)
