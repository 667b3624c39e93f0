"""API.md, "Accounts", "Bans", "Tiers" and "Real-name verification", as a caller sees them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from contract_support import (
    BAD_ID_NUMBER,
    BAD_USCC,
    ID_NUMBER,
    ID_NUMBER_2,
    PHONE,
    USCC,
    USCC_2,
    assert_error,
    assert_names_field,
    parse,
    reasons_of,
)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def uscc_with_check(body17: str) -> str:
    """Complete 17 characters into a USCC with its GB 32100 check character (DOMAIN.md)."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body17, USCC_WEIGHTS, strict=True))
    return body17 + USCC_ALPHABET[(31 - total % 31) % 31]


# --- Accounts -------------------------------------------------------------------------------------


def test_create_account_201_with_every_field(api):
    """`POST /v1/accounts` with {"id", "username", "display_name", "email", "phone", "id_number",
    "device_id", "ip", "account_type"}: 201 with the account."""
    body = {
        "id": "u123",
        "username": "zhangsan_88",
        "display_name": "张三",
        "email": "a@b.com",
        "phone": PHONE,
        "id_number": ID_NUMBER,
        "device_id": "d5a93145",
        "ip": "203.0.113.7",
        "account_type": "personal",
    }
    response = api("POST", "/v1/accounts", json=body)
    assert response.status_code == 201, response.get_json()
    account = response.get_json()
    assert account["id"] == "u123"
    assert account["username"] == "zhangsan_88"
    assert account["display_name"] == "张三"
    assert account["account_type"] == "personal"
    assert account["status"] == "active"
    assert account["tier"] == "standard"
    assert account["verification"]["status"] == "unverified"
    assert api("GET", "/v1/accounts/u123").get_json() == account


def test_second_account_with_the_same_id_is_409(api, make_account):
    """A second account with the same `id`: 409."""
    make_account("same")
    assert_error(api("POST", "/v1/accounts", json={"id": "same", "username": "other_name"}), 409)
    assert api("GET", "/v1/accounts/same").get_json()["username"] == "user_same"


def test_get_account_200_with_status_tier_verification_and_404(api, make_account):
    """`GET /v1/accounts/{id}`: 200 with the account, including `status`, `tier` and `verification`;
    404 if unknown."""
    make_account("g1")
    account = api("GET", "/v1/accounts/g1").get_json()
    assert account["status"] in ("active", "dormant", "suspended", "banned", "purged")
    assert account["tier"] == "standard"
    assert set(account["verification"]) >= {"status", "method", "verified_at"}
    assert account["verification"]["status"] == "unverified"
    assert account["verification"]["verified_at"] is None
    assert_error(api("GET", "/v1/accounts/g2"), 404)


def test_registered_at_defaults_to_now_and_can_be_given(api, make_account):
    """`POST /v1/accounts` also takes `registered_at` (default: now)."""
    old = make_account("old", registered_at="2019-05-04T03:02:01Z")
    assert parse(old["registered_at"]) == parse("2019-05-04T03:02:01Z")
    new = make_account("new")
    assert abs((parse(new["registered_at"]) - datetime.now(UTC)).total_seconds()) < 60


def test_account_list_filters_and_cursor(api, make_account):
    """`GET /v1/accounts?tier=watch&status=...&cursor=...`: {"items": [...], "next": "<cursor or null>"}."""
    for i in range(5):
        make_account(f"w{i}")
        rule = {"tier": "watch", "reason": "flagged", "rule": "R2.1"}
        assert api("PUT", f"/v1/accounts/w{i}/tier", json=rule).status_code == 200
    make_account("s0")
    seen: list[str] = []
    url = "/v1/accounts?tier=watch&status=active&limit=2"
    while True:
        page = api("GET", url).get_json()
        assert set(page) >= {"items", "next"}
        seen += [item["id"] for item in page["items"]]
        assert all(item["tier"] == "watch" and item["status"] == "active" for item in page["items"])
        if page["next"] is None:
            break
        assert isinstance(page["next"], str)
        url = f"/v1/accounts?tier=watch&status=active&limit=2&cursor={page['next']}"
    assert sorted(seen) == [f"w{i}" for i in range(5)]
    assert api("GET", "/v1/accounts?tier=watch&status=banned").get_json() == {"items": [], "next": None}


# --- Bans -----------------------------------------------------------------------------------------


