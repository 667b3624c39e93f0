"""Migration 0005_appeals adds the appeals table and voidable violations, and its downgrade removes them."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from registry import create_app
from registry.extensions import db


def test_upgrade_keeps_violations_and_downgrade_removes_appeals(fresh_url):
    app = create_app({"database_url": fresh_url, "env": "testing"})
    with app.app_context():
        upgrade(revision="0005_linked")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO violations (id, account_id, rule, severity, deduction, actor, at) "
                    "VALUES ('v1', 'u1', 'R4', 'minor', 5, 'moderator', CURRENT_TIMESTAMP)"
                )
            )
        upgrade(revision="0005_appeals")
        with db.engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT id, voided_at FROM violations")).all()
            assert [tuple(r) for r in kept] == [("v1", None)]
            assert conn.execute(sa.text("SELECT count(*) FROM appeals")).scalar() == 0
        db.session.remove()
        downgrade(revision="0005_linked")
        tables = sa.inspect(db.engine).get_table_names()
        assert "appeals" not in tables
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("violations")}
        assert "voided_at" not in columns and "deduction" in columns
