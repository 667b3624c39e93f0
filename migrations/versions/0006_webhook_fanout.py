"""webhook fan-out in the deliverer: outbox positions, the fan-out cursor, subscription versions

Revision ID: 0006_webhook_fanout
Revises: 0006_avatars_tone
Create Date: 2026-12-03 00:20:00

Additive: the events written before have no position (``seq`` NULL) and already have their
deliveries; the cursor starts at 0 and every subscription's first version applies from position 0.
The downgrade first gives the events not yet fanned out their deliveries (by the subscriptions as
they are now), since the code before this revision expects them written with the event.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_webhook_fanout"
down_revision = "0006_avatars_tone"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    # Plain ALTER TABLE on both backends: a batch copy of webhook_events would drop a table the
    # deliveries refer to, which SQLite refuses with foreign keys on.
    op.add_column("audit_head", sa.Column("event_seq", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column("webhook_events", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_webhook_events_seq"), "webhook_events", ["seq"], unique=True)
    op.create_table(
        "webhook_fanout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_fanout")),
    )
    op.create_table(
        "webhook_subscription_versions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.String(length=1024), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_webhook_subscription_versions_subscription_id_webhook_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription_versions")),
    )
    op.create_index(
        "ix_webhook_subscription_versions_order",
        "webhook_subscription_versions",
        ["subscription_id", "seq", "id"],
        unique=False,
    )
    op.execute("INSERT INTO webhook_fanout (id, seq, updated_at) VALUES (1, 0, CURRENT_TIMESTAMP)")
    op.execute(
        "INSERT INTO webhook_subscription_versions (subscription_id, seq, events, paused, at) "
        "SELECT id, 0, events, paused, CURRENT_TIMESTAMP FROM webhook_subscriptions"
    )


def downgrade():
    bind = op.get_bind()
    # UTC, as the application stores times; the retry window is REGISTRY_WEBHOOK_RETRY_SECONDS' default.
    if bind.dialect.name == "postgresql":
        now, give_up = "(now() AT TIME ZONE 'utc')", "(now() AT TIME ZONE 'utc') + interval '259200 seconds'"
    else:
        now, give_up = "datetime('now')", "datetime('now', '+259200 seconds')"
    op.execute(
        "INSERT INTO webhook_deliveries (subscription_id, event_id, subject, status, attempts, created_at,"
        f" next_at, give_up_at) SELECT s.id, e.id, e.subject, 'pending', 0, {now}, {now}, {give_up} "
        "FROM webhook_events e JOIN webhook_subscriptions s"
        " ON s.paused = false AND s.events LIKE '%,' || e.type || ',%' "
        "WHERE e.seq > (SELECT coalesce(max(seq), 0) FROM webhook_fanout) AND NOT EXISTS"
        " (SELECT 1 FROM webhook_deliveries d WHERE d.subscription_id = s.id AND d.event_id = e.id) "
        "ORDER BY e.seq, s.id"
    )
    op.drop_index("ix_webhook_subscription_versions_order", table_name="webhook_subscription_versions")
    op.drop_table("webhook_subscription_versions")
    op.drop_table("webhook_fanout")
    op.drop_index(op.f("ix_webhook_events_seq"), table_name="webhook_events")
    op.drop_column("webhook_events", "seq")
    op.drop_column("audit_head", "event_seq")
