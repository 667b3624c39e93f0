"""API.md, section "HTTP": keys and scopes, the error shape, times, ids, /healthz and /openapi.json."""

from __future__ import annotations

import pytest
from contract_support import ID_NUMBER, PHONE, USCC, assert_error, assert_names_field, parse

SCOPES = [
    "check",
    "accounts:read",
    "accounts:write",
    "bans:read",
    "bans:write",
    "tiers:write",
    "verification:write",
    "sweeps:run",
    "audit:read",
    "reports:read",
    "admin",
]

# One call per endpoint fixed by the contract, with the scope the contract names for it. Bodies are
# valid so that, with the right scope, the answer is neither 401 nor 403. {a} is an existing account,
# {b} an active ban, {r} an open review.
CALLS = [
    ("check", "POST", "/v1/check", {"username": "zhangsan_88"}),
    ("accounts:write", "POST", "/v1/accounts", {"id": "scoped-new", "username": "scoped_new"}),
    ("accounts:read", "GET", "/v1/accounts/{a}", None),
    ("accounts:read", "GET", "/v1/accounts?tier=watch", None),
    ("accounts:read", "GET", "/v1/accounts/{a}/tier-history", None),
    ("accounts:read", "GET", "/v1/accounts/{a}/violations", None),
    ("accounts:write", "POST", "/v1/accounts/{a}/violations", {"rule": "R4", "severity": "minor"}),
    (
        "accounts:write",
        "POST",
        "/v1/activity",
        {"events": [{"account_id": "{a}", "kind": "login", "at": "2024-01-01T00:00:00Z"}]},
    ),
    ("bans:write", "POST", "/v1/bans", {"names": ["scoped_ban"], "reason": "spam", "rule": "R3.2"}),
    ("bans:read", "GET", "/v1/bans/{b}", None),
    ("bans:write", "POST", "/v1/bans/{b}/lift", {"reason": "appeal"}),
    ("tiers:write", "PUT", "/v1/accounts/{a}/tier", {"tier": "watch", "reason": "r", "rule": "R2.1"}),
    (
        "verification:write",
        "PUT",
        "/v1/accounts/{a}/verification",
        {"status": "verified", "method": "id_card", "id_number": ID_NUMBER},
    ),
    ("bans:write", "GET", "/v1/reviews?status=open", None),
    ("bans:write", "POST", "/v1/reviews/{r}/resolve", {"outcome": "false_positive", "note": "n"}),
    ("sweeps:run", "POST", "/v1/sweeps", {"dry_run": True}),
    ("audit:read", "GET", "/v1/audit?subject=account:{a}", None),
]


@pytest.fixture
def world(make_account, make_ban, check):
    """Create an account, a ban and an open review for the scope calls."""
    make_account("scoped-acct", username="scoped_acct")
    ban = make_ban(names=["dragonslayer"], reason="spam", rule="R3.2")
    result = check(username="dr4gonslayer_1")
    assert result["decision"] == "review"
    return {"b": ban["id"], "check_id": result["check_id"]}


def _review_id(api, check_id):
    items = api("GET", "/v1/reviews?status=open").get_json()["items"]
    return next(i["id"] for i in items if i["check_id"] == check_id)


def _fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize(("needed", "method", "url", "body"), CALLS, ids=[f"{c[1]} {c[2]}" for c in CALLS])
def test_every_v1_call_needs_a_key_401(client, world, api, needed, method, url, body):
    """Every `/v1` call carries `Authorization: Bearer <key>`. No or unknown key: 401."""
    ids = {"a": "scoped-acct", "b": world["b"], "r": _review_id(api, world["check_id"])}
    url, body = _fill(url, ids), _fill(body, ids)
    assert_error(client.open(url, method=method, json=body), 401)
    for header in ("Bearer rk_not-a-real-key", "Bearer ", "Basic dXNlcjpwYXNz", "rk_no_scheme"):
        assert_error(client.open(url, method=method, json=body, headers={"Authorization": header}), 401)


@pytest.mark.parametrize("scope", SCOPES)
def test_a_key_with_one_scope_calls_exactly_what_it_allows(client, auth, api, world, scope):
    """A key without the needed scope: 403. Scopes: check, accounts:read, ... `admin` (all).

    `reports:read` guards nothing the contract fixes, so a key holding only it gets 403 everywhere.
    """
    headers = auth(scope)
    review_id = _review_id(api, world["check_id"])
    for needed, method, url, body in CALLS:
        ids = {"a": "scoped-acct", "b": world["b"], "r": review_id}
        response = client.open(_fill(url, ids), method=method, json=_fill(body, ids), headers=headers)
        if scope in (needed, "admin"):
            assert response.status_code not in (401, 403), (scope, method, url, response.get_json())
            assert response.status_code < 500
        else:
            assert_error(response, 403)


def test_scope_is_checked_before_the_body(client, auth):
    """A key without the needed scope: 403 (even when the body is bad too)."""
    headers = auth("bans:read")
    assert_error(client.post("/v1/check", data="{not json", headers=headers), 403)
    assert_error(client.post("/v1/check", data="{not json"), 401)


def test_a_revoked_key_is_401(app_factory, auth, runner):
    """No or unknown key: 401 (a revoked key is no longer known)."""
    app = app_factory(key_cache_seconds=0)
    headers = auth("check", name="to-revoke", app=app)
    client = app.test_client()
    assert client.post("/v1/check", json={"username": "abc"}, headers=headers).status_code == 200
    result = app.test_cli_runner().invoke(args=["keys", "revoke", "--name", "to-revoke"])
    assert result.exit_code == 0, result.output
    assert_error(client.post("/v1/check", json={"username": "abc"}, headers=headers), 401)