def test_create_ban_201_with_the_contract_body(api):
    """`POST /v1/bans`: 201 with the ban. Body: {"account_id", "identifiers": {email, phone, id_number,
    device_id, ip}, "names", "reason", "rule", "expires_at": null}."""
    api("POST", "/v1/accounts", json={"id": "u123", "username": "spam_king"})
    body = {
        "account_id": "u123",
        "identifiers": {
            "email": ["a@b.com"],
            "phone": [PHONE],
            "id_number": [ID_NUMBER],
            "device_id": ["d5a93145"],
            "ip": ["203.0.113.0/24"],
        },
        "names": ["spam_ring_boss"],
        "reason": "spam ring",
        "rule": "R3.2",
        "expires_at": None,
    }
    response = api("POST", "/v1/bans", json=body)
    assert response.status_code == 201, response.get_json()
    ban = response.get_json()
    assert isinstance(ban["id"], str)
    assert ban["status"] == "active"
    assert ban["account_id"] == "u123"
    assert ban["reason"] == "spam ring" and ban["rule"] == "R3.2"
    assert ban["expires_at"] is None
    assert api("GET", f"/v1/bans/{ban['id']}").get_json()["status"] == "active"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"names": ["x_name"], "rule": "R1"}, "reason"),
        ({"names": ["x_name"], "reason": "r"}, "rule"),
    ],
)
def test_reason_and_rule_are_required(api, body, field):
    """`reason` and `rule` are required."""
    assert_names_field(assert_error(api("POST", "/v1/bans", json=body), 422), field)


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "r", "rule": "R1"},
        {"reason": "r", "rule": "R1", "names": []},
        {"reason": "r", "rule": "R1", "identifiers": {}},
        {"reason": "r", "rule": "R1", "identifiers": {"email": []}, "names": []},
    ],
)
def test_a_ban_needs_a_target(api, body):
    """At least one of `account_id`, `identifiers`, `names`."""
    assert_error(api("POST", "/v1/bans", json=body), 422)


def test_ban_with_account_id_captures_its_data_and_bans_it(api, make_account, make_ban, check):
    """With `account_id`, the account's own names and identifiers are captured into the ban as well, and
    the account's status becomes `banned`."""
    make_account(
        "bad1",
        username="grifter_9000",
        display_name="欧阳锋",
        phone="+86 139 1234 5678",
        email="grifter@example.com",
        id_number=ID_NUMBER_2,
        device_id="grifter-device",
    )
    ban = make_ban(account_id="bad1")
    assert api("GET", "/v1/accounts/bad1").get_json()["status"] == "banned"
    for field, value in (
        ("phone", "13912345678"),
        ("email", "GRIFTER@example.com"),
        ("id_number", ID_NUMBER_2),
        ("device_id", "grifter-device"),
    ):
        result = check(username="brand_new_person", **{field: value})
        assert result["decision"] == "deny", (field, result)
        assert reasons_of(result, "banned_identifier")[0]["ban_id"] == ban["id"]
    for field, value in (("username", "grifter_9001"), ("display_name", "歐陽鋒")):
        result = check(**{"username": "brand_new_person", field: value})
        assert result["decision"] in ("review", "deny"), (field, result)
        assert reasons_of(result, "similar_to_banned_name")[0]["ban_id"] == ban["id"]


def test_ban_of_unknown_account_is_an_error(api):
    """(A ban naming an account the registry does not know cannot capture it: 404 or 422, not 500.)"""
    response = api("POST", "/v1/bans", json={"account_id": "ghost", "reason": "r", "rule": "R1"})
    assert response.status_code in (404, 422)
    assert_error(response, response.status_code)


def test_get_ban_status_and_404(api, make_ban):
    """`GET /v1/bans/{id}`: 200 with {"id", "status": "active" | "lifted" | "expired", ...}."""
    ban = make_ban(names=["some_banned_name"])
    got = api("GET", f"/v1/bans/{ban['id']}")
    assert got.status_code == 200
    assert got.get_json()["id"] == ban["id"] and got.get_json()["status"] == "active"
    assert_error(api("GET", "/v1/bans/00000000-nope"), 404)


