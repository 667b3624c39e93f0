"""POST /v1/bans with "registrant": true bans every account of the registrant; lifting lifts them all."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.bans.models import BanAccount
from registry.extensions import db

PHONE = "+86 138 0013 8000"
ID_NUMBER = "11010519491231002X"
USCC = "91350100M000100Y43"


@pytest.fixture
def headers(auth):
    return auth("bans:read", "bans:write", "accounts:read", "accounts:write", "verification:write")


def post(client, headers, **body):
    body.setdefault("username", body["id"])
    response = client.post("/v1/accounts", json=body, headers=headers)
    assert response.status_code == 201, response.json


def ban(client, headers, **body):
    body.setdefault("reason", "spam ring")
    body.setdefault("rule", "R3.2")
    return client.post("/v1/bans", json=body, headers=headers)


def status(app, account_id):
    with app.app_context():
        return db.session.get(Account, account_id).status


def ring(client, headers):
    post(client, headers, id="main", phone=PHONE, id_number=ID_NUMBER)
    post(client, headers, id="same-id", id_number=ID_NUMBER)
    post(client, headers, id="same-phone", phone="+8613800138000")
    post(client, headers, id="stranger", phone="+86 139 0013 9000")


def test_a_registrant_ban_bans_every_account_of_the_registrant(app, client, headers):
    ring(client, headers)
    response = ban(client, headers, account_id="main", registrant=True)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["registrant"] is True and body["account_id"] == "main"
    assert body["accounts"] == [
        {"account_id": "main", "via": ["account"]},
        {"account_id": "same-id", "via": ["id_number"]},
        {"account_id": "same-phone", "via": ["phone"]},
    ]
    for account_id in ("main", "same-id", "same-phone"):
        assert status(app, account_id) == "banned"
    assert status(app, "stranger") == "active"
    with app.app_context():
        entries = db.session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.action == "account.status", AuditEntry.data["ban_id"].as_string() == body["id"]
            )
        ).all()
        assert sorted(e.subject for e in entries) == ["account:main", "account:same-id", "account:same-phone"]
    # A plain ban says it is not one on the registrant.
    plain = ban(client, headers, account_id="stranger").json
    assert plain["registrant"] is False and plain["accounts"] == []


def test_lifting_lifts_every_account_unless_another_ban_holds_it(app, client, headers):
    ring(client, headers)
    own = ban(client, headers, account_id="same-phone").json
    registrant = ban(client, headers, account_id="main", registrant=True).json
    lifted = client.post(
        f"/v1/bans/{registrant['id']}/lift", json={"reason": "appeal granted"}, headers=headers
    )
    assert lifted.status_code == 200, lifted.json
    assert status(app, "main") == "active" and status(app, "same-id") == "active"
    # Its own ban still holds it.
    assert status(app, "same-phone") == "banned"
    client.post(f"/v1/bans/{own['id']}/lift", json={"reason": "done"}, headers=headers)
    assert status(app, "same-phone") == "active"


def test_an_account_covered_by_a_registrant_ban_stays_banned_when_its_own_ban_is_lifted(app, client, headers):
    ring(client, headers)
    own = ban(client, headers, account_id="same-id").json
    ban(client, headers, account_id="main", registrant=True)
    client.post(f"/v1/bans/{own['id']}/lift", json={"reason": "mistake"}, headers=headers)
    assert status(app, "same-id") == "banned"


def test_organisations_verified_with_one_credit_code_are_one_registrant(app, client, headers):
    for account_id in ("org1", "org2"):
        post(client, headers, id=account_id, account_type="organization", display_name="人民日报")
        response = client.put(
            f"/v1/accounts/{account_id}/verification",
            json={"status": "verified", "method": "uscc", "entity": {"name": "人民日报社", "uscc": USCC}},
            headers=headers,
        )
        assert response.status_code == 200, response.json
    body = ban(client, headers, account_id="org1", registrant=True).json
    assert {"account_id": "org2", "via": ["uscc"]} in body["accounts"]
    assert status(app, "org2") == "banned"


def test_future_signups_with_the_identity_are_denied(client, headers, auth):
    ring(client, headers)
    ban(client, headers, account_id="main", registrant=True)
    check = client.post(
        "/v1/check", json={"username": "fresh_start", "id_number": ID_NUMBER}, headers=auth("check")
    )
    assert check.status_code == 200 and check.json["decision"] == "deny"


def test_errors_name_the_field(client, headers):
    response = ban(client, headers, registrant=True, names=["x"])
    assert response.status_code == 422 and "registrant" in response.json["errors"]["json"]
    response = ban(client, headers, account_id="nobody", registrant=True)
    assert response.status_code == 422 and "account_id" in response.json["errors"]["json"]


def test_a_ring_above_the_cap_is_409_and_bans_nothing(app_factory, auth):
    small = app_factory(registrant_max_accounts=2)
    c = small.test_client()
    h = auth("bans:write", "accounts:write", app=small)
    ring(c, h)
    response = ban(c, h, account_id="main", registrant=True)
    assert response.status_code == 409 and "registrant" in response.json["errors"]["json"]
    with small.app_context():
        assert db.session.get(Account, "main").status == "active"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(BanAccount)) == 0


def test_an_import_line_cannot_ban_a_registrant(runner, tmp_path, client, headers):
    ring(client, headers)
    path = tmp_path / "bans.jsonl"
    path.write_text('{"account_id": "main", "registrant": true, "reason": "x", "rule": "R1"}\n')
    result = runner.invoke(args=["bans", "import", str(path)])
    assert result.exit_code == 1
    assert "registrant" in result.output
