"""The ``registry`` console script: Flask's CLI under our name, plus ``serve``."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup


def _create_app() -> object:
    from registry import create_app
    from registry.settings import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        # A setting an operator must fix: say which, without a traceback.
        raise click.UsageError(f"configuration: {exc}") from None


class RegistryGroup(FlaskGroup):
    """Flask's command group; a refusal from a service ends the command with its message, exit 1."""

    def invoke(self, ctx: click.Context) -> object:
        from registry.domain_errors import DomainError, describe

        try:
            return super().invoke(ctx)
        except DomainError as exc:
            detail = f" ({describe(exc)})" if exc.errors else ""
            raise click.ClickException(f"{exc.message}{detail}") from None


@click.group(cls=RegistryGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """Account registry and blacklist service."""


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--timeout", default=30, show_default=True, type=int, help="Seconds before a stuck worker restarts."
)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Request threads per worker.",
)
@click.option(
    "--read-timeout",
    default=10,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds a client has to send a whole request; slower ones are dropped.",
)
def serve(host: str, port: int, workers: int, timeout: int, threads: int, read_timeout: int) -> None:
    """Serve the HTTP API with gunicorn."""
    from registry.serve import run

    run(host=host, port=port, workers=workers, timeout=timeout, threads=threads, read_timeout=read_timeout)


@main.command("schemas")
@click.argument("directory", default="schemas", type=click.Path(file_okay=False))
def schemas(directory: str) -> None:
    """Write the published OpenAPI document and the import/export file schemas into DIRECTORY."""
    import json
    from pathlib import Path

    from registry.extensions import api
    from registry.file_formats import write_all

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    openapi = target / "openapi.json"
    openapi.write_text(json.dumps(api.spec.to_dict(), indent=2) + "\n", encoding="utf-8")
    for path in [openapi, *write_all(target)]:
        click.echo(str(path))


@main.command("routes")
def routes() -> None:
    """List the HTTP routes."""
    from flask import current_app

    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        methods = ",".join(sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}))
        click.echo(f"{methods:20s} {rule.rule}")
