"""Appeals (申诉) over HTTP on the real database: filing, the window, the queues, deciding."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.appeals.models import Appeal
from registry.audit.models import AuditEntry
from registry.bans.models import Ban
from registry.credit.models import Violation
from registry.events.models import OutboxEvent
from registry.extensions import db
from registry.settings import ConfigError, Settings

PHONE = "+86 138 0013 8000"


@pytest.fixture
def app(app_factory):
    # Sync on every check, so a lift counts at once in these tests as it would within the interval.
    return app_factory(ban_sync_seconds=0)


@pytest.fixture
def platform(auth):
    """The platform's key, filing appeals for its users."""
    return auth("accounts:read", "accounts:write", "check", name="platform")


@pytest.fixture
def moderator(auth):
    """Staff who ban and record violations."""
    return auth("bans:read", "bans:write", "accounts:read", "accounts:write", name="moderator")


@pytest.fixture
def reviewer(auth):
    """Other staff, who decide appeals."""
    return auth("bans:read", "bans:write", "accounts:read", "audit:read", name="reviewer")


@pytest.fixture
def account(client, platform):
    response = client.post("/v1/accounts", json={"id": "u1", "username": "someone"}, headers=platform)
    assert response.status_code == 201, response.json
    return "u1"


def make_ban(client, headers, account_id="u1", **body):
    body = {"reason": "spam ring", "rule": "R3.2", "account_id": account_id, **body}
    response = client.post("/v1/bans", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["id"]


def make_violation(client, headers, severity="severe", account_id="u1"):
    body = {"rule": "R4", "severity": severity}
    response = client.post(f"/v1/accounts/{account_id}/violations", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def file(client, headers, account_id="u1", **body):
    body = {"account_id": account_id, "statement": "I did not do it.", **body}
    return client.post("/v1/appeals", json=body, headers=headers)


def decide(client, headers, appeal_id, **body):
    body.setdefault("outcome", "granted")
    return client.post(f"/v1/appeals/{appeal_id}/decide", json=body, headers=headers)


def backdate(app, model, row_id, column, **delta):
    with app.app_context():
        row = db.session.get(model, row_id)
        setattr(row, column, getattr(row, column) - timedelta(**delta))
        db.session.commit()


def actions(app, subject):
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEntry.action).where(AuditEntry.subject == subject).order_by(AuditEntry.seq)
            )
        )


def test_an_appeal_is_filed_read_and_audited(app, client, platform, moderator, reviewer, account):
    ban_id = make_ban(client, moderator)
    response = file(client, platform, ban_id=ban_id)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["id"].startswith("apl_") and body["status"] == "open" and body["ban_id"] == ban_id
    assert (
        body["violation_id"] is None
        and body["decision_by"] == "moderator"
        and body["opened_by"] == "platform"
    )
    assert body["outcome"] is None and body["due_at"].endswith("+00:00")
    assert client.get(f"/v1/appeals/{body['id']}", headers=reviewer).json == body
    assert actions(app, f"appeal:{body['id']}") == ["appeal.open"]
    assert client.get("/v1/appeals/apl_nothing", headers=reviewer).status_code == 404
    # Scopes: the platform files, staff read and decide.
    assert client.get("/v1/appeals", headers=platform).status_code == 403
    assert decide(client, platform, body["id"]).status_code == 403
    assert file(client, reviewer, ban_id=ban_id).status_code == 403


