"""Tier history: every move of an account on the ladder, by staff or by credit."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.timeutil import utcnow


class TierChange(Model):
    __tablename__ = "tier_changes"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(128))
    from_tier: Mapped[str | None] = mapped_column(sa.String(32))
    to_tier: Mapped[str] = mapped_column(sa.String(32))
    reason: Mapped[str] = mapped_column(sa.Text)
    rule: Mapped[str | None] = mapped_column(sa.String(64))
    actor: Mapped[str] = mapped_column(sa.String(128))
    automatic: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)

    __table_args__ = (sa.Index("ix_tier_changes_account", "account_id", "id"),)
