"""Appeals: one per decision appealed (a ban or a violation), open until staff decide it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import db
from registry.timeutil import utcnow

OUTCOMES = ("granted", "denied")


class Appeal(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "appeals"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    # Exactly one of the two; unique, so a decision is appealed once (open or decided).
    ban_id: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    violation_id: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    statement: Mapped[str] = mapped_column(sa.Text)
    # The decision under appeal: who made it (the ban's created_by, the violation's actor) and when.
    decision_by: Mapped[str] = mapped_column(sa.String(128))
    decision_at: Mapped[datetime] = mapped_column(sa.DateTime)
    opened_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    opened_by: Mapped[str] = mapped_column(sa.String(128))
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    note: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    decided_by: Mapped[str | None] = mapped_column(sa.String(128))
    # An admin decided an appeal of their own decision.
    forced: Mapped[bool] = mapped_column(sa.Boolean, default=False)

    __table_args__ = (
        # The queues list by outcome (NULL: open) in id order, which is filing order.
        sa.Index("ix_appeals_queue", "outcome", "id"),
        sa.CheckConstraint("(ban_id IS NULL) <> (violation_id IS NULL)", name="one_decision"),
        sa.CheckConstraint(f"outcome IS NULL OR outcome IN {OUTCOMES}", name="outcome"),
    )