def test_lift_ban(api, make_ban):
    """`POST /v1/bans/{id}/lift` with {"reason": "..."}: 200 with the ban, now `lifted`."""
    ban = make_ban(names=["liftable_name"])
    response = api("POST", f"/v1/bans/{ban['id']}/lift", json={"reason": "appeal upheld"})
    assert response.status_code == 200
    assert response.get_json()["id"] == ban["id"] and response.get_json()["status"] == "lifted"
    assert api("GET", f"/v1/bans/{ban['id']}").get_json()["status"] == "lifted"
    assert_error(api("POST", "/v1/bans/unknown-ban/lift", json={"reason": "x"}), 404)


def test_lifting_a_ban_of_an_account(api, make_account, make_ban):
    """(Lifting the only ban of an account gives the account back: it is no longer `banned`.)

    Ambiguous: the contract does not say what status the account takes; callers expect it to be
    usable again, so anything but `banned`.
    """
    make_account("lift1")
    ban = make_ban(account_id="lift1")
    assert api("GET", "/v1/accounts/lift1").get_json()["status"] == "banned"
    api("POST", f"/v1/bans/{ban['id']}/lift", json={"reason": "appeal upheld"})
    assert api("GET", "/v1/accounts/lift1").get_json()["status"] != "banned"


# --- Tiers ----------------------------------------------------------------------------------------


def test_set_tier_returns_the_account(api, make_account):
    """`PUT /v1/accounts/{id}/tier` with {"tier": "watch", "reason": "...", "rule": "R2.1"}: 200 with the
    account."""
    make_account("t1")
    response = api("PUT", "/v1/accounts/t1/tier", json={"tier": "watch", "reason": "spam", "rule": "R2.1"})
    assert response.status_code == 200
    assert response.get_json()["id"] == "t1" and response.get_json()["tier"] == "watch"
    assert api("GET", "/v1/accounts/t1").get_json()["tier"] == "watch"


@pytest.mark.parametrize("tier", ["trusted", "standard", "watch", "restricted"])
def test_default_ladder(api, make_account, tier):
    """The default [ladder] is `trusted`, `standard`, `watch`, `restricted`, and a new account starts at
    `standard`."""
    assert make_account("l1")["tier"] == "standard"
    response = api("PUT", "/v1/accounts/l1/tier", json={"tier": tier, "reason": "r", "rule": "R2.1"})
    assert response.status_code == 200 and response.get_json()["tier"] == tier


@pytest.mark.parametrize("tier", ["platinum", "Watch", "", None, 3])
def test_unknown_tier_is_422(api, make_account, tier):
    """An unknown tier: 422."""
    make_account("x1")
    body = assert_error(
        api("PUT", "/v1/accounts/x1/tier", json={"tier": tier, "reason": "r", "rule": "R"}), 422
    )
    assert_names_field(body, "tier")
    assert api("GET", "/v1/accounts/x1").get_json()["tier"] == "standard"


def test_tier_of_unknown_account_is_404(api):
    """(Setting the tier of an unknown account: 404.)"""
    assert_error(
        api("PUT", "/v1/accounts/ghost/tier", json={"tier": "watch", "reason": "r", "rule": "R"}), 404
    )


def test_ladder_is_set_in_configuration(app_factory, auth):
    """The tiers form an ordered ladder set in configuration."""
    app = app_factory(tiers=("gold", "silver", "bronze"), default_tier="silver")
    headers = auth("admin", app=app)
    client = app.test_client()
    created = client.post("/v1/accounts", json={"id": "c1", "username": "cfg_user"}, headers=headers)
    assert created.get_json()["tier"] == "silver"
    ok = client.put(
        "/v1/accounts/c1/tier", json={"tier": "bronze", "reason": "r", "rule": "R"}, headers=headers
    )
    assert ok.status_code == 200
    assert_error(
        client.put(
            "/v1/accounts/c1/tier", json={"tier": "watch", "reason": "r", "rule": "R"}, headers=headers
        ),
        422,
    )


