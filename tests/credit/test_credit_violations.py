"""Violations and credit over HTTP and the recovery command, on the real database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.credit.service import credit_tier, recovered, tier_move
from registry.extensions import db
from registry.settings import Settings
from registry.timeutil import utcnow


@pytest.fixture
def headers(auth):
    return auth("accounts:read", "accounts:write", "tiers:write", "audit:read", name="moderator")


@pytest.fixture
def account(client, headers):
    response = client.post("/v1/accounts", json={"id": "u1", "username": "someone"}, headers=headers)
    assert response.status_code == 201
    return "u1"


def violate(client, headers, severity, rule="R4", account_id="u1", note=None):
    body = {"rule": rule, "severity": severity}
    if note is not None:
        body["note"] = note
    return client.post(f"/v1/accounts/{account_id}/violations", json=body, headers=headers)


def get_account(client, headers, account_id="u1"):
    return client.get(f"/v1/accounts/{account_id}", headers=headers).json


def backdate(app, days, account_id="u1"):
    """Move the account's credit clock into the past, as if the violations were older."""
    with app.app_context():
        acc = db.session.get(Account, account_id)
        acc.credit_at = acc.credit_at - timedelta(days=days)
        db.session.commit()


def test_violation_is_recorded_lowers_credit_and_is_audited(client, headers, account):
    response = violate(client, headers, "moderate", note="spam links")
    assert response.status_code == 201, response.json
    body = response.json
    assert body["rule"] == "R4" and body["severity"] == "moderate" and body["note"] == "spam links"
    assert body["deduction"] == 15 and body["credit"] == 85 and body["actor"] == "moderator"
    assert body["at"].endswith("+00:00")
    assert get_account(client, headers)["credit"] == 85
    listed = client.get("/v1/accounts/u1/violations", headers=headers).json["items"]
    assert [v["id"] for v in listed] == [body["id"]]
    trail = client.get("/v1/audit?subject=account:u1&action=violation.create", headers=headers).json["items"]
    assert trail[0]["data"]["credit_before"] == 100 and trail[0]["data"]["credit_after"] == 85
    assert trail[0]["data"]["violation_id"] == body["id"]


def test_violations_list_newest_first(client, headers, account):
    first = violate(client, headers, "minor", rule="R1").json["id"]
    second = violate(client, headers, "minor", rule="R2").json["id"]
    assert [v["id"] for v in client.get("/v1/accounts/u1/violations", headers=headers).json["items"]] == [
        second,
        first,
    ]


def test_thresholds_move_the_tier_down_automatically(client, headers, account):
    assert violate(client, headers, "moderate").json["tier_changed_to"] is None  # 85
    second = violate(client, headers, "moderate").json  # 70: not below 70 yet
    assert second["credit"] == 70 and second["tier"] == "standard"
    third = violate(client, headers, "minor").json  # 65 < 70
    assert third["tier_changed_to"] == "watch"
    fourth = violate(client, headers, "severe", rule="R9").json  # 25 < 40
    assert fourth["tier_changed_to"] == "restricted" and fourth["credit"] == 25
    history = client.get("/v1/accounts/u1/tier-history", headers=headers).json["items"]
    assert [(h["from"], h["to"], h["rule"]) for h in history] == [
        ("watch", "restricted", "R9"),
        ("standard", "watch", "R4"),
    ]
    changes = client.get("/v1/audit?subject=account:u1&action=tier.change", headers=headers).json["items"]
    assert all(c["data"]["automatic"] for c in changes) and len(changes) == 2


def test_credit_floors_at_zero(client, headers, account):
    for _ in range(3):
        body = violate(client, headers, "severe").json
    assert body["credit"] == 0 and body["deduction"] == 20
    assert get_account(client, headers)["credit"] == 0


def test_deductions_and_thresholds_come_from_settings(app_factory, auth):
    app = app_factory(credit_minor=50, credit_watch_below=90)
    client = app.test_client()
    h = auth("accounts:write", "accounts:read", app=app)
    client.post("/v1/accounts", json={"id": "u9", "username": "x"}, headers=h)
    body = violate(client, h, "minor", account_id="u9").json
    assert body["credit"] == 50 and body["tier_changed_to"] == "watch"


