"""API keys: stored as SHA-256 of a high-entropy secret, with a name, scopes and use times."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.timeutil import utcnow

SCOPES = (
    "check",
    "accounts:read",
    "accounts:write",
    "bans:read",
    "bans:write",
    "tiers:write",
    "verification:write",
    "sweeps:run",
    "audit:read",
    "reports:read",
    "admin",
)


class ApiKey(Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    # Keys are 256-bit random secrets, so an unsalted SHA-256 cannot be brute-forced.
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[str] = mapped_column(sa.String(512))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(128))
    last_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime)

    @property
    def scope_set(self) -> frozenset[str]:
        """Return the key's scopes as a set."""
        return frozenset(self.scopes.split())
