"""``registry report annual`` / ``monthly`` / ``verify``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

report_cli = AppGroup("report", help="The yearly report to the regulator and the monthly ledger.")

FORMATS = ("pdf", "html", "json")


def _produce(report: dict[str, Any], fmt: str, output: str | None) -> None:
    from registry.reports import render, service

    if fmt == "json":
        data = service.signed_json(report)
    else:
        body = render.to_pdf(report) if fmt == "pdf" else render.to_html(report)
        data = service.signed_file(body, report, fmt)
    if output is None or output == "-":
        if fmt == "pdf" and sys.stdout.isatty():
            raise click.UsageError("a PDF goes to a file: give --output FILE")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    Path(output).write_bytes(data)
    audit = report["audit"]
    click.echo(
        f"report written to {output} ({len(data)} bytes), audit head seq {audit['head_seq']}", err=True
    )


@report_cli.command("annual")
@click.option("--year", required=True, help="The report year, e.g. 2026.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="pdf", show_default=True)
@click.option("--output", default=None, help="File to write (default: standard output).")
@click.option("--skip-chain-walk", is_flag=True, help="Do not walk the audit chain (the cover says so).")
def annual_command(year: str, fmt: str, output: str | None, skip_chain_walk: bool) -> None:
    """Produce the signed yearly report (Chinese, charts of the monthly figures)."""
    from registry.reports import service

    _produce(service.annual(service.parse_year(year), verify=not skip_chain_walk), fmt, output)


@report_cli.command("monthly")
@click.option("--month", required=True, help="The ledger month, YYYY-MM.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="pdf", show_default=True)
@click.option("--output", default=None, help="File to write (default: standard output).")
@click.option("--skip-chain-walk", is_flag=True, help="Do not walk the audit chain (the cover says so).")
def monthly_command(month: str, fmt: str, output: str | None, skip_chain_walk: bool) -> None:
    """Produce the signed ledger of one month."""
    from registry.reports import service

    year, mon = service.parse_month(month)
    _produce(service.monthly(year, mon, verify=not skip_chain_walk), fmt, output)


@report_cli.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--public-key", default=None, help="Check with this public key (registry audit public-key).")
def verify_command(file: str, public_key: str | None) -> None:
    """Check a report's signature and that the audit head it names is in the trail; exit 1 if not."""
    from registry.reports import service

    problems = service.verify_file(Path(file).read_bytes(), public_key)
    if problems:
        for p in problems:
            click.echo(f"report verify: {p}", err=True)
        raise SystemExit(1)
    click.echo(f"report verify: {file}: signature good, audit head in the trail")


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(report_cli)
