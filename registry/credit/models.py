"""Violation records (用户信用记录): each handled violation, with its rule and severity."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.timeutil import utcnow

SEVERITIES = ("minor", "moderate", "severe")


class Violation(Model):
    __tablename__ = "violations"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(128))
    rule: Mapped[str] = mapped_column(sa.String(64))
    severity: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str | None] = mapped_column(sa.Text)
    deduction: Mapped[int] = mapped_column(sa.Integer)
    actor: Mapped[str] = mapped_column(sa.String(128))
    at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    # Set when the violation is voided (an appeal granted): its deduction was given back.
    voided_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    voided_by: Mapped[str | None] = mapped_column(sa.String(128))
    void_reason: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.Index("ix_violations_account", "account_id", "at"),
        sa.CheckConstraint(f"severity IN {SEVERITIES}", name="severity"),
    )
