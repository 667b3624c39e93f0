"""Bans, what they cover (identifiers as keyed hashes, IP ranges, names), and their change log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model
from registry.timeutil import utcnow

BAN_STATUSES = ("active", "lifted")
# "ip" holds one address (hashed like the other identifiers); "ip_range" a CIDR network, which checks
# match by containment: its value is sealed with AES-GCM (registry/identifiers/iprange.py), its mask
# shows the network cut short (198.51.100.*/31).
IDENTIFIER_KINDS = ("email", "phone", "id_number", "device_id", "ip", "ip_range")


class Ban(Model):
    __tablename__ = "bans"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    rule: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default="active", index=True)
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(128))
    lifted_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    lifted_by: Mapped[str | None] = mapped_column(sa.String(128))
    lift_reason: Mapped[str | None] = mapped_column(sa.Text)
    source: Mapped[str] = mapped_column(sa.String(16), default="api")
    # Makes bulk imports idempotent: the same line imported twice maps to the same fingerprint.
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64), unique=True)

    identifiers: Mapped[list[BanIdentifier]] = relationship(
        back_populates="ban", cascade="all, delete-orphan", lazy="selectin"
    )
    names: Mapped[list[BanName]] = relationship(
        back_populates="ban", cascade="all, delete-orphan", lazy="selectin"
    )
    avatars: Mapped[list[BanAvatar]] = relationship(
        back_populates="ban", cascade="all, delete-orphan", lazy="selectin"
    )
    # The accounts a registrant ban covers (none for other bans).
    covered: Mapped[list[BanAccount]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    __table_args__ = (sa.CheckConstraint(f"status IN {BAN_STATUSES}", name="status"),)


def ban_is_live(now: datetime) -> sa.ColumnElement[bool]:
    """Return the SQL condition "the ban holds at ``now``": active and not past its expiry."""
    # An expired ban keeps status "active" until lifted; only the time says it no longer holds.
    return sa.and_(Ban.status == "active", sa.or_(Ban.expires_at.is_(None), Ban.expires_at > now))


def ban_has_expired(now: datetime) -> sa.ColumnElement[bool]:
    """Return the SQL condition "the ban was active but its expiry has passed at ``now``"."""
    return sa.and_(Ban.status == "active", Ban.expires_at.is_not(None), Ban.expires_at <= now)


class BanIdentifier(Model):
    __tablename__ = "ban_identifiers"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    ban_id: Mapped[str] = mapped_column(sa.ForeignKey("bans.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    value_hash: Mapped[str | None] = mapped_column(sa.String(64))
    value: Mapped[str | None] = mapped_column(sa.String(128))
    mask: Mapped[str | None] = mapped_column(sa.String(128))

    ban: Mapped[Ban] = relationship(back_populates="identifiers")

    __table_args__ = (
        sa.Index("ix_ban_identifiers_lookup", "value_hash", "kind"),
        sa.CheckConstraint(f"kind IN {IDENTIFIER_KINDS}", name="kind"),
    )


class BanName(Model):
    __tablename__ = "ban_names"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    ban_id: Mapped[str] = mapped_column(sa.ForeignKey("bans.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    # Match keys computed once at ban time (registry.matching.encode_name), so a worker builds its
    # index at start-up without re-running pinyin and folding over every banned name.
    encoded: Mapped[str] = mapped_column(sa.Text)

    ban: Mapped[Ban] = relationship(back_populates="names")


class BanAvatar(Model):
    """A banned avatar's perceptual hash (registry/avatars); the image itself is never stored."""

    __tablename__ = "ban_avatars"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    ban_id: Mapped[str] = mapped_column(sa.ForeignKey("bans.id", ondelete="CASCADE"), index=True)
    # 64 hex digits of a 256-bit PDQ hash.
    hash: Mapped[str] = mapped_column(sa.String(64))
    # "image" (whole), "crop" (its central 90%), "band" (its top 85%), "side" (a one-sided 90% or
    # 92.5% crop), "tone" (the tone-normalised whole) or "hash" (sent as a hash).
    kind: Mapped[str] = mapped_column(sa.String(8))

    ban: Mapped[Ban] = relationship(back_populates="avatars")

    __table_args__ = (
        sa.CheckConstraint("kind IN ('image', 'crop', 'band', 'side', 'tone', 'hash')", name="kind"),
    )


class BanAccount(Model):
    """An account a registrant ban covers (POST /v1/bans with "registrant": true), and why."""

    __tablename__ = "ban_accounts"

    ban_id: Mapped[str] = mapped_column(sa.ForeignKey("bans.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True, index=True)
    # What ties it to the banned registrant: "account" (the ban's own), "id_number", "phone", "uscc".
    via: Mapped[str] = mapped_column(sa.String(64))


def ban_names_account(account_id: Any) -> sa.ColumnElement[bool]:
    """Return the SQL condition "the ban (``Ban``) names this account": its own, or one it covers."""
    covered = sa.select(BanAccount.ban_id).where(BanAccount.account_id == account_id)
    return sa.or_(Ban.account_id == account_id, Ban.id.in_(covered))
