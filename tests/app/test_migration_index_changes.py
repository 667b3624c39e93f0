"""Migration 0004_index_changes turns ban_events into the typed change log, and its downgrade back."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from registry import create_app
from registry.extensions import db
from registry.index_changes import ChangeKind, notify_index_changed

OLD_ROWS = [
    ("ban_1", "create"),
    ("account:org1", "protect"),
    ("name-counts", "counts"),
    ("ban_1", "suppress"),
    ("account:org1", "unprotect"),
    ("ban_1", "lift"),
]


def test_upgrade_converts_the_ban_events_and_downgrade_restores_them(fresh_url):
    app = create_app({"database_url": fresh_url, "env": "testing"})
    with app.app_context():
        upgrade(revision="0003_avatars")
        with db.engine.begin() as conn:
            for ban_id, op in OLD_ROWS:
                conn.execute(
                    sa.text("INSERT INTO ban_events (ban_id, op, at) VALUES (:b, :o, CURRENT_TIMESTAMP)"),
                    {"b": ban_id, "o": op},
                )
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, kind, subject FROM index_changes ORDER BY id")).all()
        assert [(k, s) for _, k, s in rows] == [
            ("create", "ban_1"),
            ("protect", "org1"),
            ("counts", None),
            ("suppress", "ban_1"),
            ("unprotect", "org1"),
            ("lift", "ban_1"),
        ]
        # Ids are kept (name_key_counts.event_id points at them) and new ones follow them.
        assert [r[0] for r in rows] == list(range(1, 7))
        assert notify_index_changed(db.session, ChangeKind.BAN_CREATED, "ban_2").id == 7
        db.session.commit()
        db.session.remove()

        downgrade(revision="0003_avatars")
        with db.engine.connect() as conn:
            back = conn.execute(sa.text("SELECT ban_id, op FROM ban_events ORDER BY id")).all()
        assert [tuple(r) for r in back] == [*OLD_ROWS, ("ban_2", "create")]