def test_effective_credit_recovers_with_time_and_the_job_moves_the_tier_back(
    app, client, headers, account, runner
):
    violate(client, headers, "severe")  # 60 -> watch
    violate(client, headers, "moderate")  # 45 -> still watch
    assert get_account(client, headers)["tier"] == "watch"
    backdate(app, 30 * 5 + 3)  # five periods of 5 points: 70
    assert get_account(client, headers)["credit"] == 70
    result = runner.invoke(args=["credit", "recover"])
    assert result.exit_code == 0, result.output
    assert "1 recovered, 1 tiers moved" in result.output
    doc = get_account(client, headers)
    assert doc["credit"] == 70 and doc["tier"] == "standard"
    history = client.get("/v1/accounts/u1/tier-history", headers=headers).json["items"]
    assert (history[0]["from"], history[0]["to"]) == ("watch", "standard")
    recovers = client.get("/v1/audit?subject=account:u1&action=credit.recover", headers=headers).json["items"]
    assert recovers[0]["data"]["credit_after"] == 70 and recovers[0]["data"]["automatic"] is True
    # The partly elapsed period is kept: the clock moved by whole periods only.
    with app.app_context():
        acc = db.session.get(Account, "u1")
        assert (utcnow() - acc.credit_at) > timedelta(days=2)
    again = runner.invoke(args=["credit", "recover"])
    assert "0 recovered, 0 tiers moved" in again.output


def test_recover_after_a_long_time_caps_at_100(app, client, headers, account, runner):
    violate(client, headers, "severe")
    backdate(app, 3650)
    result = runner.invoke(args=["credit", "recover"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.get(Account, "u1").credit == 100


@pytest.mark.parametrize(
    "as_of", ["9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+08:00", "ahead"]
)
def test_recover_refuses_the_future_and_impossible_times(app, client, headers, account, runner, as_of):
    violate(client, headers, "severe")
    if as_of == "ahead":
        as_of = (utcnow() + timedelta(days=3)).isoformat() + "+00:00"
    result = runner.invoke(args=["credit", "recover", "--as-of", as_of])
    assert result.exit_code == 2 and "--as-of" in result.output and "Traceback" not in result.output
    with app.app_context():
        assert db.session.get(Account, "u1").credit == 60


def test_a_violation_restarts_the_recovery_clock(app, client, headers, account):
    violate(client, headers, "severe")  # 60
    backdate(app, 65)  # two periods: effective 70
    body = violate(client, headers, "minor").json
    assert body["credit"] == 65  # taken from the effective 70
    assert get_account(client, headers)["credit"] == 65


def test_a_pinned_tier_stays_put(app, client, headers, account, runner):
    pinned = client.put(
        "/v1/accounts/u1/tier", json={"tier": "trusted", "reason": "partner", "rule": "R0"}, headers=headers
    )
    assert pinned.status_code == 200, pinned.json
    body = violate(client, headers, "severe").json
    body = violate(client, headers, "severe").json  # 20: restricted by credit, but pinned
    assert body["tier"] == "trusted" and body["tier_changed_to"] is None
    unpinned = client.post("/v1/accounts/u1/tier/unpin", json={"reason": "review over"}, headers=headers)
    assert unpinned.status_code == 200, unpinned.json
    assert violate(client, headers, "minor").json["tier_changed_to"] == "restricted"


def test_recovery_never_moves_a_pinned_tier(app, client, headers, account, runner):
    violate(client, headers, "severe")  # watch
    client.put(
        "/v1/accounts/u1/tier", json={"tier": "watch", "reason": "keep an eye", "rule": "R0"}, headers=headers
    )
    backdate(app, 400)
    result = runner.invoke(args=["credit", "recover"])
    assert "1 recovered, 0 tiers moved" in result.output
    assert get_account(client, headers)["tier"] == "watch"


def test_recovery_batches_over_many_accounts(app, client, headers, runner):
    with app.app_context():
        long_ago = utcnow() - timedelta(days=61)
        rows = [
            {
                "id": f"b{i:03d}",
                "username": f"b{i}",
                "tier": "watch",
                "credit": 60,
                "credit_at": long_ago,
                "account_type": "personal",
                "status": "active",
                "verification_status": "unverified",
                "tier_pinned": False,
                "news_licensed": False,
                "pii_key_version": 1,
                "registered_at": long_ago,
                "created_at": long_ago,
                "updated_at": long_ago,
            }
            for i in range(25)
        ]
        db.session.execute(sa.insert(Account), rows)
        db.session.commit()
    result = runner.invoke(args=["credit", "recover", "--batch-size", "7"])
    assert result.exit_code == 0, result.output
    assert "25 recovered, 25 tiers moved" in result.output
    with app.app_context():
        assert set(db.session.scalars(sa.select(Account.credit).where(Account.id.like("b%")))) == {70}
        assert set(db.session.scalars(sa.select(Account.tier).where(Account.id.like("b%")))) == {"standard"}
        n = db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "credit.recover")
        )
        assert n == 25


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"severity": "minor"}, "rule"),
        ({"rule": "R1"}, "severity"),
        ({"rule": "R1", "severity": "huge"}, "severity"),
        ({"rule": "", "severity": "minor"}, "rule"),
        ({"rule": "R1", "severity": "minor", "note": 5}, "note"),
    ],
)
def test_bad_violations_are_422_naming_the_field(client, headers, account, body, field):
    response = client.post("/v1/accounts/u1/violations", json=body, headers=headers)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]


