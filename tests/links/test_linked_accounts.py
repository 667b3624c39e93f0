"""GET /v1/accounts/{id}/linked over HTTP, on the real database."""

from __future__ import annotations

import pytest

PHONE = "+86 138 0013 8000"
OTHER_PHONE = "+86 139 0013 9000"
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def headers(auth):
    return auth("accounts:read", "accounts:write")


def post(client, headers, **body):
    body.setdefault("username", body["id"])
    response = client.post("/v1/accounts", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def linked(client, headers, account_id, **query):
    return client.get(f"/v1/accounts/{account_id}/linked", query_string=query, headers=headers)


def test_accounts_sharing_identifiers_are_listed_with_what_they_share(client, headers):
    post(client, headers, id="a", phone=PHONE, id_number=ID_NUMBER, device_id="DEV-1", email="a@example.com")
    post(client, headers, id="b", phone="+8613800138000", device_id="dev-1")
    post(client, headers, id="c", id_number=ID_NUMBER)
    post(client, headers, id="d", email="A@Example.com")
    post(client, headers, id="stranger", phone=OTHER_PHONE, email="x@example.com")

    response = linked(client, headers, "a")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["account_id"] == "a" and body["truncated"] is False
    got = {link["account_id"]: link for link in body["linked"]}
    assert set(got) == {"b", "c", "d"}
    assert got["b"]["via"] == ["phone", "device_id"] and got["b"]["status"] == "active"
    assert got["c"]["via"] == ["id_number"]
    assert got["d"]["via"] == ["email"]
    assert body["ring_size"] == 4
    assert body["weak"] == []
    # Nothing personal in the answer: ids, statuses and field names only.
    assert "138" not in str(body) and ID_NUMBER not in str(body)


def test_an_ip_is_a_weak_link_only_within_the_window(app_factory, auth):
    app = app_factory(link_ip_window=3600)
    client = app.test_client()
    headers = auth("accounts:read", "accounts:write", app=app)
    post(client, headers, id="a", ip="203.0.113.7", registered_at="2026-11-01T10:00:00Z")
    post(client, headers, id="near", ip="203.0.113.7", registered_at="2026-11-01T10:30:00Z")
    post(client, headers, id="far", ip="203.0.113.7", registered_at="2026-11-03T10:00:00Z")
    post(client, headers, id="both", ip="203.0.113.7", registered_at="2026-11-01T09:59:00Z", phone=PHONE)
    post(client, headers, id="x", ip="203.0.113.7", phone=PHONE, registered_at="2026-11-01T10:00:00Z")

    body = linked(client, headers, "x").json
    assert [link["account_id"] for link in body["linked"]] == ["both"]
    # A strong link is not listed again as a weak one.
    assert [link["account_id"] for link in body["weak"]] == ["a", "near"]
    assert body["weak"][0]["via"] == ["ip"]
    assert body["ring_size"] == 2


def test_a_big_ring_is_cut_at_the_limit_and_says_so(client, headers):
    for i in range(6):
        post(client, headers, id=f"u{i}", device_id="SHARED-DEVICE")
    body = linked(client, headers, "u0", limit=3).json
    assert body["truncated"] is True
    assert len(body["linked"]) == 3
    full = linked(client, headers, "u0").json
    assert full["truncated"] is False and full["ring_size"] == 6


def test_unknown_account_is_404_and_bad_limit_is_422_naming_it(client, headers):
    response = linked(client, headers, "nobody")
    assert response.status_code == 404
    response = linked(client, headers, "nobody", limit=0)
    assert response.status_code == 422
    assert "limit" in str(response.json)


def test_needs_accounts_read(client, auth):
    response = client.get("/v1/accounts/a/linked", headers=auth("bans:read"))
    assert response.status_code == 403
