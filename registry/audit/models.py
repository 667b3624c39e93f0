"""The audit trail: append-only, one entry per change, each hash covering the one before."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.timeutil import utcnow


class AuditEntry(Model):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(128), index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    subject: Mapped[str] = mapped_column(sa.String(200), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class AuditHead(Model):
    """One row holding the chain's tip; appenders lock it so concurrent writers never fork the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), default=0)
    hash: Mapped[str] = mapped_column(sa.String(64))
    # The last webhook outbox position (registry/events): every event is appended under this row's
    # lock, so positions follow the commit order; moved in the same UPDATE as ``seq``.
    event_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")


class AuditSubjectKey(Model):
    """One data key of a subject (crypto-shredding): wrapped under a key the database does not hold.

    A purge sets ``wrapped`` to NULL: the subject's sealed audit fields can no longer be read, while the
    chain (which covers the ciphertext) still verifies.
    """

    __tablename__ = "audit_subject_keys"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(200), index=True)
    wrapped: Mapped[str | None] = mapped_column(sa.String(120))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
