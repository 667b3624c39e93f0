"""``registry staff create|list|disable|reset-totp``."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from registry.cli_util import cli_actor
from registry.console import staff as service
from registry.console.models import ROLES
from registry.db import writing
from registry.domain_errors import DomainError, describe
from registry.extensions import db

staff_cli = AppGroup("staff", help="Manage the console's staff users.")


@staff_cli.command("create")
@click.option("--name", required=True, help="Sign-in name; the actor of everything they do.")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from standard input.")
def create_command(name: str, role: str, password_stdin: bool) -> None:
    """Create a staff user; the password is read from standard input (first line)."""
    password = sys.stdin.readline().rstrip("\r\n")
    with writing():
        try:
            user = service.create_staff(name, role, password, actor=cli_actor())
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(describe(exc)) from None
        db.session.commit()
    second = " (must enrol a second factor at first sign-in)" if role in service.TOTP_REQUIRED else ""
    click.echo(f"created staff user {user.name!r} with role {user.role}{second}")


@staff_cli.command("list")
def list_command() -> None:
    """List staff: name, role, second factor, state, last sign-in."""
    for user in service.list_staff():
        state = f"disabled {user.disabled_at:%Y-%m-%d %H:%M}Z" if user.disabled_at else "active"
        totp = "totp" if user.totp_enabled else "no-totp"
        last = f"{user.last_login_at:%Y-%m-%d %H:%M}Z" if user.last_login_at else "never"
        click.echo(f"{user.name}\t{user.role}\t{totp}\t{state}\tlast sign-in {last}")


@staff_cli.command("disable")
@click.option("--name", required=True)
def disable_command(name: str) -> None:
    """Disable a staff user; their sessions end at once."""
    with writing():
        try:
            service.disable_staff(name, actor=cli_actor())
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(describe(exc)) from None
        db.session.commit()
    click.echo(f"disabled staff user {name!r}")


@staff_cli.command("reset-totp")
@click.option("--name", required=True)
def reset_totp_command(name: str) -> None:
    """Forget a staff user's second factor; they enrol again at their next sign-in."""
    with writing():
        try:
            service.reset_totp(name, actor=cli_actor())
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(describe(exc)) from None
        db.session.commit()
    click.echo(f"reset the second factor of {name!r}")


def init_app(app: Flask) -> None:
    """Register the command group."""
    app.cli.add_command(staff_cli)
