"""Signup checks worth keeping: those answering ``review`` or ``deny`` (``allow`` is not stored)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.timeutil import utcnow


class CheckRecord(Model):
    __tablename__ = "checks"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(128))
    decision: Mapped[str] = mapped_column(sa.String(8), index=True)
    username: Mapped[str | None] = mapped_column(sa.String(128))
    display_name: Mapped[str | None] = mapped_column(sa.String(256))
    # Masked identifiers only: enough for staff to see what was checked, never the raw value.
    masked: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
