"""API.md, "Activity", "Violations and credit", "Reviews" and "Audit trail" over HTTP."""

from __future__ import annotations

import pytest
from contract_support import assert_error, assert_names_field, days_ago, parse, reasons_of

# --- Activity -------------------------------------------------------------------------------------


def test_activity_202_accepted_and_unknown(api, make_account):
    """`POST /v1/activity` with {"events": [{"account_id": "u1", "kind": "login", "at": "..."}]} (up to
    1,000 events): 202 with {"accepted": n, "unknown_accounts": [...]}."""
    make_account("u1")
    make_account("u2")
    events = [
        {"account_id": "u1", "kind": "login", "at": days_ago(2)},
        {"account_id": "u2", "kind": "login", "at": days_ago(1)},
        {"account_id": "nobody", "kind": "login", "at": days_ago(1)},
    ]
    response = api("POST", "/v1/activity", json={"events": events})
    assert response.status_code == 202
    body = response.get_json()
    assert body["accepted"] == 2
    assert body["unknown_accounts"] == ["nobody"]
    assert parse(api("GET", "/v1/accounts/u2").get_json()["last_active_at"])


def test_activity_takes_1000_events_and_refuses_more(api, make_account):
    """(up to 1,000 events): 1,000 are accepted, 1,001 are a 422 naming `events`."""
    make_account("u1")
    events = [{"account_id": "u1", "kind": "login", "at": days_ago(1)}] * 1000
    response = api("POST", "/v1/activity", json={"events": events})
    assert response.status_code == 202 and response.get_json()["accepted"] == 1000
    response = api("POST", "/v1/activity", json={"events": events + events[:1]})
    assert_names_field(assert_error(response, 422), "events")


# --- Violations and credit ------------------------------------------------------------------------


def test_violations_201_and_listed(api, make_account):
    """`POST /v1/accounts/{id}/violations` with {"rule": "R4", "severity": "minor" | "moderate" |
    "severe", "note": "..."}: 201 with the violation. `GET /v1/accounts/{id}/violations`: {"items": [...]}."""
    make_account("c1")
    for severity in ("minor", "moderate", "severe"):
        response = api(
            "POST", "/v1/accounts/c1/violations", json={"rule": "R4", "severity": severity, "note": "spam"}
        )
        assert response.status_code == 201, response.get_json()
        violation = response.get_json()
        assert isinstance(violation["id"], str)
        assert violation["rule"] == "R4" and violation["severity"] == severity and violation["note"] == "spam"
    listed = api("GET", "/v1/accounts/c1/violations").get_json()
    assert {v["severity"] for v in listed["items"]} == {"minor", "moderate", "severe"}
    body = {"rule": "R4", "severity": "catastrophic", "note": "x"}
    assert_names_field(assert_error(api("POST", "/v1/accounts/c1/violations", json=body), 422), "severity")
    assert_error(api("POST", "/v1/accounts/ghost/violations", json={"rule": "R4", "severity": "minor"}), 404)


def test_credit_starts_at_100_and_drops_by_severity(api, make_account):
    """The account shows `credit`, a score from 0 to 100 that starts at 100, drops with each violation by
    its severity."""
    assert make_account("c2")["credit"] == 100
    credits = [100]
    for severity in ("minor", "moderate", "severe", "severe", "severe"):
        api("POST", "/v1/accounts/c2/violations", json={"rule": "R4", "severity": severity, "note": "n"})
        credits.append(api("GET", "/v1/accounts/c2").get_json()["credit"])
    assert all(0 <= c <= 100 for c in credits)
    drops = [a - b for a, b in zip(credits, credits[1:4], strict=False)]
    assert 0 < drops[0] < drops[1] < drops[2], credits
    assert credits[-1] == 0


def test_credit_moves_the_tier_unless_pinned(api, make_account):
    """Credit thresholds move the tier down ... by themselves, unless staff set the tier by hand, which
    pins it."""
    make_account("c3")
    make_account("c4")
    assert (
        api("PUT", "/v1/accounts/c4/tier", json={"tier": "standard", "reason": "r", "rule": "R2"}).status_code
        == 200
    )
    for _ in range(3):
        for account in ("c3", "c4"):
            api("POST", f"/v1/accounts/{account}/violations", json={"rule": "R4", "severity": "severe"})
    assert api("GET", "/v1/accounts/c3").get_json()["tier"] in ("watch", "restricted")
    assert api("GET", "/v1/accounts/c4").get_json()["tier"] == "standard"


# --- Reviews --------------------------------------------------------------------------------------


@pytest.fixture
def ban(make_ban):
    """A ban on a Latin name, under rule R3.2."""
    return make_ban(names=["dragonslayer_88"], reason="spam ring", rule="R3.2")


def open_reviews(api):
    """Return the open reviews."""
    response = api("GET", "/v1/reviews?status=open")
    assert response.status_code == 200
    return response.get_json()["items"]


