"""``registry audit verify``, ``export``, ``checkpoint`` and ``public-key``."""

from __future__ import annotations

import sys
from datetime import datetime

import click
from flask import Flask
from flask.cli import AppGroup

from registry.cli_util import UtcTime, open_input
from registry.settings import app_settings

audit_cli = AppGroup("audit", help="Verify, export and checkpoint the audit trail.")


def _report(where: str, result: object) -> None:
    from registry.audit.verify import VerifyResult

    assert isinstance(result, VerifyResult)
    for note in result.notes:
        click.echo(f"{where}: note: {note}", err=True)
    if result.problems:
        for problem in result.problems:
            click.echo(f"{where}: TAMPERED ({problem.kind}) - {problem.message}", err=True)
        click.echo(f"{where}: {result.count} entries verified before the first break", err=True)
        sys.exit(1)
    extra = (
        f", {result.checkpoints} checkpoints up to seq {result.checkpoint_seq}" if result.checkpoints else ""
    )
    click.echo(f"{where}: intact, {result.count} entries verified (last seq {result.last_seq}){extra}")


@audit_cli.command("verify")
@click.option(
    "--file", "path", default=None, help="Re-verify an export (JSON Lines) instead of the database."
)
@click.option(
    "--checkpoints",
    multiple=True,
    help="Checkpoint file to hold the trail against (repeatable; default REGISTRY_AUDIT_CHECKPOINTS).",
)
@click.option(
    "--public-key",
    default=None,
    help="With --file: check links and the signed trailer with this public key alone (no audit key).",
)
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(1, 1_000_000))
def verify_command(
    path: str | None, checkpoints: tuple[str, ...], public_key: str | None, batch_size: int
) -> None:
    """Check keyed hashes, links and signed checkpoints; exit 1 naming every break found."""
    from registry.audit.checkpoints import app_keys
    from registry.audit.keys import public_key_from_text
    from registry.audit.verify import verify_chain, verify_lines

    keys = app_keys()
    if path is not None:
        if public_key is not None:
            try:
                pub = public_key_from_text(public_key)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--public-key") from None
            with open_input(path) as fh:
                result = verify_lines(fh, None, pub)
        else:
            with open_input(path) as fh:
                result = verify_lines(fh, keys, keys.public_key)
        _report(path, result)
        return
    if public_key is not None:
        raise click.UsageError("--public-key goes with --file (the database walk needs REGISTRY_AUDIT_KEY)")
    paths = list(checkpoints) or [app_settings().audit_checkpoints]
    _report("audit trail", verify_chain(keys, paths, batch_size=batch_size))


@audit_cli.command("export")
@click.option("--since", type=UtcTime(), default=None, help="Entries at or after this time.")
@click.option("--until", type=UtcTime(), default=None, help="Entries before this time.")
@click.option("--output", "-o", default="-", show_default=True, help="File to write (- for stdout).")
@click.option(
    "--sealed-only",
    is_flag=True,
    help="Leave out the opened personal fields: only what the chain covers (ciphertext).",
)
def export_command(since: datetime | None, until: datetime | None, output: str, sealed_only: bool) -> None:
    """Write entries as JSON Lines ending in a signed trailer, so a cut or rewrite is caught."""
    from registry.audit.checkpoints import app_keys
    from registry.audit.verify import iter_export

    fh = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
    count = -1
    try:
        for line in iter_export(app_keys(), since=since, until=until, sealed_only=sealed_only):
            fh.write(line)
            count += 1
    finally:
        if fh is not sys.stdout:
            fh.close()
    click.echo(f"exported {count} entries", err=True)


@audit_cli.command("checkpoint")
def checkpoint_command() -> None:
    """Sign the committed chain head and append it to REGISTRY_AUDIT_CHECKPOINTS (cron: every minute)."""
    from registry.audit.checkpoints import app_keys, write_checkpoint
    from registry.audit.verify import _head

    head = _head()
    settings = app_settings()
    if head is None or head[0] == 0:
        click.echo("audit trail is empty: nothing to checkpoint", err=True)
        return
    write_checkpoint(settings.audit_checkpoints, app_keys(), head[0], head[1])
    click.echo(f"checkpoint of seq {head[0]} appended to {settings.audit_checkpoints}")


@audit_cli.command("public-key")
def public_key_command() -> None:
    """Print the Ed25519 public key that checks checkpoints and export trailers (give it to auditors)."""
    from registry.audit.checkpoints import app_keys

    click.echo(app_keys().public_key_text)


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(audit_cli)
