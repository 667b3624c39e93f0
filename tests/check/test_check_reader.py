"""The check's read on PostgreSQL goes through a separate autocommit engine, never the session's."""

from __future__ import annotations

import pytest

from registry.check import service as check_service


@pytest.mark.postgres_only
def test_a_check_on_a_real_engine_reads_through_the_autocommit_reader(committing_app, auth):
    app = committing_app
    headers = auth("check", "bans:write", app=app)
    client = app.test_client()
    ban = {"identifiers": {"phone": ["+86 138 0013 8000"]}, "reason": "spam ring", "rule": "R1"}
    assert client.post("/v1/bans", json=ban, headers=headers).status_code == 201
    response = client.post("/v1/check", json={"username": "someone", "phone": "13800138000"}, headers=headers)
    assert response.status_code == 200 and response.json["decision"] == "deny"
    with app.app_context():
        reader = check_service._reader()
        assert reader is not None
        assert reader in check_service._readers.values()
        with reader.connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is True
        assert check_service._reader() is reader  # one per process and app engine


def test_the_fixture_bound_to_one_connection_reads_in_the_session(app):
    with app.app_context():
        assert check_service._reader() is None