def test_malformed_json_is_400(api):
    """Errors are JSON ... Malformed JSON or a wrong type: 400/422 with the field named."""
    for url, method in (("/v1/check", "POST"), ("/v1/accounts", "POST"), ("/v1/bans", "POST")):
        response = api(method, url, data='{"username": ', content_type="application/json")
        assert response.status_code in (400, 422)
        assert_error(response, response.status_code)


@pytest.mark.parametrize(
    ("url", "method", "body", "field"),
    [
        ("/v1/check", "POST", {"username": 5}, "username"),
        ("/v1/check", "POST", {}, "username"),
        ("/v1/check", "POST", {"username": "a", "email": ["x"]}, "email"),
        ("/v1/accounts", "POST", {"id": 12, "username": "a"}, "id"),
        (
            "/v1/accounts",
            "POST",
            {"id": "x1", "username": "a", "registered_at": "yesterday"},
            "registered_at",
        ),
        ("/v1/bans", "POST", {"names": ["a"], "rule": "R1"}, "reason"),
        ("/v1/bans", "POST", {"names": ["a"], "reason": "r"}, "rule"),
        ("/v1/bans", "POST", {"names": "a", "reason": "r", "rule": "R1"}, "names"),
        ("/v1/sweeps", "POST", {"dry_run": "maybe"}, "dry_run"),
        ("/v1/activity", "POST", {"events": "none"}, "events"),
    ],
)
def test_wrong_types_are_422_naming_the_field(api, url, method, body, field):
    """Malformed JSON or a wrong type: 400/422 with the field named. Never a 500 for bad input."""
    response = api(method, url, json=body)
    assert response.status_code in (400, 422)
    assert_names_field(assert_error(response, response.status_code), field)


def test_error_shape_for_400_404_409_422(api, make_account):
    """Errors are JSON: {"code": 422, "status": "Unprocessable Entity", "message": "...", "errors": {...}}.

    Ambiguous: whether `errors` is present when there is nothing per field. Callers parse one shape,
    so every error carries all four keys (`errors` is an object, empty when nothing is per field).
    """
    make_account("dup")
    cases = {
        400: api("POST", "/v1/check", data="{", content_type="application/json"),
        404: api("GET", "/v1/accounts/nobody-here"),
        409: api("POST", "/v1/accounts", json={"id": "dup", "username": "dup2"}),
        422: api("PUT", "/v1/accounts/dup/tier", json={"tier": "platinum", "reason": "r", "rule": "R1"}),
    }
    phrases = {400: "Bad Request", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity"}
    for code, response in cases.items():
        body = assert_error(response, code)
        assert body["status"] == phrases[code]
        assert set(body) >= {"code", "status", "message", "errors"}, body
        assert isinstance(body["errors"], dict)


def test_unknown_routes_are_json_404(api):
    """Errors are JSON (an unknown resource is a 404 in the same shape)."""
    assert_error(api("GET", "/v1/bans/no-such-ban"), 404)
    assert_error(api("GET", "/v1/accounts/nobody/tier-history"), 404)


def test_times_carry_a_zone_and_ids_are_strings(api, make_account, make_ban):
    """Times are ISO 8601 with a zone. Ids are strings."""
    account = make_account("t1", phone=PHONE, registered_at="2024-03-01T08:00:00+08:00")
    assert isinstance(account["id"], str)
    assert parse(account["registered_at"]) == parse("2024-03-01T00:00:00Z")
    ban = make_ban(names=["timezone_tester"], expires_at="2999-01-01T08:00:00+08:00")
    assert isinstance(ban["id"], str)
    assert parse(ban["expires_at"]) == parse("2999-01-01T00:00:00Z")
    for key in ("created_at",):
        if key in ban:
            parse(ban[key])
    verified = api(
        "PUT",
        "/v1/accounts/t1/verification",
        json={"status": "verified", "method": "id_card", "id_number": ID_NUMBER},
    ).get_json()
    parse(verified["verification"]["verified_at"])
    sweep = api("POST", "/v1/sweeps", json={"dry_run": True}).get_json()
    assert isinstance(sweep["id"], str)
    parse(sweep["as_of"])
    for item in api("GET", "/v1/audit?subject=account:t1").get_json()["items"]:
        parse(item["at"])


def test_times_without_a_zone_are_refused(api):
    """Times are ISO 8601 with a zone (a time without one cannot be placed, so it is a 422)."""
    response = api(
        "POST", "/v1/accounts", json={"id": "nz", "username": "nz", "registered_at": "2024-01-01T00:00:00"}
    )
    assert_names_field(assert_error(response, 422), "registered_at")


def test_healthz_without_a_key(client):
    """`GET /healthz` (no key): 200 `{"status": "ok"}` once the service can answer checks."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_openapi_without_a_key(client):
    """`GET /openapi.json` (no key): the OpenAPI 3 document."""
    response = client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/v1/check",
        "/v1/accounts",
        "/v1/accounts/{account_id}",
        "/v1/bans",
        "/v1/bans/{ban_id}",
        "/v1/bans/{ban_id}/lift",
        "/v1/accounts/{account_id}/tier",
        "/v1/accounts/{account_id}/tier-history",
        "/v1/accounts/{account_id}/verification",
        "/v1/activity",
        "/v1/accounts/{account_id}/violations",
        "/v1/reviews",
        "/v1/reviews/{review_id}/resolve",
        "/v1/sweeps",
        "/v1/audit",
    ):
        assert path in doc["paths"], path


def test_uscc_constant_is_valid_for_other_tests():
    """(Sanity of the fixtures: DOMAIN.md's valid USCC has 18 characters.)"""
    assert len(USCC) == 18
