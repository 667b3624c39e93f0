"""The account as the registry knows it: names, grade, state, and identifiers as keyed hashes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.identifiers.normalize import FIELDS
from registry.timeutil import utcnow

if TYPE_CHECKING:
    from registry.name_rules import NameFinding

ACCOUNT_TYPES = ("personal", "organization", "public")
STATUSES = ("active", "dormant", "suspended", "banned", "purged")
VERIFICATION_STATUSES = ("unverified", "pending", "verified", "rejected", "revoked", "expired")
# The identifiers kept per account, each as an HMAC (``<field>_hash``) and a masked display form.
IDENTIFIER_FIELDS = FIELDS
# The identifiers a signup check counts the accounts of (``identifier_reuse``): every worker's check
# index holds those of every account not purged in a filter, so a check whose values no account holds
# asks the database nothing about them.
REUSE_FIELDS = ("phone", "id_number", "device_id")
# Account types that speak for a registered entity: verified with it, their names protected.
ENTITY_ACCOUNT_TYPES = frozenset({"organization", "public"})


class Account(Model):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    username: Mapped[str | None] = mapped_column(sa.String(128))
    username_key: Mapped[str | None] = mapped_column(sa.String(256), index=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(256))
    display_key: Mapped[str | None] = mapped_column(sa.String(256), index=True)
    account_type: Mapped[str] = mapped_column(sa.String(16), default="personal")
    status: Mapped[str] = mapped_column(sa.String(16), default="active", index=True)
    tier: Mapped[str] = mapped_column(sa.String(32), index=True)
    tier_pinned: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    news_licensed: Mapped[bool] = mapped_column(sa.Boolean, default=False)

    credit: Mapped[int] = mapped_column(sa.Integer, default=100)
    credit_at: Mapped[datetime | None] = mapped_column(sa.DateTime)

    verification_status: Mapped[str] = mapped_column(sa.String(16), default="unverified", index=True)
    verification_method: Mapped[str | None] = mapped_column(sa.String(32))
    verified_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    verification_expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime, index=True)
    entity_name: Mapped[str | None] = mapped_column(sa.String(256))
    entity_uscc: Mapped[str | None] = mapped_column(sa.String(18))

    email_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    email_mask: Mapped[str | None] = mapped_column(sa.String(128))
    phone_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    phone_mask: Mapped[str | None] = mapped_column(sa.String(32))
    id_number_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    id_number_mask: Mapped[str | None] = mapped_column(sa.String(32))
    device_id_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    device_id_mask: Mapped[str | None] = mapped_column(sa.String(64))
    ip_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    ip_mask: Mapped[str | None] = mapped_column(sa.String(64))
    pii_key_version: Mapped[int] = mapped_column(sa.Integer, default=1)
    # Perceptual hashes of the avatar (registry/avatars), never the image: the whole (trimmed) image and,
    # when an image was sent, its central 90% and top 85%, so a ban of the account also catches a
    # cropped or captioned copy.
    avatar_hash: Mapped[str | None] = mapped_column(sa.String(64))
    avatar_crop_hash: Mapped[str | None] = mapped_column(sa.String(64))
    avatar_band_hash: Mapped[str | None] = mapped_column(sa.String(64))
    # Its one-sided crops (left, right, top, bottom cut to 90%, then to 92.5%: 8 x 64 hex digits run
    # together; 4 in rows stored before the 92.5% cuts) and its tone-normalised image's hash.
    avatar_side_hashes: Mapped[str | None] = mapped_column(sa.String(512))
    avatar_tone_hash: Mapped[str | None] = mapped_column(sa.String(64))

    check_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    # The ``index_changes`` row (name counts) of the last write that gave the account identifiers
    # (create, import, an ID number verified): workers' syncs read the identifiers of the accounts that
    # row names into their account-identifier filter, so a signup check needs no query to know that
    # nobody holds its phone, ID number or device (registry/check/index). NULL: before that write or
    # before revision 0007 (a build reads every account whatever this holds).
    index_event_id: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)
    registered_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    last_active_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    status_changed_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    purged_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow, onupdate=utcnow)

    if TYPE_CHECKING:
        # Not columns: what the accounts service found creating or renaming the account, set on the
        # instance it answers with (AccountOut shows name_flags; create adds avatar_findings to them).
        name_flags: list[dict[str, str]]
        avatar_findings: list[NameFinding]

    __table_args__ = (
        sa.CheckConstraint(f"status IN {STATUSES}", name="status"),
        sa.CheckConstraint(f"account_type IN {ACCOUNT_TYPES}", name="account_type"),
        sa.CheckConstraint(f"verification_status IN {VERIFICATION_STATUSES}", name="verification_status"),
        sa.CheckConstraint("credit BETWEEN 0 AND 100", name="credit"),
        # The sweep walks accounts by (status, last activity): keep that path indexed.
        sa.Index("ix_accounts_sweep", "status", "last_active_at", "registered_at"),
        # Linked accounts (registry/links): a shared IP counts within a time window of the signup.
        sa.Index("ix_accounts_ip_time", "ip_hash", "registered_at"),
        # Bans on the registrant: the organisations verified with one credit code.
        sa.Index("ix_accounts_entity_uscc", "entity_uscc"),
    )


class NameKeyCount(Model):
    """How many accounts in good standing hold a name match key (registry.matching.commonness).

    Keyed by the key's stable 64-bit digest; ``event_id`` is the ``index_changes`` row of the last change,
    so every worker's check index re-reads exactly the counts a change touched.
    """

    __tablename__ = "name_key_counts"

    key_hash: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    accounts: Mapped[int] = mapped_column(sa.Integer, default=0)
    event_id: Mapped[int] = mapped_column(sa.BigInteger, index=True)
