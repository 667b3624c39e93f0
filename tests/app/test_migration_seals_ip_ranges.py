"""Migration 0002_locks seals the IP ranges earlier releases stored in clear, and its downgrade opens them."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from registry import create_app
from registry.extensions import db
from registry.identifiers.iprange import SEALED_PREFIX, RangeCipher

KEY = "migration-test-key-0123456789"


def test_upgrade_seals_clear_ranges_and_downgrade_opens_them(fresh_url):
    app = create_app({"database_url": fresh_url, "env": "testing", "pii_key": KEY})
    with app.app_context():
        upgrade(revision="0001")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO bans (id, reason, rule, status, created_at, created_by, source) "
                    "VALUES ('ban_old', 'r', 'R1', 'active', CURRENT_TIMESTAMP, 'test', 'api')"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO ban_identifiers (ban_id, kind, value, mask) VALUES "
                    "('ban_old', 'ip_range', '198.51.100.200/31', '198.51.100.200/31'), "
                    "('ban_old', 'ip_range', '2001:db8:85a3:1234::/64', '2001:db8:85a3:1234::/64')"
                )
            )
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT value, mask FROM ban_identifiers ORDER BY id")).all()
        assert [m for _, m in rows] == ["198.51.100.*/31", "2001:db8:85a3:*/64"]
        assert all(v.startswith(SEALED_PREFIX) for v, _ in rows)
        cipher = RangeCipher(KEY.encode())
        assert [cipher.open(v) for v, _ in rows] == ["198.51.100.200/31", "2001:db8:85a3:1234::/64"]

        from registry.check.index import get_index

        engine = get_index()
        engine.rebuild()
        assert engine.range_bans("198.51.100.201") == {"ban_old"}
        db.session.remove()  # the build's read transaction would block the downgrade's ALTER

        downgrade(revision="0001")
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT value, mask FROM ban_identifiers ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [
            ("198.51.100.200/31", "198.51.100.200/31"),
            ("2001:db8:85a3:1234::/64", "2001:db8:85a3:1234::/64"),
        ]
        db.session.remove()
        db.engine.dispose()
