"""How flagged checks are written on a real engine (not the test fixture's one shared connection)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.db import database_uri


@pytest.mark.postgres_only
def test_flagged_checks_are_committed_alone_and_leave_no_transaction_open(committing_app, auth, database_url):
    app = committing_app
    headers = auth("check", "bans:write", app=app)
    client = app.test_client()
    body = {
        "identifiers": {"phone": ["+86 138 0013 8000"]},
        "names": ["王小明"],
        "reason": "spam ring",
        "rule": "R1",
    }
    assert client.post("/v1/bans", json=body, headers=headers).status_code == 201

    def check(**body: str) -> dict:
        response = client.post("/v1/check", json={"username": "someone_new", **body}, headers=headers)
        assert response.status_code == 200, response.json
        return response.json

    review = check(display_name="王曉明")
    deny = check(phone="13800138000")
    allow = check(display_name="Harper Ashworth")
    assert [review["decision"], deny["decision"], allow["decision"]] == ["review", "deny", "allow"]

    other = sa.create_engine(database_uri(database_url))
    try:
        with other.connect() as conn:
            checks = dict(conn.execute(sa.text("SELECT id, decision FROM checks")).all())
            reviews = conn.execute(sa.text("SELECT check_id, status, display_name FROM reviews")).all()
            open_transactions = conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                )
            )
    finally:
        other.dispose()
    assert checks == {review["check_id"]: "review", deny["check_id"]: "deny"}
    assert [tuple(r) for r in reviews] == [(review["check_id"], "open", "王曉明")]
    assert open_transactions == 0
