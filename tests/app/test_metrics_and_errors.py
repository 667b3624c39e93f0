"""Metrics exposition and the handling of real faults."""

from __future__ import annotations

import logging

from registry.errors import error_body


def test_metrics_count_requests_by_route_not_by_raw_path(client, auth):
    headers = auth("accounts:read")
    client.get("/v1/accounts/secret-account-id", headers=headers)
    body = client.get("/metrics").get_data(as_text=True)
    assert "registry_http_requests_total" in body
    assert 'endpoint="/v1/accounts/<string:account_id>"' in body
    assert "secret-account-id" not in body


def test_an_unexpected_fault_is_a_json_500_with_a_request_id(app, caplog):
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("internal detail that must not leak")

    with caplog.at_level(logging.ERROR, logger="registry.errors"):
        response = app.test_client().get("/boom", headers={"X-Request-Id": "req-42"})
    assert response.status_code == 500
    assert response.json["code"] == 500
    assert "req-42" in response.json["message"]
    assert "internal detail" not in response.get_data(as_text=True)
    assert any("req-42" in r.getMessage() for r in caplog.records)


def test_error_body_shape():
    assert error_body(409, "taken") == {"code": 409, "status": "Conflict", "message": "taken", "errors": {}}
    assert error_body(422, "bad", {"json": {"x": ["y"]}})["errors"] == {"json": {"x": ["y"]}}


def test_nul_characters_are_refused_with_the_field_named(client, auth):
    headers = auth()
    response = client.post("/v1/accounts", json={"id": "u1", "username": "a\u0000b"}, headers=headers)
    assert response.status_code == 422
    assert "username" in response.json["errors"]["json"]
    nested = client.post(
        "/v1/bans", json={"names": ["ok", "b\u0000d"], "reason": "r", "rule": "R1"}, headers=headers
    )
    assert nested.status_code == 422
    assert "names.1" in nested.json["errors"]["json"]
    check = client.post("/v1/check", json={"username": "x\u0000"}, headers=headers)
    assert check.status_code == 422


def test_nul_in_path_or_query_is_400_not_500(client, auth):
    headers = auth()
    assert client.get("/v1/accounts/a%00b", headers=headers).status_code == 400
    assert client.get("/v1/accounts?tier=a%00", headers=headers).status_code == 400
    assert client.get("/v1/bans/x%00", headers=headers).status_code == 400
