"""``GET /healthz``: 200 once the database answers and every readiness probe passes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, jsonify

from registry.extensions import db

blp = Blueprint("health", __name__)

Probe = Callable[[], str | None]


def add_probe(app: Flask, probe: Probe) -> None:
    """Register a readiness probe: it returns None when ready, else what is not ready yet."""
    app.extensions.setdefault("registry.probes", []).append(probe)


@blp.get("/healthz")
def healthz() -> Any:
    """Tell load balancers whether this worker can answer checks."""
    problems: list[str] = []
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        problems.append(f"database: {exc.__class__.__name__}")
    finally:
        db.session.rollback()
    for probe in current_app.extensions.get("registry.probes", []):
        problem = probe()
        if problem:
            problems.append(problem)
    if problems:
        return jsonify({"status": "unavailable", "problems": problems}), 503
    return jsonify({"status": "ok"})
