"""Migration 0006_webhook_fanout: additive over existing webhooks; its downgrade fans out what is left."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from registry import create_app
from registry.extensions import db

NOW = "CURRENT_TIMESTAMP"


def _sql(statement, **params):
    with db.engine.begin() as conn:
        return conn.execute(sa.text(statement), params)


def _event(event_id, seq=None):
    columns, values = "id, type, subject, at, data", f"'{event_id}', 'ban.created', 'ban:b1', {NOW}, '{{}}'"
    if seq is not None:
        columns, values = columns + ", seq", values + f", {seq}"
    _sql(f"INSERT INTO webhook_events ({columns}) VALUES ({values})")


def test_upgrade_keeps_the_outbox_and_downgrade_fans_out_the_rest(fresh_url):
    app = create_app({"database_url": fresh_url, "env": "testing"})
    with app.app_context():
        upgrade(revision="0005_appeals")
        for sub_id, paused in (("whk_a", False), ("whk_p", True)):
            _sql(
                "INSERT INTO webhook_subscriptions (id, url, events, paused, secret_sealed, created_at, "
                f"created_by, updated_at) VALUES (:id, 'http://x/h', ',ban.created,', :p, 'v1.x', {NOW}, "
                f"'ops', {NOW})",
                id=sub_id,
                p=paused,
            )
        _event("evt_old")
        _sql(
            "INSERT INTO webhook_deliveries (subscription_id, event_id, subject, status, attempts, "
            f"created_at, next_at, give_up_at) VALUES ('whk_a', 'evt_old', 'ban:b1', 'pending', 0, {NOW}, "
            f"{NOW}, {NOW})"
        )
        _sql(f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{'0' * 64}')")
        upgrade(revision="0006_webhook_fanout")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id, seq FROM webhook_events")).all() == [("evt_old", None)]
            assert conn.execute(sa.text("SELECT id, seq FROM webhook_fanout")).all() == [(1, 0)]
            assert conn.execute(sa.text("SELECT event_seq FROM audit_head")).scalar() == 0
            versions = conn.execute(
                sa.text("SELECT subscription_id, seq, events, paused FROM webhook_subscription_versions")
            ).all()
            assert sorted(tuple(v) for v in versions) == [
                ("whk_a", 0, ",ban.created,", False),
                ("whk_p", 0, ",ban.created,", True),
            ]
        # Written after the upgrade, not fanned out yet: the downgrade gives it its delivery.
        _event("evt_new", seq=1)
        db.session.remove()
        downgrade(revision="0005_appeals")
        inspector = sa.inspect(db.engine)
        tables = inspector.get_table_names()
        assert "webhook_fanout" not in tables and "webhook_subscription_versions" not in tables
        assert "seq" not in {c["name"] for c in inspector.get_columns("webhook_events")}
        assert "event_seq" not in {c["name"] for c in inspector.get_columns("audit_head")}
        with db.engine.connect() as conn:
            pairs = conn.execute(
                sa.text("SELECT subscription_id, event_id, status FROM webhook_deliveries ORDER BY id")
            ).all()
        assert [tuple(p) for p in pairs] == [("whk_a", "evt_old", "pending"), ("whk_a", "evt_new", "pending")]
        upgrade()  # and up again, to head
