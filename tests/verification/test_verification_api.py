"""Real-name verification over HTTP and the expiry command, on the real database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.audit.service import opened_entries
from registry.extensions import db
from registry.index_changes import IndexChange
from registry.timeutil import utcnow
from registry.verification.service import TRANSITIONS, entity_name_agreement

ID_NUMBER = "11010519491231002X"
OTHER_ID = "440524188001010014"
BAD_ID = "110105194912310021"
USCC = "91350100M000100Y43"
BAD_USCC = "91350100M000100Y44"
STATUSES = ("unverified", "pending", "verified", "rejected", "revoked", "expired")


@pytest.fixture
def headers(auth):
    return auth("accounts:read", "accounts:write", "verification:write", name="kyc-staff")


def create(client, headers, account_id="u1", **body):
    body = {"id": account_id, "username": f"user_{account_id}", **body}
    response = client.post("/v1/accounts", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def verify(client, headers, account_id="u1", **body):
    return client.put(f"/v1/accounts/{account_id}/verification", json=body, headers=headers)


VERIFIED = {"status": "verified", "method": "id_card", "id_number": ID_NUMBER}


def drive_to(client, headers, account_id, status):
    """Bring a personal account from unverified to ``status`` through allowed transitions."""
    path = {
        "unverified": [],
        "pending": [{"status": "pending"}],
        "verified": [VERIFIED],
        "rejected": [{"status": "rejected", "reason": "blurry photo"}],
        "revoked": [VERIFIED, {"status": "revoked", "reason": "fraud"}],
        "expired": [VERIFIED, {"status": "expired"}],
    }[status]
    for body in path:
        response = verify(client, headers, account_id, **body)
        assert response.status_code == 200, (status, response.json)


def test_verify_with_id_card(app, client, headers):
    create(client, headers)
    response = verify(client, headers, **VERIFIED)
    assert response.status_code == 200, response.json
    v = response.json["verification"]
    assert v["status"] == "verified" and v["method"] == "id_card"
    assert v["verified_at"].endswith("+00:00") and v["expires_at"] is None
    assert response.json["identifiers"]["id_number"] != ID_NUMBER
    with app.app_context():
        (entry,) = opened_entries(
            db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "verification.change")).all()
        )
        assert entry.actor == "kyc-staff" and entry.subject == "account:u1"
        assert entry.data["from"] == "unverified" and entry.data["to"] == "verified"
        assert entry.data["id_number"] == response.json["identifiers"]["id_number"]


def test_lower_case_x_is_accepted_and_never_stored_raw(app, client, headers):
    create(client, headers)
    response = verify(client, headers, status="verified", method="id_card", id_number=ID_NUMBER.lower())
    assert response.status_code == 200, response.json
    with app.app_context():
        account = db.session.get(Account, "u1")
        stored = " ".join(str(getattr(account, c.key)) for c in Account.__table__.columns)
        trail = json.dumps([e.data for e in db.session.scalars(sa.select(AuditEntry))], ensure_ascii=False)
        # The same number given upper-case at signup hashes alike: lower-case x is the same person.
        from registry.pii import protect

        assert account.id_number_hash == protect("id_number", ID_NUMBER).digest
    for raw in (ID_NUMBER, ID_NUMBER.lower(), "19491231"):
        assert raw not in stored and raw not in trail


def test_bad_check_digit_is_422_and_nothing_stored(app, client, headers):
    create(client, headers)
    response = verify(client, headers, status="verified", method="id_card", id_number=BAD_ID)
    assert response.status_code == 422
    assert "GB 11643" in response.json["errors"]["json"]["id_number"][0]
    with app.app_context():
        account = db.session.get(Account, "u1")
        assert account.verification_status == "unverified" and account.id_number_hash is None
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "verification.change")
            )
            == 0
        )


def test_bad_check_digit_is_422_even_on_pending(client, headers):
    create(client, headers)
    response = verify(client, headers, status="pending", id_number=BAD_ID)
    assert response.status_code == 422 and "id_number" in response.json["errors"]["json"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "verified"}, "method"),
        ({"status": "verified", "method": "id_card"}, "id_number"),
        ({"status": "verified", "method": "phone"}, "method"),
        ({"status": "verified", "method": "uscc"}, "entity"),
        ({"status": "approved"}, "status"),
        ({"status": "verified", "method": "passport"}, "method"),
    ],
)
def test_missing_evidence_is_422(client, headers, body, field):
    create(client, headers)
    response = verify(client, headers, **body)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]


def test_phone_method_uses_the_phone_on_record(client, headers):
    create(client, headers, phone="+86 138 0013 8000")
    response = verify(client, headers, status="verified", method="phone")
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("start", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_transition_table(client, headers, start, target):
    create(client, headers)
    drive_to(client, headers, "u1", start)
    body = VERIFIED if target == "verified" else {"status": target, "reason": "staff decision"}
    response = verify(client, headers, **body)
    if target in TRANSITIONS[start]:
        assert response.status_code == 200, response.json
        assert response.json["verification"]["status"] == target
    else:
        assert response.status_code == 409, response.json
        assert start in response.json["message"]
        got = client.get("/v1/accounts/u1", headers=headers).json["verification"]["status"]
        assert got == start


def test_contract_transitions():
    # The contract's own rule, independent of the table's other choices.
    assert "pending" not in TRANSITIONS["verified"] and "rejected" not in TRANSITIONS["verified"]
    for back in ("revoked", "expired"):
        assert {"pending", "rejected"} <= TRANSITIONS[back]
    assert all("unverified" not in targets for targets in TRANSITIONS.values())


def test_every_transition_is_audited(app, client, headers):
    create(client, headers)
    for body in (
        {"status": "pending"},
        VERIFIED,
        {"status": "revoked", "reason": "fraud"},
        {"status": "pending"},
    ):
        assert verify(client, headers, **body).status_code == 200
    with app.app_context():
        steps = [
            (e.data["from"], e.data["to"])
            for e in db.session.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.action == "verification.change")
                .order_by(AuditEntry.seq)
            )
        ]
    assert steps == [
        ("unverified", "pending"),
        ("pending", "verified"),
        ("verified", "revoked"),
        ("revoked", "pending"),
    ]


def test_refresh_replaces_the_identity_number(app, client, headers):
    create(client, headers)
    verify(client, headers, **VERIFIED)
    response = verify(client, headers, status="verified", method="id_card", id_number=OTHER_ID)
    assert response.status_code == 200
    with app.app_context():
        from registry.pii import protect

        assert db.session.get(Account, "u1").id_number_hash == protect("id_number", OTHER_ID).digest


ORG = {"status": "verified", "method": "uscc", "entity": {"name": "人民日报社", "uscc": USCC}}


def test_organization_needs_entity(client, headers):
    create(client, headers, account_type="organization", display_name="人民日报")
    response = verify(client, headers, status="verified", method="id_card", id_number=ID_NUMBER)
    assert response.status_code == 422
    assert "entity" in response.json["errors"]["json"]


def test_organization_with_bad_uscc_is_422(app, client, headers):
    create(client, headers, account_type="public", display_name="人民日报")
    response = verify(client, headers, **{**ORG, "entity": {"name": "人民日报社", "uscc": BAD_USCC}})
    assert response.status_code == 422
    assert "GB 32100" in response.json["errors"]["json"]["entity"]["uscc"][0]
    with app.app_context():
        assert db.session.get(Account, "u1").entity_uscc is None


def test_organization_name_must_agree(client, headers):
    create(client, headers, account_type="organization", display_name="小红书生活")
    response = verify(client, headers, **ORG)
    assert response.status_code == 422
    message = response.json["errors"]["json"]["entity"]["name"][0]
    assert "entity name '人民日报社' does not match display name '小红书生活'" in message
    assert "< 80" in message


def test_organization_verified_protects_its_name(app, client, headers):
    create(client, headers, account_type="organization", display_name="人民日报")
    response = verify(client, headers, **{**ORG, "entity": {"name": "人民日报社", "uscc": USCC.lower()}})
    assert response.status_code == 200, response.json
    assert verify(client, headers, status="revoked", reason="licence withdrawn").status_code == 200
    with app.app_context():
        account = db.session.get(Account, "u1")
        assert account.entity_name == "人民日报社" and account.entity_uscc == USCC
        ops = db.session.scalars(
            sa.select(IndexChange.kind).where(IndexChange.subject == "u1").order_by(IndexChange.id)
        ).all()
    assert ops == ["protect", "unprotect"]


def test_personal_verification_protects_nothing(app, client, headers):
    create(client, headers)
    verify(client, headers, **VERIFIED)
    with app.app_context():
        # (Creating the account logged its name key counts, issue 9; nothing was protected.)
        ops = db.session.scalars(sa.select(IndexChange.kind)).all()
        assert set(ops) <= {"counts"}


@pytest.mark.parametrize(
    ("entity", "display", "agrees"),
    [
        ("人民日报社", "人民日报", True),
        ("北京小米科技有限责任公司", "小米科技", True),
        ("Acme Widgets Co., Ltd.", "ACME Widgets Official", True),
        ("腾讯科技(深圳)有限公司", "腾讯科技", True),
        ("人民日报社", "小红书生活", False),
        ("北京字节跳动科技有限公司", "快手官方", False),
    ],
)
def test_entity_name_agreement(app, entity, display, agrees):
    assert entity_name_agreement(entity, display).agrees is agrees


def test_scopes(client, auth, headers):
    create(client, headers)
    assert verify(client, auth("accounts:write"), **VERIFIED).status_code == 403
    assert verify(client, {}, **VERIFIED).status_code == 401
    assert verify(client, headers, account_id="ghost", **VERIFIED).status_code == 404


def test_rejection_needs_a_catalogue_rule_when_configured(app_factory, auth, tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(
        json.dumps(
            {
                "rules": [
                    {"code": "V1", "title": "KYC", "actions": ["verification"]},
                    {"code": "R2", "title": "Tiers", "actions": ["tier"]},
                ]
            }
        )
    )
    app = app_factory(rules_file=str(path))
    client = app.test_client()
    headers = auth(app=app)
    create(client, headers)
    assert verify(client, headers, status="rejected").status_code == 422
    assert verify(client, headers, status="rejected", rule="R2").status_code == 422
    assert verify(client, headers, status="rejected", rule="V1").status_code == 200


def test_expiry_and_command(app_factory, auth):
    app = app_factory(verification_ttl_days=365)
    client = app.test_client()
    headers = auth(app=app)
    create(client, headers, "p1")
    create(client, headers, "o1", account_type="organization", display_name="人民日报")
    create(client, headers, "p2")
    first = verify(client, headers, "p1", **VERIFIED)
    assert first.json["verification"]["expires_at"] is not None
    verify(client, headers, "o1", **ORG)
    runner = app.test_cli_runner()
    early = runner.invoke(args=["verification", "expire", "--as-of", "2000-01-01T00:00:00Z"])
    assert early.exit_code == 0, early.output
    assert "expired 0 verification(s)" in early.output
    dry = runner.invoke(args=["verification", "expire", "--dry-run", "--as-of", "2999-01-01T00:00:00+08:00"])
    assert "would expire 2 verification(s)" in dry.output
    assert client.get("/v1/accounts/p1", headers=headers).json["verification"]["status"] == "verified"
    ahead = runner.invoke(args=["verification", "expire", "--as-of", "2999-01-01T00:00:00+08:00"])
    assert ahead.exit_code == 2 and "future" in ahead.output
    with app.app_context():
        db.session.execute(
            sa.update(Account)
            .where(Account.verification_expires_at.is_not(None))
            .values(verification_expires_at=utcnow() - timedelta(days=1))
        )
        db.session.commit()
    result = runner.invoke(args=["verification", "expire"])
    assert result.exit_code == 0, result.output
    assert "expired 2 verification(s)" in result.output and "1 organisation/public" in result.output
    listing = client.get("/v1/accounts?verification=expired", headers=headers)
    assert [a["id"] for a in listing.json["items"]] == ["o1", "p1"]
    again = runner.invoke(args=["verification", "expire"])
    assert "expired 0 verification(s)" in again.output
    with app.app_context():
        entries = db.session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.action == "verification.change", AuditEntry.data["to"].as_string() == "expired"
            )
        ).all()
        ops = db.session.scalars(
            sa.select(IndexChange.kind).where(IndexChange.subject == "o1").order_by(IndexChange.id)
        ).all()
    assert sorted(e.subject for e in entries) == ["account:o1", "account:p1"]
    assert ops == ["protect", "unprotect"]
    # An expired account may verify again.
    assert verify(client, headers, "p1", **VERIFIED).status_code == 200


def test_expire_command_refuses_a_time_without_zone(runner):
    result = runner.invoke(args=["verification", "expire", "--as-of", "2024-01-01T00:00:00"])
    assert result.exit_code != 0 and "time zone" in result.output
