"""A name carrying a contact detail is stored, returned and audited with that detail masked."""

from __future__ import annotations

import json

import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.audit.service import opened_entries
from registry.check.models import CheckRecord
from registry.extensions import db
from registry.reviews.models import Review

RAW = ("13912340002", "13912340003", "13912340004", "13912340005")


def everything_stored(app) -> str:
    """Return every stored name, check, review and audit entry as one text to search."""
    with app.app_context():
        rows: list[object] = []
        for model in (Account, CheckRecord, Review):
            for row in db.session.scalars(sa.select(model)):
                rows.append({c.key: getattr(row, c.key) for c in model.__table__.columns})
        rows.extend(e.data for e in db.session.scalars(sa.select(AuditEntry)))
        return json.dumps(rows, ensure_ascii=False, default=str)


def test_accounts_checks_reviews_and_audit_keep_only_the_masked_form(app, client, auth):
    h = auth("admin")
    made = client.post(
        "/v1/accounts",
        json={"id": "m1", "username": "vx13912340002", "display_name": "加微信13912340003"},
        headers=h,
    )
    assert made.status_code == 201, made.json
    assert made.json["username"] == "vx139****0002"
    assert made.json["display_name"] == "加微信139****0003"
    assert {f["code"] for f in made.json["name_flags"]} == {"contact_in_name"}
    got = client.get("/v1/accounts/m1", headers=h).json
    assert (got["username"], got["display_name"]) == ("vx139****0002", "加微信139****0003")

    renamed = client.patch("/v1/accounts/m1", json={"display_name": "qq 13912340004"}, headers=h)
    assert renamed.status_code == 200, renamed.json
    assert renamed.json["display_name"] == "qq 139****0004"
    # The same name sent again is no change (compared as stored).
    again = client.patch("/v1/accounts/m1", json={"display_name": "qq 13912340004"}, headers=h)
    assert again.status_code == 200 and again.json["name_flags"] == []

    check = client.post("/v1/check", json={"username": "加V13912340005"}, headers=h)
    assert check.status_code == 200 and check.json["decision"] == "review", check.json

    stored = everything_stored(app)
    assert "139****0002" in stored and "139****0005" in stored
    for raw in RAW:
        assert raw not in stored
    with app.app_context():
        record = db.session.get(CheckRecord, check.json["check_id"])
        review = db.session.scalar(sa.select(Review).where(Review.check_id == check.json["check_id"]))
        assert record.username == review.username == "加V139****0005"
        (rename,) = opened_entries(
            db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "account.rename"))
        )
        assert rename.data["new"] == {"display_name": "qq 139****0004"}


def test_account_import_stores_masked_names(app, runner, tmp_path):
    lines = tmp_path / "accounts.jsonl"
    lines.write_text(json.dumps({"id": "i1", "username": "wx13912340002"}) + "\n", encoding="utf-8")
    result = runner.invoke(args=["accounts", "import", str(lines)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.get(Account, "i1").username == "wx139****0002"
    assert "13912340002" not in everything_stored(app)
