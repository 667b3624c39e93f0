"""Purge crypto-shreds the account's audit fields and strips names from its checks and reviews."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from test_sweep_api import make, sweep

from registry.accounts.models import Account
from registry.audit.models import AuditEntry, AuditSubjectKey
from registry.check.models import CheckRecord
from registry.check.service import record_check
from registry.extensions import db
from registry.reviews.models import Review


@pytest.fixture
def headers(auth):
    return auth("accounts:read", "accounts:write", "sweeps:run", name="nightly")


def test_purge_shreds_audit_fields_and_names_of_checks_and_reviews(
    app,
    client,
    headers,
    auth,
    runner,
):
    make(client, headers, "p1", username="zhang_san_88", display_name="张三丰", phone="+86 138 0013 8000")
    make(client, headers, "keep", registered=159, username="still_here", display_name="李四")
    with app.app_context():
        check_id = record_check(
            "review",
            [{"code": "similar_to_banned_name", "field": "username"}],
            username="zhang_san_88",
            display_name="张三丰",
            masked={"phone": "+86 138****8000"},
            actor="test",
        )
        db.session.flush()
        review = db.session.scalar(sa.select(Review).where(Review.check_id == check_id))
        review.account_id = "p1"
        db.session.get(Account, "p1").check_id = check_id
        db.session.commit()
        # Sealed from the start: the names never lie in the audit table in clear.
        raw = " ".join(
            json.dumps(d, ensure_ascii=False) for d in db.session.scalars(sa.select(AuditEntry.data))
        )
        assert "张三丰" not in raw and "zhang_san_88" not in raw and "8000" not in raw
    reader = auth("audit:read", name="inspector")
    before = client.get("/v1/audit?subject=account:p1&action=account.create", headers=reader).json["items"][0]
    assert before["data"]["username"] == "zhang_san_88" and before["data"]["display_name"] == "张三丰"
    assert before["erased"] == []
    for at in (40, 70, 160):
        sweep(client, headers, at)
    with app.app_context():
        assert db.session.get(Account, "p1").status == "purged"
        keys = db.session.scalars(
            sa.select(AuditSubjectKey).where(AuditSubjectKey.subject == "account:p1")
        ).all()
        assert keys and all(k.wrapped is None and k.erased_at is not None for k in keys)
        check = db.session.get(CheckRecord, check_id)
        assert (check.username, check.display_name, check.masked) == (None, None, {})
        review = db.session.scalar(sa.select(Review).where(Review.check_id == check_id))
        assert (review.username, review.display_name) == (None, None)
    after = client.get("/v1/audit?subject=account:p1&action=account.create", headers=reader).json["items"][0]
    assert after["data"]["username"] is None and after["data"]["display_name"] is None
    assert after["data"]["identifiers"] is None
    assert sorted(after["erased"]) == ["display_name", "identifiers", "username"]
    # Another account's entry still opens.
    other = client.get("/v1/audit?subject=account:keep&action=account.create", headers=reader).json["items"][
        0
    ]
    assert other["data"]["display_name"] == "李四" and other["erased"] == []
    # The trail still verifies; the export shows the marker, not the data.
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    exported = runner.invoke(args=["audit", "export"]).stdout
    assert "张三丰" not in exported and "zhang_san_88" not in exported and "李四" in exported


def test_purge_erases_the_statements_of_the_accounts_appeals(app, client, headers, auth):
    """An appeal's statement is the user's own free text: purged with the account, the decision kept."""
    make(client, headers, "a1", username="appealing_user")
    make(client, headers, "a2", registered=159, username="other_user")
    staff = auth("accounts:read", "accounts:write", name="moderator")
    statements = {}
    for account_id in ("a1", "a2"):
        violation = client.post(
            f"/v1/accounts/{account_id}/violations", json={"rule": "R4", "severity": "minor"}, headers=staff
        )
        assert violation.status_code == 201, violation.json
        body = {
            "account_id": account_id,
            "violation_id": violation.json["id"],
            "statement": f"我是{account_id}，电话 13800138000，我没有违规。",
        }
        filed = client.post("/v1/appeals", json=body, headers=headers)
        assert filed.status_code == 201, filed.json
        statements[account_id] = filed.json["id"]
    for at in (40, 70, 160):
        sweep(client, headers, at)
    reader = auth("bans:read", name="reader")
    with app.app_context():
        assert db.session.get(Account, "a1").status == "purged"
    purged = client.get(f"/v1/appeals/{statements['a1']}", headers=reader)
    assert purged.status_code == 200 and purged.json["statement"] == ""
    kept = client.get(f"/v1/appeals/{statements['a2']}", headers=reader)
    assert "13800138000" in kept.json["statement"]