def test_filing_errors_name_the_field(client, platform, moderator, account):
    ban_id = make_ban(client, moderator)
    violation = make_violation(client, moderator)
    both = file(client, platform, ban_id=ban_id, violation_id=violation["id"])
    assert both.status_code == 422 and set(both.json["errors"]["json"]) == {"ban_id", "violation_id"}
    neither = file(client, platform)
    assert neither.status_code == 422 and "ban_id" in neither.json["errors"]["json"]
    empty = file(client, platform, ban_id=ban_id, statement="")
    assert empty.status_code == 422 and "statement" in empty.json["errors"]["json"]
    assert file(client, platform, account_id="nobody", ban_id=ban_id).status_code == 404
    unknown = file(client, platform, ban_id="ban_nothing")
    assert unknown.status_code == 422 and "ban_id" in unknown.json["errors"]["json"]
    client.post("/v1/accounts", json={"id": "u2", "username": "other"}, headers=platform)
    other = file(client, platform, account_id="u2", ban_id=ban_id)
    assert other.status_code == 422 and "ban_id" in other.json["errors"]["json"]
    wrong = file(client, platform, account_id="u2", violation_id=violation["id"])
    assert wrong.status_code == 422 and "violation_id" in wrong.json["errors"]["json"]


def test_the_window_closes_after_the_configured_days(app, client, platform, moderator, account):
    inside = make_ban(client, moderator)
    backdate(app, Ban, inside, "created_at", days=30, minutes=-1)
    assert file(client, platform, ban_id=inside).status_code == 201
    violation = make_violation(client, moderator)["id"]
    backdate(app, Violation, violation, "at", days=30, minutes=1)
    late = file(client, platform, violation_id=violation)
    assert late.status_code == 409 and "window" in late.json["message"]


def test_the_window_follows_the_setting(app_factory, auth):
    app = app_factory(appeal_window_days=2)
    client = app.test_client()
    platform = auth("accounts:write", app=app)
    moderator = auth("bans:write", "accounts:write", name="moderator", app=app)
    client.post("/v1/accounts", json={"id": "u1", "username": "someone"}, headers=platform)
    ban_id = make_ban(client, moderator)
    backdate(app, Ban, ban_id, "created_at", days=2, minutes=1)
    assert file(client, platform, ban_id=ban_id).status_code == 409


def test_a_decision_is_appealed_once(client, platform, moderator, reviewer, account):
    ban_id = make_ban(client, moderator)
    first = file(client, platform, ban_id=ban_id).json["id"]
    again = file(client, platform, ban_id=ban_id)
    assert again.status_code == 409 and first in again.json["message"]
    assert decide(client, reviewer, first, outcome="denied", note="evidence holds").status_code == 200
    assert file(client, platform, ban_id=ban_id).status_code == 409
    violation = make_violation(client, moderator)["id"]
    assert file(client, platform, violation_id=violation).status_code == 201
    assert file(client, platform, violation_id=violation).status_code == 409


def test_a_lifted_ban_has_nothing_to_appeal(client, platform, moderator, account):
    ban_id = make_ban(client, moderator)
    client.post(f"/v1/bans/{ban_id}/lift", json={"reason": "mistake"}, headers=moderator)
    assert file(client, platform, ban_id=ban_id).status_code == 409


def test_queues_open_overdue_decided_oldest_first_and_paged(
    app, client, platform, moderator, reviewer, account
):
    ids = []
    for _ in range(3):
        violation = make_violation(client, moderator, severity="minor")["id"]
        ids.append(file(client, platform, violation_id=violation).json["id"])
    backdate(app, Appeal, ids[0], "opened_at", days=15, minutes=1)
    backdate(app, Appeal, ids[1], "opened_at", days=15, minutes=-1)
    assert decide(client, reviewer, ids[2], outcome="denied").status_code == 200

    def listed(query):
        response = client.get(f"/v1/appeals{query}", headers=reviewer)
        assert response.status_code == 200, response.json
        return response.json

    assert [a["id"] for a in listed("?status=overdue")["items"]] == [ids[0]]
    assert listed("?status=overdue")["items"][0]["status"] == "overdue"
    assert [a["id"] for a in listed("?status=open")["items"]] == [ids[1]]
    assert [a["id"] for a in listed("?status=decided")["items"]] == [ids[2]]
    assert listed("?status=decided")["items"][0]["outcome"] == "denied"
    page = listed("?limit=2")
    assert [a["id"] for a in page["items"]] == ids[:2] and page["next"]
    rest = listed(f"?limit=2&cursor={page['next']}")
    assert [a["id"] for a in rest["items"]] == ids[2:] and rest["next"] is None
    assert listed("?account_id=u9")["items"] == []
    bad = client.get("/v1/appeals?status=pending", headers=reviewer)
    assert bad.status_code == 422 and "status" in bad.json["errors"]["query"]
    assert client.get("/v1/appeals?cursor=nonsense", headers=reviewer).status_code == 422


