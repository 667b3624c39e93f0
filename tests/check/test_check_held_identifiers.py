"""The account-identifier filter: a check asks how many accounts share a value only when one may.

Every account write that gives accounts identifiers (create, import, an ID number verified) is known
to the writing process at its commit and to every other worker at its next sync (the name counts change
row, through ``Account.index_event_id``). The snapshot's part: tests/check/test_check_snapshot.py.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.check.index import CheckIndex, get_index
from registry.check.service import decide
from registry.extensions import db

ID_NUMBER = "11010519491231002X"


@pytest.fixture
def app(app_factory):
    # Syncs only when a test asks: what another worker knows is what its last sync read.
    return app_factory(ban_sync_seconds=3600, identifier_accounts_review=2)


@pytest.fixture
def headers(auth):
    return auth("admin")


def _reuse(app, index, body):
    """Return the check's identifier_reuse reasons as this index answers it."""
    with app.app_context():
        result, _ = decide(body, index)
        db.session.rollback()
    return [r for r in result.reasons if r["code"] == "identifier_reuse"]


def _other_worker(app):
    """Return a second index of the same database, built now, as another worker's would be."""
    with app.app_context():
        other = CheckIndex(app)
        other.ensure_ready()
    return other


def _sync(app, index):
    with app.app_context():
        index.sync()


def _create(client, headers, account_id, **body):
    response = client.post(
        "/v1/accounts", json={"id": account_id, "username": f"u_{account_id}", **body}, headers=headers
    )
    assert response.status_code == 201, response.json


def test_accounts_created_are_counted_here_at_once_and_by_another_worker_after_its_sync(app, client, headers):
    with app.app_context():
        get_index(app).ensure_ready()
    other = _other_worker(app)
    for i in range(2):
        _create(client, headers, f"a{i}", device_id="farm-device-7", phone="13800138000")
    body = {"username": "new_user", "device_id": "FARM-DEVICE-7", "phone": "+86 138 0013 8000"}
    want = [
        {"code": "identifier_reuse", "field": "phone", "accounts": 2},
        {"code": "identifier_reuse", "field": "device_id", "accounts": 2},
    ]
    # The writing process learnt the values with its commits.
    assert sorted(_reuse(app, get_index(app), body), key=json.dumps) == sorted(want, key=json.dumps)
    # Another worker, built before the accounts, does not know them until its next poll.
    assert _reuse(app, other, body) == []
    _sync(app, other)
    assert sorted(_reuse(app, other, body), key=json.dumps) == sorted(want, key=json.dumps)
    # A value nobody holds is asked about nowhere.
    with app.app_context():
        assert all(not i.maybe_held("0" * 64) for i in (other, get_index(app)))


def test_an_import_and_a_verified_id_number_reach_another_worker(app, client, headers, runner, tmp_path):
    other = _other_worker(app)
    lines = [
        {"id": f"imp{i}", "username": f"imported_{i}", "phone": "13912345678", "device_id": f"dev-{i}"}
        for i in range(2)
    ]
    path = tmp_path / "accounts.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    result = runner.invoke(args=["accounts", "import", str(path)])
    assert result.exit_code == 0, result.output
    for i in range(2):
        response = client.put(
            f"/v1/accounts/imp{i}/verification",
            json={"status": "verified", "method": "id_card", "id_number": ID_NUMBER},
            headers=headers,
        )
        assert response.status_code == 200, response.json
    body = {"username": "someone_new", "phone": "13912345678", "id_number": ID_NUMBER}
    assert _reuse(app, other, body) == []
    _sync(app, other)
    got = {r["field"]: r["accounts"] for r in _reuse(app, other, body)}
    assert got == {"phone": 2, "id_number": 2}
    with app.app_context():
        stamped = db.session.scalars(sa.select(Account.index_event_id).where(Account.id.like("imp%"))).all()
    assert len(stamped) == 2 and all(stamped)
