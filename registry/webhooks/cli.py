"""``registry webhooks deliver``: send the event outbox to the subscribed receivers."""

from __future__ import annotations

import signal
import time
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from registry.webhooks.service import Deliverer

webhooks_cli = AppGroup("webhooks", help="Signed webhooks of registry events.")


@webhooks_cli.command("deliver")
@with_appcontext
@click.option("--once", is_flag=True, help="Deliver what is due, then exit (for cron).")
@click.option(
    "--batch-size", type=click.IntRange(1, 1000), default=100, show_default=True, help="Deliveries per claim."
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option("--poll", "poll_seconds", type=click.FloatRange(0.05), default=1.0, show_default=True)
def deliver_command(once: bool, batch_size: int, concurrency: int, poll_seconds: float) -> None:
    """Fan new events out, send due deliveries signed, retry with back-off; SIGTERM stops after the batch."""
    deliverer = Deliverer(batch_size=batch_size, concurrency=concurrency)

    def stop(_signum: int, _frame: Any) -> None:
        deliverer.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started = time.perf_counter()
    try:
        stats = deliverer.run(once=once, poll_seconds=poll_seconds)
    finally:
        deliverer.close()
    took = time.perf_counter() - started
    click.echo(
        f"fanned out {stats.fanned} events; sent {stats.sent} ({stats.delivered} delivered, "
        f"{stats.failed} failed, {stats.dead} dead, {stats.paused} subscriptions paused) in {took:.1f} s",
        err=True,
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(webhooks_cli)