def test_who_decided_cannot_decide_the_appeal_unless_an_admin_forces(
    app, client, auth, platform, moderator, account
):
    violation = make_violation(client, moderator)["id"]
    appeal_id = file(client, platform, violation_id=violation).json["id"]
    refused = decide(client, moderator, appeal_id)
    assert refused.status_code == 409 and "moderator" in refused.json["message"]
    assert decide(client, moderator, appeal_id, force=True).status_code == 409
    boss = auth("admin", name="boss")
    ban_id = make_ban(client, boss)
    ban_appeal = file(client, platform, ban_id=ban_id).json["id"]
    assert decide(client, boss, ban_appeal).status_code == 409
    forced = decide(client, boss, ban_appeal, outcome="denied", force=True)
    assert forced.status_code == 200 and forced.json["forced"] is True and forced.json["decided_by"] == "boss"
    assert decide(client, boss, ban_appeal, outcome="denied", force=True).status_code == 409
    with app.app_context():
        entry = db.session.scalar(
            sa.select(AuditEntry).where(
                AuditEntry.subject == f"appeal:{ban_appeal}", AuditEntry.action == "appeal.decide"
            )
        )
        assert entry.actor == "boss"
    assert decide(client, boss, "apl_nothing", outcome="denied").status_code == 404
    bad = decide(client, boss, appeal_id, outcome="maybe")
    assert bad.status_code == 422 and "outcome" in bad.json["errors"]["json"]


def test_granting_lifts_the_ban_so_the_check_allows_again(app, client, platform, moderator, reviewer):
    client.post("/v1/accounts", json={"id": "u1", "username": "someone", "phone": PHONE}, headers=platform)
    ban_id = make_ban(client, moderator, identifiers={"phone": [PHONE]})
    check = {"username": "new_person", "phone": PHONE}
    assert client.post("/v1/check", json=check, headers=platform).json["decision"] == "deny"
    assert client.get("/v1/accounts/u1", headers=platform).json["status"] == "banned"
    appeal_id = file(client, platform, ban_id=ban_id).json["id"]
    granted = decide(client, reviewer, appeal_id, note="wrong person")
    assert granted.status_code == 200, granted.json
    assert granted.json["status"] == "decided" and granted.json["outcome"] == "granted"
    assert granted.json["ban_status"] == "lifted"
    assert client.post("/v1/check", json=check, headers=platform).json["decision"] == "allow"
    assert client.get("/v1/accounts/u1", headers=platform).json["status"] == "active"
    ban = client.get(f"/v1/bans/{ban_id}", headers=reviewer).json
    assert ban["status"] == "lifted" and appeal_id in ban["lift_reason"]
    assert actions(app, f"ban:{ban_id}") == ["ban.create", "ban.lift"]
    assert actions(app, f"appeal:{appeal_id}") == ["appeal.open", "appeal.decide"]


def test_denying_keeps_the_ban(client, platform, moderator, reviewer, account):
    ban_id = make_ban(client, moderator)
    appeal_id = file(client, platform, ban_id=ban_id).json["id"]
    denied = decide(client, reviewer, appeal_id, outcome="denied")
    assert denied.status_code == 200 and denied.json["outcome"] == "denied"
    assert client.get(f"/v1/bans/{ban_id}", headers=reviewer).json["status"] == "active"


