"""The outbox of events, and the webhook subscriptions and deliveries that fan them out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import db
from registry.timeutil import utcnow

DELIVERY_STATUSES = ("pending", "delivered", "dead")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class OutboxEvent(db.Model):  # type: ignore[name-defined,misc]
    """One event, written in the same transaction as the change it tells of."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    # The event's position in the outbox: 1, 2, 3 ... taken from the audit head (``event_seq``) under
    # its lock, held to the commit, so positions are gapless and in commit order and the fan-out can
    # keep a cursor. NULL on the events written before 0006, which got their deliveries when written.
    seq: Mapped[int | None] = mapped_column(sa.BigInteger, index=True, unique=True)
    type: Mapped[str] = mapped_column(sa.String(64))
    subject: Mapped[str] = mapped_column(sa.String(160))
    at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class WebhookSubscription(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(2048))
    # ",type,type," so that the outbox can match a type with one LIKE in its INSERT ... SELECT.
    events: Mapped[str] = mapped_column(sa.String(1024))
    paused: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    paused_reason: Mapped[str | None] = mapped_column(sa.String(200))
    # AES-GCM under a key derived from REGISTRY_AUDIT_KEY (registry/webhooks/secrets.py), never plain.
    secret_sealed: Mapped[str] = mapped_column(sa.String(256))
    previous_secret_sealed: Mapped[str | None] = mapped_column(sa.String(256))
    previous_until: Mapped[datetime | None] = mapped_column(sa.DateTime)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(128))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)


class WebhookSubscriptionVersion(db.Model):  # type: ignore[name-defined,misc]
    """What a subscription asked for from one outbox position on (made by its creation and changes).

    The fan-out gives each event to the subscriptions as they were when it was written: the version
    in force is the last one whose ``seq`` is below the event's.
    """

    __tablename__ = "webhook_subscription_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    # The last event position when the change was made (read under the audit head lock).
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    events: Mapped[str] = mapped_column(sa.String(1024))
    paused: Mapped[bool] = mapped_column(sa.Boolean)
    at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)

    __table_args__ = (sa.Index("ix_webhook_subscription_versions_order", "subscription_id", "seq", "id"),)


class OutboxCursor(db.Model):  # type: ignore[name-defined,misc]
    """One row: the last outbox position whose deliveries exist (moved by ``registry webhooks deliver``)."""

    __tablename__ = "webhook_fanout"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)


class WebhookDelivery(db.Model):  # type: ignore[name-defined,misc]
    """One event for one subscription: sent, retried and finally delivered or dead."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(sa.ForeignKey("webhook_events.id"))
    subject: Mapped[str] = mapped_column(sa.String(160))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    next_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    give_up_at: Mapped[datetime] = mapped_column(sa.DateTime)
    lease_until: Mapped[datetime | None] = mapped_column(sa.DateTime)
    leased_by: Mapped[str | None] = mapped_column(sa.String(64))
    delivered_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    last_status: Mapped[int | None] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))

    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_pair"),
        sa.Index("ix_webhook_deliveries_due", "status", "next_at"),
        sa.Index("ix_webhook_deliveries_order", "subscription_id", "subject", "status", "id"),
        sa.CheckConstraint(f"status IN {DELIVERY_STATUSES}", name="status"),
    )


class WebhookAttempt(db.Model):  # type: ignore[name-defined,misc]
    """One try of a delivery: when, the receiver's status or the error, how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    status: Mapped[int | None] = mapped_column(sa.Integer)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    ms: Mapped[int] = mapped_column(sa.Integer, default=0)
