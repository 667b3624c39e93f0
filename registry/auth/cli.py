"""``registry keys create|list|revoke``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from registry.auth import service
from registry.auth.models import SCOPES
from registry.cli_util import cli_actor
from registry.db import writing
from registry.extensions import db

keys_cli = AppGroup("keys", help="Manage API keys.")


@keys_cli.command("create")
@click.option(
    "--name", required=True, help="Who or what uses the key; shown as the actor in the audit trail."
)
@click.option(
    "--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES), help="Repeat for several."
)
def create_command(name: str, scopes: tuple[str, ...]) -> None:
    """Create an API key; the key is printed once, alone on the last line."""
    with writing():
        try:
            key, secret = service.create_key(name, list(scopes), actor=cli_actor())
        except service.KeyError_ as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        db.session.commit()
    click.echo(f"created key {key.name!r} ({key.prefix}...) with scopes: {key.scopes}", err=True)
    click.echo(secret)


@keys_cli.command("list")
def list_command() -> None:
    """List keys: name, prefix, scopes, created, last used, revoked."""
    for key in service.list_keys():
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}Z" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}Z" if key.last_used_at else "never"
        click.echo(
            f"{key.name}\t{key.prefix}...\t{key.scopes}\tcreated {key.created_at:%Y-%m-%d %H:%M}Z\t"
            f"last used {used}\t{state}"
        )


@keys_cli.command("revoke")
@click.option("--name", required=True)
def revoke_command(name: str) -> None:
    """Revoke a key by name; it stops working at once."""
    with writing():
        try:
            service.revoke_key(name, actor=cli_actor())
        except service.KeyError_ as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        db.session.commit()
    click.echo(f"revoked key {name!r}")


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(keys_cli)