def test_unknown_account_is_404_and_scopes_are_enforced(client, headers, auth, account):
    assert violate(client, headers, "minor", account_id="ghost").status_code == 404
    assert client.get("/v1/accounts/ghost/violations", headers=headers).status_code == 404
    reader = auth("accounts:read")
    assert violate(client, reader, "minor").status_code == 403
    assert client.get("/v1/accounts/u1/violations", headers=reader).status_code == 200


def test_rules_catalogue_is_enforced_for_violations(app_factory, auth, tmp_path):
    catalogue = tmp_path / "rules.json"
    catalogue.write_text(
        json.dumps(
            {
                "rules": [
                    {"code": "R4", "title": "spam", "actions": ["violation"]},
                    {"code": "R5", "title": "tiers only", "actions": ["tier"]},
                ]
            }
        )
    )
    app = app_factory(rules_file=str(catalogue))
    client = app.test_client()
    h = auth("accounts:write", app=app)
    client.post("/v1/accounts", json={"id": "u1", "username": "x"}, headers=h)
    assert violate(client, h, "minor", rule="R4").status_code == 201
    refused = violate(client, h, "minor", rule="R5")
    assert refused.status_code == 422 and "rule" in refused.json["errors"]["json"]
    assert violate(client, h, "minor", rule="R77").status_code == 422


def test_credit_arithmetic():
    s = Settings(credit_recovery_points=5, credit_recovery_days=30)
    now = utcnow()
    assert recovered(50, now - timedelta(days=29), now, s) == (50, 0)
    assert recovered(50, now - timedelta(days=61), now, s) == (60, 2)
    assert recovered(98, now - timedelta(days=300), now, s)[0] == 100
    assert recovered(100, None, now, s) == (100, 0)
    assert (
        credit_tier(70, s) == "standard"
        and credit_tier(69, s) == "watch"
        and credit_tier(39, s) == "restricted"
    )
    assert tier_move("trusted", 65, s) == "watch"
    assert tier_move("watch", 90, s) == "standard"
    assert tier_move("trusted", 90, s) is None  # credit never promotes past the default
    assert tier_move("restricted", 50, s) == "watch"


@pytest.mark.postgres_only
def test_concurrent_violations_on_one_account_all_count(committing_app, auth):
    import threading

    h = auth("accounts:write", "accounts:read", app=committing_app)
    client = committing_app.test_client()
    assert client.post("/v1/accounts", json={"id": "c1", "username": "busy"}, headers=h).status_code == 201
    codes: list[int] = []

    def hit() -> None:
        for _ in range(2):
            codes.append(
                committing_app.test_client()
                .post("/v1/accounts/c1/violations", json={"rule": "R1", "severity": "minor"}, headers=h)
                .status_code
            )

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [201] * 16
    assert client.get("/v1/accounts/c1", headers=h).json["credit"] == 100 - 16 * 5
    assert len(client.get("/v1/accounts/c1/violations", headers=h).json["items"]) == 16
