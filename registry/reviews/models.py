"""The review queue for flagged signups, and the false-positive suppressions it teaches the matcher."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.timeutil import utcnow

REVIEW_STATUSES = ("open", "claimed", "resolved")
# "signup": opened by a check answering review; "backcheck": an existing account matched a new ban
# (registry/backcheck), with no check behind it.
REVIEW_KINDS = ("signup", "backcheck")
OUTCOMES = ("confirmed", "false_positive")


class Review(Model):
    __tablename__ = "reviews"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    check_id: Mapped[str | None] = mapped_column(sa.ForeignKey("checks.id"), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="signup", server_default="signup")
    # A back-check review's ban (the new ban the account matched); one review per (account, ban).
    matched_ban_id: Mapped[str | None] = mapped_column(sa.String(40))
    account_id: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    username: Mapped[str | None] = mapped_column(sa.String(128))
    display_name: Mapped[str | None] = mapped_column(sa.String(256))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    assignee: Mapped[str | None] = mapped_column(sa.String(128))
    claimed_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    resolved_by: Mapped[str | None] = mapped_column(sa.String(128))
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    note: Mapped[str | None] = mapped_column(sa.Text)
    ban_id: Mapped[str | None] = mapped_column(sa.String(40))

    __table_args__ = (
        sa.Index("ix_reviews_queue", "status", "created_at"),
        sa.CheckConstraint(f"status IN {REVIEW_STATUSES}", name="status"),
        sa.CheckConstraint(f"kind IN {REVIEW_KINDS}", name="kind"),
        sa.UniqueConstraint("account_id", "matched_ban_id", name="uq_reviews_backcheck_pair"),
    )


class NameSuppression(Model):
    """A (name, ban) pair staff judged a false positive: it no longer opens a review."""

    __tablename__ = "name_suppressions"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    ban_id: Mapped[str] = mapped_column(sa.String(40))
    name_key: Mapped[str] = mapped_column(sa.String(256))
    review_id: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(128))

    __table_args__ = (sa.UniqueConstraint("ban_id", "name_key", name="uq_name_suppressions_pair"),)
