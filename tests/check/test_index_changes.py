"""The change log wakes this process's check index after a writer's commit, never before it."""

from __future__ import annotations

import pytest

from registry.check.index import get_index
from registry.extensions import db
from registry.index_changes import ChangeKind, IndexChange, notify_index_changed


@pytest.fixture
def app(app_factory):
    # A long poll interval: only the wake after a commit makes this process read the log early.
    return app_factory(ban_sync_seconds=3600)


@pytest.fixture
def headers(auth):
    return auth("check", "bans:read", "bans:write")


def check(client, headers, name):
    response = client.post("/v1/check", json={"username": name}, headers=headers)
    assert response.status_code == 200, response.json
    return {r["code"] for r in response.json["reasons"]}


def test_a_ban_made_here_counts_at_the_next_check_despite_the_poll_interval(app, client, headers):
    assert not check(client, headers, "zhangsan_88")
    response = client.post(
        "/v1/bans", json={"reason": "spam", "rule": "R3.2", "names": ["zhangsan_88"]}, headers=headers
    )
    assert response.status_code == 201, response.json
    assert check(client, headers, "zhangsan_88")
    with app.app_context():
        kinds = [(c.kind, c.subject) for c in db.session.query(IndexChange).order_by(IndexChange.id)]
    assert (ChangeKind.BAN_CREATED, response.json["id"]) in kinds


def test_a_rolled_back_change_wakes_nothing_and_a_committed_one_wakes_after_commit(app):
    with app.app_context():
        index = get_index()
        index.ensure_ready()
        index.sync()
        assert index._next_sync > 0
        notify_index_changed(db.session, ChangeKind.BAN_LIFTED, "ban_none")
        db.session.rollback()
        db.session.commit()
        assert index._next_sync > 0
        notify_index_changed(db.session, ChangeKind.BAN_LIFTED, "ban_none")
        # Logged, not yet committed: the index must not read the log yet.
        assert index._next_sync > 0
        db.session.commit()
        assert index._next_sync == 0.0