def test_granting_voids_the_violation_and_restores_credit_and_tier(
    app, client, platform, moderator, reviewer, account
):
    make_violation(client, moderator, severity="moderate")  # 100 -> 85
    severe = make_violation(client, moderator, severity="severe")  # 85 -> 45: watch
    assert severe["credit"] == 45 and severe["tier"] == "watch"
    appeal_id = file(client, platform, violation_id=severe["id"]).json["id"]
    granted = decide(client, reviewer, appeal_id, note="misread")
    assert granted.status_code == 200, granted.json
    assert granted.json["credit"] == 85 and granted.json["tier"] == "standard"
    assert granted.json["tier_changed_to"] == "standard"
    document = client.get("/v1/accounts/u1", headers=platform).json
    assert document["credit"] == 85 and document["tier"] == "standard"
    listed = client.get("/v1/accounts/u1/violations", headers=platform).json["items"]
    voided = {v["id"]: v["voided_at"] for v in listed}
    assert voided[severe["id"]] is not None and list(voided.values()).count(None) == 1
    assert actions(app, "account:u1")[-2:] == ["violation.void", "tier.change"]
    assert file(client, platform, violation_id=severe["id"]).status_code == 409


def test_granting_a_ban_lifted_meanwhile_only_records_the_decision(
    app, client, platform, moderator, reviewer, account
):
    ban_id = make_ban(client, moderator)
    appeal_id = file(client, platform, ban_id=ban_id).json["id"]
    client.post(f"/v1/bans/{ban_id}/lift", json={"reason": "lifted by hand"}, headers=moderator)
    granted = decide(client, reviewer, appeal_id)
    assert granted.status_code == 200 and granted.json["ban_status"] == "lifted"
    assert actions(app, f"ban:{ban_id}") == ["ban.create", "ban.lift"]


def test_a_purged_account_files_no_appeal(app, client, platform, moderator, account):
    ban_id = make_ban(client, moderator)
    with app.app_context():
        db.session.execute(sa.update(Account).where(Account.id == "u1").values(status="purged"))
        db.session.commit()
    assert file(client, platform, ban_id=ban_id).status_code == 409


def test_the_appeal_settings_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="REGISTRY_APPEAL_WINDOW_DAYS"):
        Settings.from_env(
            {"REGISTRY_APPEAL_WINDOW_DAYS": "-1", "REGISTRY_ENV": "testing"}, instance_path=tmp_path
        )


def test_filing_and_deciding_emit_appeal_events(app, client, platform, moderator, reviewer, account):
    ban_id = make_ban(client, moderator)
    appeal_id = file(client, platform, ban_id=ban_id).json["id"]
    decide(client, reviewer, appeal_id, outcome="denied", note="private reasoning")
    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboxEvent.type, OutboxEvent.data)
            .where(OutboxEvent.subject == f"appeal:{appeal_id}")
            .order_by(OutboxEvent.at, OutboxEvent.id)
        ).all()
    assert [r.type for r in rows] == ["appeal.opened", "appeal.decided"]
    assert rows[0].data == {"appeal_id": appeal_id, "account_id": "u1", "ban_id": ban_id}
    assert rows[1].data["outcome"] == "denied" and "note" not in rows[1].data


def test_an_account_covered_by_a_registrant_ban_appeals_it(app, client, platform, moderator, reviewer):
    for account_id in ("u1", "u2"):
        body = {"id": account_id, "username": f"someone_{account_id}", "phone": PHONE}
        assert client.post("/v1/accounts", json=body, headers=platform).status_code == 201
    ban_id = make_ban(client, moderator, registrant=True)
    assert client.get("/v1/accounts/u2", headers=platform).json["status"] == "banned"
    appeal = file(client, platform, account_id="u2", ban_id=ban_id)
    assert appeal.status_code == 201, appeal.json
    assert decide(client, reviewer, appeal.json["id"]).json["ban_status"] == "lifted"
    # Lifting the registrant ban lifts it for every account it covers.
    assert {client.get(f"/v1/accounts/{a}", headers=platform).json["status"] for a in ("u1", "u2")} == {
        "active"
    }
