"""Sweep runs, their dormancy notices, and the lock row that keeps one sweep at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.timeutil import utcnow


class SweepRun(Model):
    __tablename__ = "sweep_runs"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    dry_run: Mapped[bool] = mapped_column(sa.Boolean)
    forced: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    as_of: Mapped[datetime] = mapped_column(sa.DateTime)
    status: Mapped[str] = mapped_column(sa.String(16), default="running")
    started_by: Mapped[str] = mapped_column(sa.String(128))
    started_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    counts: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    timings: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    message: Mapped[str | None] = mapped_column(sa.Text)


class DormancyNotice(Model):
    """An account a sweep turned dormant, for the platform to warn its owner before suspension.

    ``GET /v1/sweeps/{id}/dormant`` lists a run's notices; ``.../dormant/delivered`` marks them sent.
    """

    __tablename__ = "dormancy_notices"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    account_id: Mapped[str] = mapped_column(sa.String(128))
    at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    suspend_after: Mapped[datetime] = mapped_column(sa.DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(sa.DateTime)


class Lock(Model):
    """Named lock rows, for SQLite where there are no advisory locks."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(sa.String(128))
    acquired_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