def test_tier_history_newest_first(api, auth, client, make_account):
    """`GET /v1/accounts/{id}/tier-history` (scope `accounts:read`): {"items": [{"from", "to", "reason",
    "rule", "actor", "at"}]}, newest first."""
    make_account("h1")
    staff = auth("tiers:write", name="staff-alice")
    for tier, rule in (("watch", "R2.1"), ("restricted", "R2.2"), ("standard", "R2.3")):
        response = client.put(
            "/v1/accounts/h1/tier", json={"tier": tier, "reason": f"to {tier}", "rule": rule}, headers=staff
        )
        assert response.status_code == 200
    history = client.get("/v1/accounts/h1/tier-history", headers=auth("accounts:read"))
    assert history.status_code == 200
    items = history.get_json()["items"]
    manual = [i for i in items if i["actor"] == "staff-alice"]
    assert [(i["from"], i["to"], i["reason"], i["rule"]) for i in manual] == [
        ("restricted", "standard", "to standard", "R2.3"),
        ("watch", "restricted", "to restricted", "R2.2"),
        ("standard", "watch", "to watch", "R2.1"),
    ]
    times = [parse(i["at"]) for i in items]
    assert times == sorted(times, reverse=True)
    assert_error(client.get("/v1/accounts/nobody/tier-history", headers=auth("accounts:read")), 404)


# --- Real-name verification -----------------------------------------------------------------------


def verify(api, account_id, status, **extra):
    """PUT a verification step."""
    return api("PUT", f"/v1/accounts/{account_id}/verification", json={"status": status, **extra})


def test_verify_returns_the_account_with_verification(api, make_account):
    """`PUT /v1/accounts/{id}/verification` with {"status": "verified", "method": "id_card", "id_number":
    "..."}: 200 with the account, whose `verification` is {"status", "method", "verified_at"}."""
    make_account("v1")
    response = verify(api, "v1", "verified", method="id_card", id_number=ID_NUMBER)
    assert response.status_code == 200, response.get_json()
    account = response.get_json()
    assert account["id"] == "v1"
    assert account["verification"]["status"] == "verified"
    assert account["verification"]["method"] == "id_card"
    parse(account["verification"]["verified_at"])
    assert api("GET", "/v1/accounts/v1").get_json()["verification"] == account["verification"]


@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_verified_must_be_revoked_or_expired_first(api, make_account, status):
    """A `verified` account must be `revoked` or `expired` before it can be `pending` or `rejected` again:
    otherwise 409."""
    make_account("v2")
    assert verify(api, "v2", "verified", method="id_card", id_number=ID_NUMBER).status_code == 200
    assert_error(verify(api, "v2", status, reason="r"), 409)
    assert api("GET", "/v1/accounts/v2").get_json()["verification"]["status"] == "verified"
    for via in ("revoked", "expired"):
        assert verify(api, "v2", via, reason="r").status_code == 200
        assert verify(api, "v2", status, reason="r").status_code == 200
        assert verify(api, "v2", "verified", method="id_card", id_number=ID_NUMBER).status_code == 200


def test_all_statuses_are_reachable(api, make_account):
    """Statuses: `unverified` (start), `pending`, `verified`, `rejected`, `revoked`, `expired`."""
    assert make_account("v3")["verification"]["status"] == "unverified"
    seen = []
    for status, extra in (
        ("pending", {}),
        ("rejected", {"reason": "blurry"}),
        ("pending", {}),
        ("verified", {"method": "id_card", "id_number": ID_NUMBER}),
        ("revoked", {"reason": "fraud"}),
        ("verified", {"method": "id_card", "id_number": ID_NUMBER}),
        ("expired", {}),
    ):
        response = verify(api, "v3", status, **extra)
        assert response.status_code == 200, (status, response.get_json())
        seen.append(response.get_json()["verification"]["status"])
    assert seen == ["pending", "rejected", "pending", "verified", "revoked", "verified", "expired"]


@pytest.mark.parametrize("status", ["bogus", "unverified"])
def test_unknown_or_start_status_is_refused(api, make_account, status):
    """(Only the listed statuses can be set; `unverified` is the start, not a step: 409 or 422.)"""
    make_account("v4")
    response = verify(api, "v4", status)
    assert response.status_code in (409, 422)
    assert_error(response, response.status_code)


@pytest.mark.parametrize("number", [ID_NUMBER, ID_NUMBER.lower(), ID_NUMBER_2])
def test_valid_id_numbers_verify(api, make_account, number):
    """An identity number that fails its check digit (GB 11643) ...: 422 (and valid ones, with a lower-case
    x, pass)."""
    make_account("v5")
    assert verify(api, "v5", "verified", method="id_card", id_number=number).status_code == 200


def test_invalid_id_number_is_422(api, make_account):
    """An identity number that fails its check digit (GB 11643) ...: 422."""
    make_account("v6")
    body = assert_error(verify(api, "v6", "verified", method="id_card", id_number=BAD_ID_NUMBER), 422)
    assert_names_field(body, "id_number")
    assert api("GET", "/v1/accounts/v6").get_json()["verification"]["status"] == "unverified"


