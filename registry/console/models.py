"""Staff users of the console and their server-side sessions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import db
from registry.timeutil import utcnow

ROLES = ("reviewer", "moderator", "supervisor", "auditor")


class StaffUser(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    # Argon2id (argon2-cffi), with its parameters and salt in the string.
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    # Base32 TOTP secret; enabled only once a code from it was entered.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(sa.DateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(128))
    last_login_at: Mapped[datetime | None] = mapped_column(sa.DateTime)

    __table_args__ = (sa.CheckConstraint(f"role IN {ROLES}", name="role"),)


class StaffSession(db.Model):  # type: ignore[name-defined,misc]
    """A browser's session: the cookie holds a random token, the table its SHA-256."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    # None before sign-in: the session then only carries the sign-in form's CSRF token.
    staff_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow, index=True)
