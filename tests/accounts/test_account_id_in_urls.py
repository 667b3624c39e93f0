"""An account id must work in /v1/accounts/{id}, or the account could never be read again."""

from __future__ import annotations

from urllib.parse import quote

import pytest


@pytest.mark.parametrize("account_id", ["a/b", "/", "u1/", ".", ".."])
def test_ids_no_url_can_reach_are_a_422(client, auth, account_id):
    headers = auth()
    response = client.post("/v1/accounts", json={"id": account_id, "username": "name1"}, headers=headers)
    assert response.status_code == 422
    assert "id" in response.json["errors"]["json"]
    assert client.get("/v1/accounts", headers=headers).json["items"] == []


@pytest.mark.parametrize("account_id", ["a?b", "a#b", "a%2Fb", "a b", "a.b", "...", "用户1", "a\\b"])
def test_other_odd_ids_round_trip_through_the_url(client, auth, account_id):
    headers = auth()
    response = client.post("/v1/accounts", json={"id": account_id, "username": "name1"}, headers=headers)
    assert response.status_code == 201
    fetched = client.get("/v1/accounts/" + quote(account_id, safe=""), headers=headers)
    assert fetched.status_code == 200
    assert fetched.json["id"] == account_id


def test_import_refuses_the_line_alone(runner, client, auth, tmp_path):
    path = tmp_path / "accounts.jsonl"
    path.write_text('{"id": "a/b", "username": "x1"}\n{"id": "ok1", "username": "x2"}\n')
    result = runner.invoke(args=["accounts", "import", str(path)])
    assert "line 1" in result.output
    headers = auth()
    assert client.get("/v1/accounts/ok1", headers=headers).status_code == 200
    assert [a["id"] for a in client.get("/v1/accounts", headers=headers).json["items"]] == ["ok1"]
