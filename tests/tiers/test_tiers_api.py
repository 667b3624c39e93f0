"""Tiers over HTTP: manual changes, history, pinning, bulk, the rules catalogue, the watch directory."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from registry.audit.models import AuditEntry
from registry.extensions import db
from registry.tiers.models import TierChange


@pytest.fixture
def headers(auth):
    return auth("accounts:read", "accounts:write", "tiers:write", name="staff-1")


def create(client, headers, account_id):
    response = client.post(
        "/v1/accounts", json={"id": account_id, "username": f"user_{account_id}"}, headers=headers
    )
    assert response.status_code == 201, response.json
    return response.json


def put_tier(client, headers, account_id, tier, reason="repeated spam", rule="R2.1"):
    body = {"tier": tier, "reason": reason, "rule": rule}
    return client.put(f"/v1/accounts/{account_id}/tier", json=body, headers=headers)


def test_tier_change_history_and_pin(client, headers):
    create(client, headers, "u1")
    response = put_tier(client, headers, "u1", "watch")
    assert response.status_code == 200, response.json
    assert response.json["tier"] == "watch" and response.json["tier_pinned"] is True
    put_tier(client, headers, "u1", "restricted", reason="escalated", rule="R3")
    history = client.get("/v1/accounts/u1/tier-history", headers=headers)
    assert history.status_code == 200
    items = history.json["items"]
    assert [(i["from"], i["to"]) for i in items] == [("watch", "restricted"), ("standard", "watch")]
    assert items[0]["reason"] == "escalated" and items[0]["rule"] == "R3"
    assert items[0]["actor"] == "staff-1" and items[0]["automatic"] is False
    assert items[0]["at"].endswith("+00:00")


def test_unpin_is_audited(app, client, headers):
    create(client, headers, "u1")
    put_tier(client, headers, "u1", "watch")
    response = client.post(
        "/v1/accounts/u1/tier/unpin", json={"reason": "hand back to credit"}, headers=headers
    )
    assert response.status_code == 200
    assert response.json["tier_pinned"] is False and response.json["tier"] == "watch"
    assert client.post("/v1/accounts/u1/tier/unpin", json={}, headers=headers).status_code == 422
    with app.app_context():
        actions = db.session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.subject == "account:u1").order_by(AuditEntry.seq)
        ).all()
    assert actions == ["account.create", "tier.change", "tier.unpin"]


def test_unknown_tier_is_422(client, headers):
    create(client, headers, "u1")
    response = put_tier(client, headers, "u1", "platinum")
    assert response.status_code == 422
    assert "tier" in response.json["errors"]["json"]
    assert "platinum" in response.json["errors"]["json"]["tier"][0]
    assert client.get("/v1/accounts/u1", headers=headers).json["tier"] == "standard"


@pytest.mark.parametrize("missing", ["reason", "rule", "tier"])
def test_missing_fields_are_422(client, headers, missing):
    create(client, headers, "u1")
    body = {"tier": "watch", "reason": "r", "rule": "R1"}
    del body[missing]
    response = client.put("/v1/accounts/u1/tier", json=body, headers=headers)
    assert response.status_code == 422
    assert missing in response.json["errors"]["json"]


def test_unknown_account_is_404(client, headers):
    assert put_tier(client, headers, "nobody", "watch").status_code == 404
    assert client.get("/v1/accounts/nobody/tier-history", headers=headers).status_code == 404


def test_scopes(client, auth, headers):
    create(client, headers, "u1")
    reader = auth("accounts:read")
    assert put_tier(client, reader, "u1", "watch").status_code == 403
    assert client.put("/v1/accounts/u1/tier", json={}, headers={}).status_code == 401
    assert client.get("/v1/accounts/u1/tier-history", headers=auth("tiers:write")).status_code == 403


def test_watch_directory(client, headers):
    for account_id in ("a1", "a2", "a3"):
        create(client, headers, account_id)
    put_tier(client, headers, "a1", "watch")
    put_tier(client, headers, "a3", "watch")
    listing = client.get("/v1/accounts?tier=watch", headers=headers)
    assert listing.status_code == 200
    assert [a["id"] for a in listing.json["items"]] == ["a1", "a3"]


def test_bulk_all_changes_recorded(app, client, headers):
    for account_id in ("a1", "a2", "a3"):
        create(client, headers, account_id)
    body = {
        "changes": [
            {"account_id": "a1", "tier": "watch"},
            {"account_id": "a2", "tier": "restricted"},
            {"account_id": "a3", "tier": "standard"},
        ],
        "reason": "ring of spam accounts",
        "rule": "R2.1",
    }
    response = client.post("/v1/tiers/bulk", json=body, headers=headers)
    assert response.status_code == 200, response.json
    assert response.json == {"changed": ["a1", "a2"], "unchanged": ["a3"]}
    assert client.get("/v1/accounts/a2", headers=headers).json["tier"] == "restricted"
    assert client.get("/v1/accounts/a3", headers=headers).json["tier_pinned"] is True
    history = client.get("/v1/accounts/a1/tier-history", headers=headers).json["items"]
    assert history[0]["reason"] == "ring of spam accounts" and history[0]["actor"] == "staff-1"
    with app.app_context():
        entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "tier.change")).all()
    assert sorted(e.subject for e in entries) == ["account:a1", "account:a2"]
    assert all(e.data["bulk"] is True for e in entries)


@pytest.mark.parametrize(
    ("changes", "code", "index", "field"),
    [
        (
            [{"account_id": "a1", "tier": "watch"}, {"account_id": "ghost", "tier": "watch"}],
            404,
            "1",
            "account_id",
        ),
        ([{"account_id": "a1", "tier": "watch"}, {"account_id": "a2", "tier": "gold"}], 422, "1", "tier"),
        (
            [{"account_id": "a1", "tier": "watch"}, {"account_id": "a1", "tier": "restricted"}],
            422,
            "1",
            "account_id",
        ),
        ([{"account_id": "a1"}], 422, "0", "tier"),
    ],
)
def test_bulk_is_all_or_nothing(app, client, headers, changes, code, index, field):
    create(client, headers, "a1")
    create(client, headers, "a2")
    body = {"changes": changes, "reason": "r", "rule": "R1"}
    response = client.post("/v1/tiers/bulk", json=body, headers=headers)
    assert response.status_code == code, response.json
    assert field in response.json["errors"]["json"]["changes"][index]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TierChange)) == 0
    assert client.get("/v1/accounts/a1", headers=headers).json["tier"] == "standard"


def test_bulk_needs_reason_and_rule(client, headers):
    response = client.post(
        "/v1/tiers/bulk", json={"changes": [{"account_id": "a", "tier": "watch"}]}, headers=headers
    )
    assert response.status_code == 422
    assert {"reason", "rule"} <= set(response.json["errors"]["json"])


CATALOGUE = {
    "rules": [
        {"code": "R2.1", "title": "Spam and fraud", "actions": ["tier", "ban"]},
        {"code": "R5", "title": "Bans only", "actions": ["ban", "lift"]},
    ]
}


@pytest.fixture
def catalogue_app(app_factory, tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(CATALOGUE))
    return app_factory(rules_file=str(path))


def test_catalogue_refuses_unknown_codes_and_disallowed_actions(catalogue_app, auth):
    client = catalogue_app.test_client()
    headers = auth("admin", app=catalogue_app)
    create(client, headers, "u1")
    unknown = put_tier(client, headers, "u1", "watch", rule="R99")
    assert unknown.status_code == 422
    assert "R99" in unknown.json["errors"]["json"]["rule"][0]
    disallowed = put_tier(client, headers, "u1", "watch", rule="R5")
    assert disallowed.status_code == 422
    assert "does not allow 'tier'" in disallowed.json["errors"]["json"]["rule"][0]
    assert put_tier(client, headers, "u1", "watch", rule="R2.1").status_code == 200
    bulk = client.post(
        "/v1/tiers/bulk",
        json={"changes": [{"account_id": "u1", "tier": "restricted"}], "reason": "r", "rule": "R5"},
        headers=headers,
    )
    assert bulk.status_code == 422 and "rule" in bulk.json["errors"]["json"]
    listing = client.get("/v1/rules", headers=headers)
    assert listing.json["configured"] is True
    assert listing.json["items"][0] == {"code": "R2.1", "title": "Spam and fraud", "actions": ["tier", "ban"]}


def test_rules_listing_without_catalogue(client, auth):
    response = client.get("/v1/rules", headers=auth("accounts:read"))
    assert response.status_code == 200
    assert response.json == {"configured": False, "items": []}


def test_custom_ladder(app_factory, auth):
    app = app_factory(tiers=("gold", "standard", "probation"))
    client = app.test_client()
    headers = auth(app=app)
    create(client, headers, "u1")
    assert put_tier(client, headers, "u1", "probation").status_code == 200
    assert put_tier(client, headers, "u1", "watch").status_code == 422
