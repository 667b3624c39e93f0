"""Shared pieces of the command line: who is acting, input files, progress and import summaries."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import click
from tqdm import tqdm


def cli_actor() -> str:
    """Name the operator behind a command for the audit trail (REGISTRY_ACTOR overrides)."""
    explicit = os.environ.get("REGISTRY_ACTOR")
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = "unknown"
    return f"cli:{user}"


@contextmanager
def open_input(path: str) -> Iterator[IO[str]]:
    """Open a JSON Lines file (``-`` for standard input) as UTF-8 text, with a clear error if missing."""
    if path == "-":
        yield sys.stdin
        return
    try:
        fh = open(path, encoding="utf-8-sig")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        yield fh


def _count_lines(path: str) -> int | None:
    if path == "-":
        return None
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


@contextmanager
def progress_bar(path: str, unit: str) -> Iterator[Any]:
    """Show a progress bar on stderr (silent when stderr is not a terminal)."""
    with tqdm(
        total=_count_lines(path), unit=f" {unit}", file=sys.stderr, disable=None, mininterval=0.5
    ) as bar:
        yield bar


def print_import_report(report: Any, noun: str) -> None:
    """Print per-line errors on stderr and the summary on stdout; exit 1 if any line failed."""
    for number, message in report.errors:
        click.echo(f"line {number}: {message}", err=True)
    skipped = getattr(report, "skipped", 0)
    click.echo(
        f"{noun}: {report.read} lines read, {report.created} created, {skipped} already present, "
        f"{len(report.errors) - skipped} rejected"
    )
    if len(report.errors) > skipped:
        sys.exit(1)
