"""Migration 0006_avatars_tone widens the side hashes and adds the tone hash; its downgrade undoes it."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from registry import create_app
from registry.extensions import db

ACCOUNT = (
    "INSERT INTO accounts (id, username, account_type, status, tier, tier_pinned, news_licensed, credit, "
    "verification_status, pii_key_version, registered_at, created_at, updated_at, avatar_hash, "
    "avatar_side_hashes{tone}) VALUES ('u1', 'someone', 'personal', 'active', 'basic', false, false, 100, "
    "'unverified', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :whole, :sides{tone_value})"
)
BAN = (
    "INSERT INTO bans (id, reason, rule, status, created_at, created_by, source) "
    "VALUES ('ban_1', 'spam', 'R3', 'active', CURRENT_TIMESTAMP, 'moderator', 'api')"
)


def test_old_hashes_are_kept_and_downgrade_drops_the_new_ones(fresh_url):
    app = create_app({"database_url": fresh_url, "env": "testing"})
    with app.app_context():
        upgrade(revision="0005_appeals")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(ACCOUNT.format(tone="", tone_value="")), {"whole": "a" * 64, "sides": "b" * 256}
            )
            conn.execute(sa.text(BAN))
            conn.execute(
                sa.text("INSERT INTO ban_avatars (ban_id, hash, kind) VALUES ('ban_1', :h, 'side')"),
                {"h": "b" * 64},
            )
        upgrade()
        with db.engine.begin() as conn:
            row = conn.execute(sa.text("SELECT avatar_side_hashes, avatar_tone_hash FROM accounts")).one()
            assert tuple(row) == ("b" * 256, None)
            conn.execute(
                sa.text("UPDATE accounts SET avatar_side_hashes = :s, avatar_tone_hash = :t"),
                {"s": "c" * 512, "t": "d" * 64},
            )
            conn.execute(
                sa.text("INSERT INTO ban_avatars (ban_id, hash, kind) VALUES ('ban_1', :h, 'tone')"),
                {"h": "d" * 64},
            )
        db.session.remove()
        downgrade(revision="0005_appeals")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT avatar_side_hashes FROM accounts")).scalar() == "c" * 256
            kinds = conn.execute(sa.text("SELECT kind FROM ban_avatars")).scalars().all()
        assert kinds == ["side"]
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("accounts")}
        assert "avatar_tone_hash" not in columns and "avatar_side_hashes" in columns
