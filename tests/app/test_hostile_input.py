"""Hostile input found by fuzzing from outside: always a JSON 4xx naming the field, never a 500."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LIST_PATHS = ["/v1/accounts", "/v1/bans", "/v1/audit", "/v1/reviews"]


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _post_raw(client, path, raw, headers, content_type="application/json"):
    return client.post(path, data=raw, headers={**headers, "Content-Type": content_type})


@pytest.mark.parametrize("opener, closer", [("[", "]"), ('{"a": ', "}")])
@pytest.mark.parametrize("depth", [40, 5000])
def test_deeply_nested_json_is_a_4xx(client, auth, opener, closer, depth):
    raw = '{"id": "u1", "username": ' + opener * depth + "1" + closer * depth + "}"
    response = _post_raw(client, "/v1/accounts", raw, auth())
    assert response.status_code in (400, 422)
    assert response.json["code"] == response.status_code
    assert client.get("/v1/accounts/u1", headers=auth()).status_code == 404


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "a\\udbffb"])
@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/v1/accounts", {"id": "u1", "username": "SURR"}, "username"),
        ("/v1/accounts", {"id": "SURR", "username": "ok_name"}, "id"),
        ("/v1/check", {"username": "ok_name", "device_id": "SURR"}, "device_id"),
        ("/v1/bans", {"names": ["x"], "reason": "SURR", "rule": "R1"}, "reason"),
        ("/v1/bans", {"names": ["SURR"], "reason": "r", "rule": "R1"}, "names.0"),
    ],
)
def test_lone_surrogates_are_a_422_naming_the_field(client, auth, escape, path, body, field):
    raw = json.dumps(body).replace('"SURR"', f'"{escape}"')
    response = _post_raw(client, path, raw, auth())
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]
    assert client.get("/v1/accounts?limit=5", headers=auth()).json["items"] == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_json_body_without_json_content_type_is_refused_not_ignored(client, auth, content_type):
    # curl -d sends form encoding: the dry_run flag was silently dropped and a real sweep ran.
    response = _post_raw(client, "/v1/sweeps", '{"dry_run": true}', auth(), content_type)
    assert response.status_code == 415
    assert response.json["code"] == 415
    actions = [e["action"] for e in client.get("/v1/audit", headers=auth()).json["items"]]
    assert not [a for a in actions if a.startswith("sweep")]
    response = _post_raw(client, "/v1/accounts", '{"id": "u1", "username": "x1"}', auth(), content_type)
    assert response.status_code == 415
    assert client.get("/v1/accounts/u1", headers=auth()).status_code == 404


def test_an_empty_body_without_content_type_still_means_defaults(client, auth):
    response = client.post("/v1/reviews/rev_unknown/claim", headers=auth())
    assert response.status_code == 404


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+08:00", "0001-01-01T05:00:00+05:01", "9999-12-31T23:59:59-05:00"],
)
def test_times_that_leave_the_calendar_in_utc_are_a_422(client, auth, value):
    headers = auth()
    cases = [
        ("/v1/bans", {"names": ["x"], "reason": "r", "rule": "R1", "expires_at": value}, "expires_at"),
        ("/v1/accounts", {"id": "u1", "username": "n1", "registered_at": value}, "registered_at"),
        ("/v1/activity", {"events": [{"account_id": "u1", "kind": "login", "at": value}]}, "events"),
        ("/v1/sweeps", {"dry_run": True, "as_of": value}, "as_of"),
    ]
    for path, body, field in cases:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 422, (path, response.json)
        assert field in response.json["errors"]["json"]
    for arg in ("since", "until"):
        response = client.get("/v1/audit", query_string={arg: value}, headers=headers)
        assert response.status_code == 422
        assert arg in response.json["errors"]["query"]


@pytest.mark.parametrize(
    "raw",
    [
        b"[Infinity]",
        b"[NaN]",
        b"[100000000000000000000000000000]",
        b"[1e300]",
        b'["\\ud800"]',
        b'["a\\u0000"]',
        b"[null]",
        b'["0001-01-01T00:00:00+08:00", "x"]',
        b'["9999-12-31T23:59:59-05:00", "x"]',
        b"[" * 5000 + b"]" * 5000,
    ],
)
@pytest.mark.parametrize("path", LIST_PATHS)
def test_forged_cursors_are_a_422(client, auth, raw, path):
    response = client.get(path, query_string={"cursor": _cursor(raw)}, headers=auth())
    assert response.status_code == 422
    assert response.json["errors"]["query"] == {"cursor": ["Not a cursor this service issued."]}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=json_values, path=st.sampled_from(LIST_PATHS))
def test_any_cursor_is_a_page_or_a_422(client, auth, values, path):
    raw = json.dumps(values, allow_nan=True).encode("utf-8", "surrogatepass")
    response = client.get(path, query_string={"cursor": _cursor(raw)}, headers=auth())
    assert response.status_code in (200, 422), response.json
