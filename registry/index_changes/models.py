"""The check index's change log: one row per change every worker's in-memory index must apply."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.timeutil import utcnow


class ChangeKind(enum.StrEnum):
    """What changed, and so what ``subject`` names."""

    # A ban was created (subject: the ban id): load its identifiers, names, ranges and avatars.
    BAN_CREATED = "create"
    # A ban was lifted (subject: the ban id): drop it from the indexes.
    BAN_LIFTED = "lift"
    # Staff judged name matches of a ban false positives (subject: the ban id): reload its suppressions.
    BAN_SUPPRESSED = "suppress"
    # A verified organisation's or public account's name is (again) protected (subject: the account id).
    ACCOUNT_PROTECTED = "protect"
    # It is no longer protected (subject: the account id).
    ACCOUNT_UNPROTECTED = "unprotect"
    # Name key counts changed (no subject): re-read the ``name_key_counts`` rows whose event_id is this row.
    NAME_COUNTS = "counts"


KINDS_SQL = ", ".join(f"'{k.value}'" for k in ChangeKind)


class IndexChange(Model):
    """Change log every worker polls to keep its in-memory check index in step with the database."""

    __tablename__ = "index_changes"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    # A ban id or an account id, as the kind says; NULL for name counts.
    subject: Mapped[str | None] = mapped_column(sa.String(128))
    at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)

    __table_args__ = (sa.CheckConstraint(f"kind IN ({KINDS_SQL})", name="kind"),)
