"""Shared pieces of the command line: who is acting, input files, progress and import summaries."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

import click
from tqdm import tqdm

from registry.settings import app_settings
from registry.timeutil import as_of_problem, to_naive_utc, utcnow


class UtcTime(click.ParamType[datetime]):
    """An ISO 8601 time with a zone (``Z`` or ``+08:00``), as the HTTP API takes; stored as naive UTC.

    A time without a zone is refused rather than guessed: an operator in Beijing and the server in UTC
    would read it eight hours apart.
    """

    name = "time"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time, e.g. 2024-05-01T03:00:00+08:00", param, ctx)
        if parsed.tzinfo is None:
            self.fail(f"{value!r} has no time zone; give one, e.g. {value}+08:00 or {value}Z", param, ctx)
        try:
            return to_naive_utc(parsed)
        except OverflowError:
            # "0001-01-01T00:00:00+08:00" is before the first representable UTC instant.
            self.fail(f"{value!r} is out of range", param, ctx)


def checked_as_of(as_of: datetime | None, *, dry_run: bool = False, has_dry_run: bool = False) -> datetime:
    """Return a command's --as-of (default now), refusing the future and impossible times as usage errors."""
    if as_of is None:
        return utcnow()

    skew = float(app_settings().activity_future_skew_seconds)
    problem = as_of_problem(as_of, skew_seconds=skew, allow_future=dry_run)
    if problem:
        hint = " A --dry-run may look ahead." if has_dry_run and "future" in problem else ""
        raise click.BadParameter(problem + hint, param_hint="'--as-of'")
    return as_of


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
def open_input(path: str) -> Iterator[Iterator[str]]:
    """Open a JSON Lines file (``-``: standard input) as lines of UTF-8 text; a clear error if missing.

    Decoding is per line: a line whose bytes are not UTF-8 comes through with them as lone surrogates
    (``surrogateescape``), which ``parse_line`` rejects with the line's number, so one bad byte costs
    one line instead of aborting the whole import.
    """
    if path == "-":
        yield _decoded_lines(sys.stdin.buffer)
        return
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        yield _decoded_lines(fh)


def _decoded_lines(raw: IO[bytes]) -> Iterator[str]:
    first = True
    for line in raw:
        if first:
            first = False
            line = line.removeprefix(b"\xef\xbb\xbf")
        yield line.decode("utf-8", "surrogateescape")


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


def print_line_notes(report: Any) -> None:
    """Print an import's rejected lines and its warnings on stderr, in line order."""
    notes = [(n, m) for n, m in report.errors] + [(n, f"warning: {m}") for n, m in report.warnings]
    for number, message in sorted(notes, key=lambda note: note[0]):
        click.echo(f"line {number}: {message}", err=True)


def print_import_report(report: Any, noun: str) -> None:
    """Print per-line errors on stderr and the summary on stdout; exit 1 if any line failed."""
    print_line_notes(report)
    skipped = getattr(report, "skipped", 0)
    click.echo(
        f"{noun}: {report.read} lines read, {report.created} created, {skipped} already present, "
        f"{len(report.errors) - skipped} rejected, {len(report.warnings)} warnings"
    )
    if len(report.errors) > skipped:
        sys.exit(1)
