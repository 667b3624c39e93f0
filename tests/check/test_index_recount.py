"""``registry index recount``: the name key counts recomputed from the accounts, seen by every worker."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.accounts.models import NameKeyCount
from registry.audit.models import AuditEntry
from registry.check.index import get_index
from registry.extensions import db
from registry.matching.commonness import STAT, key_hash


@pytest.fixture
def app(app_factory):
    return app_factory(ban_sync_seconds=0)


@pytest.fixture
def headers(auth):
    return auth("check", "bans:read", "bans:write", "accounts:read", "accounts:write")


def accounts_holding(app, key):
    with app.app_context():
        index = get_index(app)
        index.sync()
        return index.key_accounts(key)


def stored(app, key):
    with app.app_context():
        return db.session.execute(
            sa.select(NameKeyCount.accounts).where(NameKeyCount.key_hash == key_hash(key))
        ).scalar()


def test_recount_repairs_counts_older_code_kept_and_the_worker_rereads_them(app, client, headers, runner):
    for i, name in enumerate(["温伟", "温鹏飞", "李鹏"]):
        response = client.post(
            "/v1/accounts",
            json={"id": f"r{i}", "username": f"wen_{i}", "display_name": name},
            headers=headers,
        )
        assert response.status_code == 201, response.json
    assert accounts_holding(app, STAT + "s:温") == 2
    # As an older release left them: no statistics key counted, one match key off, one key nobody holds.
    with app.app_context():
        db.session.execute(sa.delete(NameKeyCount).where(NameKeyCount.key_hash == key_hash(STAT + "s:温")))
        db.session.execute(
            sa.update(NameKeyCount).where(NameKeyCount.key_hash == key_hash("李鹏")).values(accounts=7)
        )
        db.session.add(NameKeyCount(key_hash=key_hash("ghostname"), accounts=5, event_id=0))
        db.session.commit()

    dry = runner.invoke(args=["index", "recount", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would change 1, added 1, zeroed 1" in dry.output
    assert stored(app, "李鹏") == 7

    result = runner.invoke(args=["index", "recount"])
    assert result.exit_code == 0, result.output
    assert "3 accounts in good standing" in result.output and "changed 1, added 1, zeroed 1" in result.output
    assert (stored(app, STAT + "s:温"), stored(app, "李鹏"), stored(app, "ghostname")) == (2, 1, 0)
    # The worker loaded before the repair: it re-reads exactly the counts that moved (their event).
    assert accounts_holding(app, STAT + "s:温") == 2
    assert accounts_holding(app, "李鹏") == 1
    assert accounts_holding(app, "ghostname") == 0
    with app.app_context():
        (entry,) = db.session.execute(
            sa.select(AuditEntry).where(AuditEntry.action == "name_counts.recount")
        ).scalars()
        assert entry.data["added"] == 1 and entry.data["zeroed"] == 1

    again = runner.invoke(args=["index", "recount"])
    assert again.exit_code == 0, again.output
    assert "changed 0, added 0, zeroed 0" in again.output and "event" not in again.output
    with app.app_context():
        assert (
            db.session.execute(
                sa.select(sa.func.count()).where(AuditEntry.action == "name_counts.recount")
            ).scalar()
            == 1
        )
