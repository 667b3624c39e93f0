"""The review queue over HTTP: opened by a check, tied by signup, claimed, confirmed or dismissed."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.bans.models import Ban
from registry.check.models import CheckRecord
from registry.extensions import db
from registry.index_changes import IndexChange
from registry.reviews.models import NameSuppression, Review
from registry.timeutil import utcnow

BANNED = "zhangsan_88"
LOOKALIKE = "zhangsam_88"


@pytest.fixture
def staff(auth):
    return auth("bans:write", "bans:read", "audit:read", "accounts:read", name="alice")


@pytest.fixture
def other(auth):
    return auth("bans:write", name="bob")


@pytest.fixture
def signup(auth):
    return auth("check", "accounts:write", name="signup-flow")


@pytest.fixture
def ban(client, staff):
    response = client.post(
        "/v1/bans", json={"names": [BANNED], "reason": "spam ring", "rule": "R3.2"}, headers=staff
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


def check(client, signup, username=LOOKALIKE, **extra):
    response = client.post("/v1/check", json={"username": username, **extra}, headers=signup)
    assert response.status_code == 200, response.json
    return response.json


def open_review(client, signup, ban, username=LOOKALIKE):
    result = check(client, signup, username)
    assert result["decision"] == "review", result
    assert any(r["code"] == "similar_to_banned_name" and r["ban_id"] == ban for r in result["reasons"])
    return result["check_id"]


def review_of(client, staff, check_id):
    items = client.get("/v1/reviews?status=open", headers=staff).json["items"]
    matches = [r for r in items if r["check_id"] == check_id]
    assert len(matches) == 1, items
    return matches[0]


def register(client, signup, account_id="u1", username=LOOKALIKE, check_id=None):
    body = {"id": account_id, "username": username}
    if check_id is not None:
        body["check_id"] = check_id
    return client.post("/v1/accounts", json=body, headers=signup)


def trail(client, staff, subject):
    return client.get(f"/v1/audit?subject={subject}&order=asc", headers=staff).json["items"]


def test_a_review_check_opens_a_review_with_its_reasons(client, staff, signup, ban):
    check_id = open_review(client, signup, ban)
    review = review_of(client, staff, check_id)
    assert review["status"] == "open" and review["username"] == LOOKALIKE
    assert review["reasons"][0]["ban_id"] == ban
    assert review["assignee"] is None and review["account_id"] is None
    assert review["created_at"].endswith("+00:00")
    assert client.get(f"/v1/reviews/{review['id']}", headers=staff).json == review


def test_claim_confirm_bans_the_tied_account_citing_the_rule(app, client, staff, signup, ban):
    check_id = open_review(client, signup, ban)
    created = register(client, signup, check_id=check_id)
    assert created.status_code == 201, created.json
    review = review_of(client, staff, check_id)
    assert review["account_id"] == "u1"
    claimed = client.post(f"/v1/reviews/{review['id']}/claim", json={}, headers=staff)
    assert claimed.status_code == 200, claimed.json
    assert claimed.json["status"] == "claimed" and claimed.json["assignee"] == "alice"
    assert claimed.json["claimed_at"] is not None
    resolved = client.post(
        f"/v1/reviews/{review['id']}/resolve",
        json={"outcome": "confirmed", "note": "same ring"},
        headers=staff,
    )
    assert resolved.status_code == 200, resolved.json
    body = resolved.json
    assert body["status"] == "resolved" and body["outcome"] == "confirmed" and body["resolved_by"] == "alice"
    assert body["ban_id"] and body["note"] == "same ring"
    new_ban = client.get(f"/v1/bans/{body['ban_id']}", headers=staff).json
    assert new_ban["rule"] == "R3.2" and new_ban["status"] == "active"
    account = client.get("/v1/accounts/u1", headers=staff).json
    assert account["status"] == "banned"
    actions = [e["action"] for e in trail(client, staff, f"review:{review['id']}")]
    assert actions == ["review.tie", "review.claim", "review.resolve"]
    resolve_entry = trail(client, staff, f"review:{review['id']}")[-1]
    assert resolve_entry["data"]["ban_id"] == body["ban_id"] and resolve_entry["data"]["rule"] == "R3.2"
    assert resolve_entry["actor"] == "alice"
    again = client.post(
        f"/v1/reviews/{review['id']}/resolve", json={"outcome": "false_positive"}, headers=staff
    )
    assert again.status_code == 409
    assert client.post(f"/v1/reviews/{review['id']}/claim", json={}, headers=staff).status_code == 409


def test_false_positive_stops_the_same_check_from_opening_a_review(app, client, staff, signup, ban):
    check_id = open_review(client, signup, ban)
    review = review_of(client, staff, check_id)
    resolved = client.post(
        f"/v1/reviews/{review['id']}/resolve",
        json={"outcome": "false_positive", "note": "a real Zhang"},
        headers=staff,
    )
    assert resolved.status_code == 200, resolved.json
    assert resolved.json["outcome"] == "false_positive" and resolved.json["assignee"] == "alice"
    with app.app_context():
        pairs = db.session.execute(sa.select(NameSuppression.ban_id, NameSuppression.review_id)).all()
        events = db.session.scalars(sa.select(IndexChange.kind).where(IndexChange.subject == ban)).all()
    assert [tuple(p) for p in pairs] == [(ban, review["id"])]
    assert "suppress" in events
    again = check(client, signup)
    assert not any(r["code"] == "similar_to_banned_name" and r["ban_id"] == ban for r in again["reasons"])
    assert again["decision"] == "allow"
    assert client.get("/v1/reviews?status=open", headers=staff).json["items"] == []
    # Only that name: another look-alike of the same ban still flags.
    assert check(client, signup, "zhangsan_99")["decision"] in ("review", "deny")
    suppress = trail(client, staff, f"ban:{ban}")
    assert any(e["action"] == "ban.suppress" for e in suppress)


def test_claim_by_someone_else_is_409_unless_forced(client, staff, other, signup, ban):
    review = review_of(client, staff, open_review(client, signup, ban))
    url = f"/v1/reviews/{review['id']}/claim"
    assert client.post(url, json={}, headers=staff).status_code == 200
    assert client.post(url, json={}, headers=staff).json["assignee"] == "alice"  # idempotent for the holder
    taken = client.post(url, json={}, headers=other)
    assert taken.status_code == 409 and "alice" in taken.json["message"]
    forced = client.post(url, json={"force": True}, headers=other)
    assert forced.status_code == 200 and forced.json["assignee"] == "bob"
    claims = [e for e in trail(client, staff, f"review:{review['id']}") if e["action"] == "review.claim"]
    assert [c["actor"] for c in claims] == ["alice", "bob"]
    assert claims[1]["data"]["previous_assignee"] == "alice"


def test_confirming_without_a_tied_account_is_409(client, staff, signup, ban):
    review = review_of(client, staff, open_review(client, signup, ban))
    response = client.post(
        f"/v1/reviews/{review['id']}/resolve", json={"outcome": "confirmed"}, headers=staff
    )
    assert response.status_code == 409
    assert "no tied account" in response.json["message"]
    assert client.get(f"/v1/reviews/{review['id']}", headers=staff).json["status"] == "open"


def test_unknown_check_id_on_signup_is_422_naming_it(client, signup):
    response = register(client, signup, check_id="chk_nope")
    assert response.status_code == 422
    assert "check_id" in response.json["errors"]["json"]


def test_a_check_ties_to_one_account_only(client, staff, signup, ban):
    check_id = open_review(client, signup, ban)
    assert register(client, signup, "u1", check_id=check_id).status_code == 201
    second = register(client, signup, "u2", check_id=check_id)
    assert second.status_code == 409 and "check_id" in second.json["errors"]["json"]


@pytest.fixture
def queued(app):
    """Reviews made directly, spread over time, to exercise the queue's order and pagination."""
    with app.app_context():
        base = utcnow() - timedelta(hours=1)
        ids = []
        for n in range(7):
            at = base + timedelta(minutes=n // 2)  # pairs share a timestamp: the id breaks the tie
            db.session.add(CheckRecord(id=f"chk_{n}", at=at, actor="t", decision="review", reasons=[]))
            db.session.flush()
            db.session.add(
                Review(
                    id=f"rev_{n}",
                    check_id=f"chk_{n}",
                    status="open",
                    created_at=at,
                    username=f"n{n}",
                    reasons=[{"code": "prohibited_name", "field": "username", "rule": "N1"}],
                )
            )
            ids.append(f"rev_{n}")
        db.session.commit()
    return ids


def test_queue_is_oldest_first_with_keyset_pagination(client, staff, queued):
    seen, cursor = [], None
    while True:
        page = client.get(
            "/v1/reviews?status=open&limit=3" + (f"&cursor={cursor}" if cursor else ""), headers=staff
        )
        assert page.status_code == 200, page.json
        seen += [r["id"] for r in page.json["items"]]
        cursor = page.json["next"]
        if cursor is None:
            break
    assert seen == queued
    client.post("/v1/reviews/rev_0/claim", json={}, headers=staff)
    assert [r["id"] for r in client.get("/v1/reviews?status=claimed", headers=staff).json["items"]] == [
        "rev_0"
    ]
    assert len(client.get("/v1/reviews?status=open", headers=staff).json["items"]) == 6
    assert [r["id"] for r in client.get("/v1/reviews?assignee=alice", headers=staff).json["items"]] == [
        "rev_0"
    ]


def test_confirmed_review_of_a_policy_flag_cites_the_reasons_rule(app, client, staff, signup, queued):
    assert register(client, signup, "u7", username="n0", check_id="chk_0").status_code == 201
    resolved = client.post("/v1/reviews/rev_0/resolve", json={"outcome": "confirmed"}, headers=staff)
    assert resolved.status_code == 200, resolved.json
    with app.app_context():
        assert db.session.get(Ban, resolved.json["ban_id"]).rule == "N1"
        assert db.session.get(Account, "u7").status == "banned"


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/v1/reviews/rev_1/resolve", {"outcome": "maybe"}, "outcome"),
        ("/v1/reviews/rev_1/resolve", {}, "outcome"),
        ("/v1/reviews/rev_1/resolve", {"outcome": "confirmed", "note": 3}, "note"),
        ("/v1/reviews/rev_1/claim", {"force": "perhaps"}, "force"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(client, staff, queued, url, body, field):
    response = client.post(url, json=body, headers=staff)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]


def test_bad_queries_unknown_reviews_and_scopes(client, staff, auth, queued):
    assert client.get("/v1/reviews?status=closed", headers=staff).status_code == 422
    assert client.get("/v1/reviews?cursor=junk", headers=staff).status_code == 422
    assert client.get("/v1/reviews/rev_nope", headers=staff).status_code == 404
    assert client.post("/v1/reviews/rev_nope/claim", json={}, headers=staff).status_code == 404
    assert client.get("/v1/reviews", headers=auth("bans:read")).status_code == 403
    assert client.get("/v1/reviews").status_code == 401
