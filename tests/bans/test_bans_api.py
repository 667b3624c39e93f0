"""Bans over HTTP and the import command, on the real database."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.audit.service import opened_entries
from registry.bans.models import Ban, BanIdentifier, BanName
from registry.extensions import db
from registry.index_changes import IndexChange
from registry.timeutil import utcnow

PHONE = "+86 138 0013 8000"
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def headers(auth):
    return auth("bans:read", "bans:write", "accounts:read", "accounts:write")


def ban(client, headers, **body):
    body.setdefault("reason", "spam ring")
    body.setdefault("rule", "R3.2")
    return client.post("/v1/bans", json=body, headers=headers)


def later(**delta):
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def test_create_read_list_and_lift_a_ban(app, client, headers):
    created = ban(
        client,
        headers,
        identifiers={
            "phone": [PHONE],
            "email": ["Zhang.San+x@gmail.com"],
            "ip": ["203.0.113.7", "198.51.100.0/24"],
        },
        names=["zhangsan_88", "张三"],
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert body["status"] == "active" and body["rule"] == "R3.2"
    assert body["identifiers"]["phone"] == ["+86 138****8000"]
    assert body["identifiers"]["ip_range"] == ["198.51.100.*/24"]
    assert body["identifiers"]["ip"] == ["203.0.113.*"]
    assert sorted(body["names"]) == ["zhangsan_88", "张三"]
    assert client.get(f"/v1/bans/{body['id']}", headers=headers).json == body

    listed = client.get("/v1/bans?status=active&rule=R3.2", headers=headers).json
    assert [b["id"] for b in listed["items"]] == [body["id"]]

    assert client.post(f"/v1/bans/{body['id']}/lift", json={}, headers=headers).status_code == 422
    lifted = client.post(f"/v1/bans/{body['id']}/lift", json={"reason": "appeal upheld"}, headers=headers)
    assert lifted.status_code == 200
    assert lifted.json["status"] == "lifted" and lifted.json["lift_reason"] == "appeal upheld"
    again = client.post(f"/v1/bans/{body['id']}/lift", json={"reason": "twice"}, headers=headers)
    assert again.status_code == 409
    assert client.get("/v1/bans?status=active", headers=headers).json["items"] == []
    assert [b["id"] for b in client.get("/v1/bans?status=lifted", headers=headers).json["items"]] == [
        body["id"]
    ]
    with app.app_context():
        ops = db.session.scalars(
            sa.select(IndexChange.kind).where(IndexChange.subject == body["id"]).order_by(IndexChange.id)
        ).all()
        actions = db.session.scalars(
            sa.select(AuditEntry.action)
            .where(AuditEntry.subject == f"ban:{body['id']}")
            .order_by(AuditEntry.seq)
        ).all()
    assert ops == ["create", "lift"]
    assert actions == ["ban.create", "ban.lift"]


def test_expired_status_is_derived(app, client, headers):
    created = ban(client, headers, names=["soon_gone"], expires_at=later(hours=1)).json
    with app.app_context():
        db.session.execute(
            sa.update(Ban).where(Ban.id == created["id"]).values(expires_at=datetime(2000, 1, 1))
        )
        db.session.commit()
    assert client.get(f"/v1/bans/{created['id']}", headers=headers).json["status"] == "expired"
    assert [b["id"] for b in client.get("/v1/bans?status=expired", headers=headers).json["items"]] == [
        created["id"]
    ]
    assert (
        client.post(f"/v1/bans/{created['id']}/lift", json={"reason": "x"}, headers=headers).status_code
        == 409
    )


def test_ban_by_account_captures_it_and_lift_restores_it(app, client, headers):
    account = client.post(
        "/v1/accounts",
        json={
            "id": "u1",
            "username": "bad_actor",
            "display_name": "坏人",
            "phone": PHONE,
            "device_id": "DEV-123456789",
        },
        headers=headers,
    )
    assert account.status_code == 201
    first = ban(client, headers, account_id="u1").json
    assert sorted(first["names"]) == ["bad_actor", "坏人"]
    assert set(first["identifiers"]) == {"phone", "device_id"}
    assert client.get("/v1/accounts/u1", headers=headers).json["status"] == "banned"
    second = ban(client, headers, account_id="u1", rule="R9").json
    client.post(f"/v1/bans/{first['id']}/lift", json={"reason": "one of two"}, headers=headers)
    assert client.get("/v1/accounts/u1", headers=headers).json["status"] == "banned"
    client.post(f"/v1/bans/{second['id']}/lift", json={"reason": "both gone"}, headers=headers)
    assert client.get("/v1/accounts/u1", headers=headers).json["status"] == "active"
    with app.app_context():
        statuses = db.session.scalars(
            sa.select(AuditEntry.data)
            .where(AuditEntry.action == "account.status", AuditEntry.subject == "account:u1")
            .order_by(AuditEntry.seq)
        ).all()
    assert [(d["from"], d["to"]) for d in statuses] == [("active", "banned"), ("banned", "active")]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"identifiers": {"phone": ["12345"]}}, ("identifiers", "phone", "0")),
        ({"identifiers": {"email": ["a@b.com", "nope"]}}, ("identifiers", "email", "1")),
        ({"identifiers": {"ip": ["0.0.0.0/0"]}}, ("identifiers", "ip", "0")),
        ({"identifiers": {"phone": "13800138000"}}, ("identifiers", "phone")),
        ({"names": ["x"], "expires_at": "2001-01-01T00:00:00Z"}, ("expires_at",)),
        ({"names": ["x"], "expires_at": "2101-01-01T00:00:00"}, ("expires_at",)),
        ({"account_id": "nobody"}, ("account_id",)),
        ({}, ("account_id",)),
        ({"names": ["x"], "rule": None}, ("rule",)),
        ({"names": [["x"]]}, ("names",)),
    ],
)
def test_bad_bans_are_422_naming_the_field(client, headers, body, path):
    response = ban(client, headers, **body)
    assert response.status_code == 422, response.json
    node = response.json["errors"]["json"]
    for part in path:
        node = node[part]
    assert node


def test_scopes(client, auth):
    reader = auth("bans:read")
    assert ban(client, reader, names=["x"]).status_code == 403
    assert client.post("/v1/bans", json={}).status_code == 401
    assert client.get("/v1/bans/nope", headers=reader).status_code == 404


def test_list_pages_with_a_cursor(client, headers):
    ids = [ban(client, headers, names=[f"name{i}"], rule="P").json["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        url = "/v1/bans?rule=P&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers).json
        seen += [b["id"] for b in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == ids
    assert client.get("/v1/bans?cursor=garbage", headers=headers).status_code == 422


def test_no_raw_identifiers_in_bans_audit_or_logs(app, client, headers, caplog):
    caplog.set_level(logging.DEBUG)
    ban(
        client,
        headers,
        identifiers={"phone": [PHONE], "id_number": [ID_NUMBER], "email": ["someone@example.com"]},
    )
    ban(client, headers, identifiers={"phone": ["13800138001x"]})
    with app.app_context():
        stored = json.dumps(
            [
                list(r)
                for r in db.session.execute(
                    sa.select(BanIdentifier.value_hash, BanIdentifier.value, BanIdentifier.mask)
                )
            ]
        )
        trail = json.dumps([e.data for e in db.session.scalars(sa.select(AuditEntry))], ensure_ascii=False)
    for raw in ("13800138000", "138 0013", "someone@example.com", ID_NUMBER, "19491231", "13800138001"):
        assert raw not in stored and raw not in trail and raw not in caplog.text


def write_lines(tmp_path, lines):
    path = tmp_path / "bans.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_keeps_good_lines_reports_bad_ones_and_is_idempotent(app, runner, client, headers, tmp_path):
    client.post(
        "/v1/accounts",
        json={"id": "acc1", "username": "imported_bad", "phone": "13900139000"},
        headers=headers,
    )
    lines = [
        json.dumps(
            {"identifiers": {"phone": ["13800138000"]}, "names": ["张三"], "reason": "r", "rule": "R1"}
        ),
        "{broken json",
        json.dumps({"identifiers": {"phone": ["12"]}, "reason": "r", "rule": "R1"}),
        "",
        json.dumps({"names": ["someone"], "reason": "r"}),
        json.dumps({"account_id": "acc1", "reason": "r", "rule": "R2"}),
        json.dumps({"account_id": "ghost", "reason": "r", "rule": "R2"}),
        json.dumps(
            {"identifiers": {"phone": ["138 0013 8000"]}, "names": ["张三"], "reason": "r", "rule": "R1"}
        ),
        json.dumps(
            {"identifiers": {"ip": ["10.1.0.0/16"]}, "reason": "r", "rule": "R1", "expires_at": later(days=3)}
        ),
    ]
    path = write_lines(tmp_path, lines)
    result = runner.invoke(args=["bans", "import", str(path)])
    out = result.output
    assert result.exit_code == 1, out
    assert "line 2:" in out and "line 3:" in out and "identifiers: phone: 0:" in out
    assert "line 5:" in out and "rule" in out
    assert "line 7:" in out and "ghost" in out
    assert "line 1:" not in out and "line 6:" not in out
    assert "8 lines read, 3 created, 1 already present, 4 rejected" in out
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ban)) == 3
        assert db.session.get(Account, "acc1").status == "banned"
        captured = db.session.scalars(
            sa.select(BanName.name).join(Ban, Ban.id == BanName.ban_id).where(Ban.account_id == "acc1")
        ).all()
        assert captured == ["imported_bad"]
        # (The account leaving good standing adds a "counts" event: issue 9's name key counts.)
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).select_from(IndexChange).where(IndexChange.kind != "counts")
            )
            == 3
        )
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "ban.create")
            )
            == 3
        )
    again = runner.invoke(args=["bans", "import", str(path)])
    assert "0 created, 4 already present, 4 rejected" in again.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ban)) == 3


def test_import_of_good_file_exits_zero_and_reports_progress(runner, tmp_path):
    lines = [json.dumps({"names": [f"bulk_name_{i}"], "reason": "r", "rule": "R1"}) for i in range(25)]
    result = runner.invoke(args=["bans", "import", "--batch-size", "10", str(write_lines(tmp_path, lines))])
    assert result.exit_code == 0, result.output
    assert "25 lines read, 25 created, 0 already present, 0 rejected" in result.output
    assert "bans/s" in result.output


def test_import_of_a_missing_file_fails_clearly(runner):
    result = runner.invoke(args=["bans", "import", "/no/such/file.jsonl"])
    assert result.exit_code != 0 and "cannot read" in result.output


def test_import_rejects_a_line_with_a_nul_character_and_keeps_the_rest(app, runner, tmp_path):
    # PostgreSQL cannot store NUL: such a line must be rejected alone, not abort its batch.
    lines = [
        json.dumps({"names": ["good_one"], "reason": "spam", "rule": "R1"}),
        json.dumps({"names": ["bad\u0000name"], "reason": "spam", "rule": "R1"}),
        json.dumps({"names": ["good_two"], "reason": "spam\u0000", "rule": "R1"}),
        json.dumps({"names": ["good_three"], "reason": "spam", "rule": "R1"}),
    ]
    path = tmp_path / "bans.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["bans", "import", str(path)])
    assert "line 2: names.0: must not contain NUL" in result.output
    assert "line 3: reason: must not contain NUL" in result.output
    with app.app_context():
        names = set(db.session.scalars(sa.select(BanName.name)))
    assert names == {"good_one", "good_three"}


def test_bans_expire_returns_accounts_whose_bans_all_ended(app, runner, client, headers):
    for account_id in ("gone", "still", "forever"):
        client.post(
            "/v1/accounts", json={"id": account_id, "username": f"user_{account_id}"}, headers=headers
        )
    soon = "2100-01-01T00:00:00Z"
    for account_id, expires in (("gone", soon), ("still", soon), ("still", None), ("forever", None)):
        body = {"account_id": account_id, "reason": "spam", "rule": "R1", "expires_at": expires}
        assert client.post("/v1/bans", json=body, headers=headers).status_code == 201
    before = runner.invoke(args=["bans", "expire"])
    assert "returned 0 account(s)" in before.output
    # A dry run may look ahead; a real run "as of" the future would act early and is refused.
    dry = runner.invoke(args=["bans", "expire", "--dry-run", "--as-of", "2100-01-02T00:00:00+08:00"])
    assert "would return 1 account(s)" in dry.output
    ahead = runner.invoke(args=["bans", "expire", "--as-of", "2100-01-02T00:00:00+08:00"])
    assert ahead.exit_code == 2 and "future" in ahead.output
    with app.app_context():
        # Let the expiring bans run out (a ban cannot be created already expired).
        db.session.execute(
            sa.update(Ban).where(Ban.expires_at.is_not(None)).values(expires_at=utcnow() - timedelta(days=1))
        )
        db.session.commit()
    result = runner.invoke(args=["bans", "expire"])
    assert result.exit_code == 0 and "returned 1 account(s)" in result.output
    status = {
        a: client.get(f"/v1/accounts/{a}", headers=headers).json["status"]
        for a in ("gone", "still", "forever")
    }
    assert status == {"gone": "active", "still": "banned", "forever": "banned"}
    with app.app_context():
        entry = opened_entries(
            db.session.scalars(
                sa.select(AuditEntry).where(
                    AuditEntry.subject == "account:gone", AuditEntry.action == "account.status"
                )
            ).all()
        )[-1]
    assert entry.data == {"from": "banned", "to": "active", "reason": "bans expired"}
    assert "returned 0" in runner.invoke(args=["bans", "expire"]).output


def test_bans_expire_refuses_a_time_without_a_zone(runner):
    result = runner.invoke(args=["bans", "expire", "--as-of", "2100-01-02T00:00:00"])
    assert result.exit_code == 2 and "time zone" in result.output