def test_invalid_id_number_on_account_is_422(api):
    """(The same check digit rule on `POST /v1/accounts`: 422 naming id_number.)"""
    response = api(
        "POST", "/v1/accounts", json={"id": "v7", "username": "v7_user", "id_number": BAD_ID_NUMBER}
    )
    assert_names_field(assert_error(response, 422), "id_number")


ORG_NAME = "福建省某某科技有限公司"


@pytest.mark.parametrize("account_type", ["organization", "public"])
@pytest.mark.parametrize("uscc", [USCC, USCC_2, uscc_with_check("Y1110000600037341")])
def test_entity_accounts_verify_with_a_valid_uscc(api, make_account, account_type, uscc):
    """An `organization` or `public` account is verified only with an `entity` whose USCC is valid."""
    make_account("o1", display_name=ORG_NAME, account_type=account_type)
    response = verify(api, "o1", "verified", method="uscc", entity={"name": ORG_NAME, "uscc": uscc})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["verification"]["status"] == "verified"


@pytest.mark.parametrize("account_type", ["organization", "public"])
def test_entity_accounts_are_not_verified_without_a_valid_uscc(api, make_account, account_type):
    """An `organization` or `public` account is verified only with an `entity` whose USCC is valid;
    a USCC that fails its check character (GB 32100): 422."""
    make_account("o2", display_name=ORG_NAME, account_type=account_type)
    bad = verify(api, "o2", "verified", method="uscc", entity={"name": ORG_NAME, "uscc": BAD_USCC})
    assert_names_field(assert_error(bad, 422), "uscc")
    for extra in ({"method": "id_card", "id_number": ID_NUMBER}, {"method": "manual"}):
        response = verify(api, "o2", "verified", **extra)
        assert response.status_code in (409, 422), response.get_json()
        assert_error(response, response.status_code)
    assert api("GET", "/v1/accounts/o2").get_json()["verification"]["status"] == "unverified"


def test_invalid_uscc_is_422_even_for_a_personal_account(api, make_account):
    """A Unified Social Credit Code that fails its check character (GB 32100): 422."""
    make_account("o3")
    response = verify(
        api,
        "o3",
        "verified",
        method="id_card",
        id_number=ID_NUMBER,
        entity={"name": "某公司", "uscc": BAD_USCC},
    )
    assert_names_field(assert_error(response, 422), "uscc")


def test_verification_of_unknown_account_is_404(api):
    """(Verifying an unknown account: 404.)"""
    assert_error(verify(api, "ghost", "verified", method="id_card", id_number=ID_NUMBER), 404)


def test_registered_at_in_the_future_is_422(api, runner, tmp_path):
    """`registered_at` is for "accounts that existed before the registry did": a time in the future
    (beyond clock skew) is a 422 naming it, and a rejected line on import.

    Ambiguous: the contract does not forbid it outright; callers expect a future registration to be
    refused, since it would keep the account away from the sweep until then.
    """
    body = {"id": "fut", "username": "from_the_future", "registered_at": "2999-01-01T00:00:00Z"}
    assert_names_field(assert_error(api("POST", "/v1/accounts", json=body), 422), "registered_at")
    assert_error(api("GET", "/v1/accounts/fut"), 404)
    path = tmp_path / "future.jsonl"
    path.write_text(json.dumps(body) + "\n" + json.dumps({"id": "now1", "username": "present_day"}) + "\n")
    result = runner.invoke(args=["accounts", "import", str(path)])
    assert "line 1" in result.output and "registered_at" in result.output, result.output
    assert api("GET", "/v1/accounts/now1").status_code == 200
    assert api("GET", "/v1/accounts/fut").status_code == 404


def test_unknown_tier_filter_is_422(api, make_account):
    """An unknown tier: 422 (also as the `tier` filter of `GET /v1/accounts?tier=...`).

    Ambiguous: the contract states it for PUT .../tier; the list's `status` filter already answers 422
    for an unknown value, so an unknown tier there is a 422 naming `tier` rather than an empty page.
    """
    make_account("t9")
    assert_names_field(assert_error(api("GET", "/v1/accounts?tier=platinum"), 422), "tier")
    assert api("GET", "/v1/accounts?tier=standard").get_json()["items"][0]["id"] == "t9"