def test_review_check_opens_a_review(api, check, ban):
    """Every check that answers `review` opens a review: `GET /v1/reviews?status=open` gives
    {"items": [{"id", "check_id", "created_at", "reasons", ...}]}."""
    result = check(username="dr4gonslayer_1")
    assert result["decision"] == "review"
    (item,) = [i for i in open_reviews(api) if i["check_id"] == result["check_id"]]
    assert isinstance(item["id"], str)
    parse(item["created_at"])
    assert item["reasons"] == result["reasons"]
    assert check(username="sunflower_lover")["decision"] == "allow"
    assert len(open_reviews(api)) == 1


def test_confirmed_bans_the_tied_account_citing_the_rule(api, check, make_account, ban):
    """`POST /v1/accounts` may carry "check_id" to tie the new account to its check and review.
    `POST /v1/reviews/{id}/resolve` with {"outcome": "confirmed", "note"}: `confirmed` bans the tied account
    (citing the matched ban's rule)."""
    result = check(username="dr4gonslayer_1")
    make_account("newbie", username="dr4gonslayer_1", check_id=result["check_id"])
    (item,) = [i for i in open_reviews(api) if i["check_id"] == result["check_id"]]
    response = api("POST", f"/v1/reviews/{item['id']}/resolve", json={"outcome": "confirmed", "note": "same"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["outcome"] == "confirmed"
    assert api("GET", "/v1/accounts/newbie").get_json()["status"] == "banned"
    bans = api("GET", "/v1/bans?account_id=newbie").get_json()["items"]
    assert [b["rule"] for b in bans] == ["R3.2"]
    assert not [i for i in open_reviews(api) if i["id"] == item["id"]]


def test_false_positive_stops_the_pair_opening_a_review(api, check, ban):
    """`false_positive` records that this name does not belong to that ban, so the same pair no longer
    opens a review."""
    first = check(username="dr4gonslayer_1")
    (item,) = [i for i in open_reviews(api) if i["check_id"] == first["check_id"]]
    response = api(
        "POST", f"/v1/reviews/{item['id']}/resolve", json={"outcome": "false_positive", "note": "no"}
    )
    assert response.status_code == 200 and response.get_json()["outcome"] == "false_positive"
    again = check(username="dr4gonslayer_1")
    assert again["decision"] != "review" or not reasons_of(again, "similar_to_banned_name"), again
    assert open_reviews(api) == []


def test_resolve_bad_outcome_and_unknown_review(api, check, ban):
    """(`outcome` is `confirmed` or `false_positive`: anything else is a 422 naming it; unknown id 404.)"""
    result = check(username="dr4gonslayer_1")
    (item,) = [i for i in open_reviews(api) if i["check_id"] == result["check_id"]]
    bad = api("POST", f"/v1/reviews/{item['id']}/resolve", json={"outcome": "maybe"})
    assert_names_field(assert_error(bad, 422), "outcome")
    assert_error(api("POST", "/v1/reviews/none/resolve", json={"outcome": "confirmed"}), 404)


# --- Audit trail ----------------------------------------------------------------------------------


def test_every_change_is_audited_with_the_key_name(client, auth, api, make_ban):
    """Every change (accounts, tiers, verification, bans, sweeps, keys) appends one entry:
    `GET /v1/audit?subject=account:u1` gives {"items": [{"seq", "at", "actor", "action", "subject", "data",
    "hash"}]}, where `actor` is the name of the key that made it."""
    writer = auth("accounts:write", "tiers:write", "verification:write", name="signup-flow")
    assert (
        client.post("/v1/accounts", json={"id": "u1", "username": "audited"}, headers=writer).status_code
        == 201
    )
    tier = {"tier": "watch", "reason": "r", "rule": "R2.1"}
    assert client.put("/v1/accounts/u1/tier", json=tier, headers=writer).status_code == 200
    verification = {"status": "verified", "method": "id_card", "id_number": "11010519491231002X"}
    assert client.put("/v1/accounts/u1/verification", json=verification, headers=writer).status_code == 200
    reader = auth("audit:read", name="auditor")
    response = client.get("/v1/audit?subject=account:u1", headers=reader)
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert len(items) >= 3
    for item in items:
        assert set(item) >= {"seq", "at", "actor", "action", "subject", "data", "hash"}
        assert item["subject"] == "account:u1"
        assert item["actor"] == "signup-flow"
        parse(item["at"])
        assert isinstance(item["hash"], str) and item["hash"]
        assert isinstance(item["data"], dict)
    assert len({item["seq"] for item in items}) == len(items)
    assert "11010519491231002X" not in str(items)
    ban = make_ban(names=["audited_ban"])
    api("POST", f"/v1/bans/{ban['id']}/lift", json={"reason": "done"})
    ban_items = client.get(f"/v1/audit?subject=ban:{ban['id']}", headers=reader).get_json()["items"]
    assert len(ban_items) == 2 and {i["actor"] for i in ban_items} == {"contract-admin"}
    sweep = api("POST", "/v1/sweeps", json={"dry_run": False}).get_json()
    assert client.get(f"/v1/audit?subject=sweep:{sweep['id']}", headers=reader).get_json()["items"]
    keys = client.get("/v1/audit?subject=key:auditor", headers=reader).get_json()["items"]
    assert len(keys) == 1
