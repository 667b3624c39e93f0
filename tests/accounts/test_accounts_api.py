"""Accounts over HTTP and the import command, on the real database."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.audit.service import opened_entries
from registry.extensions import db

PHONE = "+86 138 0013 8000"
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def headers(auth):
    return auth("accounts:read", "accounts:write")


def post(client, headers, **body):
    body.setdefault("username", "user_" + body.get("id", "x"))
    return client.post("/v1/accounts", json=body, headers=headers)


def test_create_and_read_an_account(client, headers):
    response = post(
        client,
        headers,
        id="u1",
        username="zhangsan_88",
        display_name="张三",
        phone=PHONE,
        email="Zhang.San+promo@Gmail.com",
        id_number=ID_NUMBER,
        device_id="D5A93145",
        ip="203.0.113.7",
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["id"] == "u1"
    assert body["status"] == "active"
    assert body["tier"] == "standard"
    assert body["credit"] == 100
    assert body["verification"]["status"] == "unverified"
    assert body["identifiers"]["phone"].startswith("+86 138") and "0013" not in body["identifiers"]["phone"]
    assert body["registered_at"].endswith("+00:00")
    fetched = client.get("/v1/accounts/u1", headers=headers)
    assert fetched.status_code == 200
    assert fetched.json == body


def test_raw_identifiers_are_never_stored(app, client, headers):
    post(client, headers, id="u1", phone=PHONE, email="someone@example.com", id_number=ID_NUMBER)
    with app.app_context():
        account = db.session.get(Account, "u1")
        stored = " ".join(str(getattr(account, c.key)) for c in Account.__table__.columns)
        entries = db.session.scalars(sa.select(AuditEntry)).all()
    trail = json.dumps([e.data for e in entries], ensure_ascii=False)
    for raw in ("13800138000", "someone@example.com", ID_NUMBER, "19491231"):
        assert raw not in stored
        assert raw not in trail
    assert account.phone_hash and len(account.phone_hash) == 64


def test_same_id_twice_is_409(client, headers):
    assert post(client, headers, id="u1").status_code == 201
    again = post(client, headers, id="u1")
    assert again.status_code == 409
    assert again.json["code"] == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "u1", "username": "a", "phone": "12345"}, "phone"),
        ({"id": "u1", "username": "a", "email": "not-an-email"}, "email"),
        ({"id": "u1", "username": "a", "id_number": "110105194912310021"}, "id_number"),
        ({"id": "u1", "username": "a", "ip": "999.1.1.1"}, "ip"),
        ({"id": "u1", "username": "a", "account_type": "alien"}, "account_type"),
        ({"id": "u1", "username": "a", "registered_at": "2020-01-01T00:00:00"}, "registered_at"),
        ({"id": "u1", "username": "a", "registered_at": "yesterday"}, "registered_at"),
        ({"id": "u1"}, "username"),
        ({"username": "a"}, "id"),
        ({"id": 12, "username": "a"}, "id"),
        ({"id": "u1", "username": ["a"]}, "username"),
        ({"id": "", "username": "a"}, "id"),
    ],
)
def test_bad_fields_are_422_naming_the_field(client, headers, body, field):
    response = client.post("/v1/accounts", json=body, headers=headers)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert response.json["message"]


@pytest.mark.parametrize("payload", ["{not json", "[1, 2", '"just a string"', "[]", "null", "12"])
def test_malformed_bodies_are_4xx_json(client, headers, payload):
    response = client.post(
        "/v1/accounts", data=payload, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert response.json["code"] == response.status_code


def test_registered_at_is_kept_for_accounts_older_than_the_registry(client, headers):
    response = post(client, headers, id="old", registered_at="2015-03-01T08:00:00+08:00")
    assert response.json["registered_at"] == "2015-03-01T00:00:00+00:00"


def test_unknown_account_is_404(client, headers):
    response = client.get("/v1/accounts/ghost", headers=headers)
    assert response.status_code == 404
    assert "ghost" in response.json["message"]


def test_list_filters_and_keyset_pagination(client, headers):
    for n in range(7):
        post(client, headers, id=f"u{n}", account_type="organization" if n % 2 else "personal")
    seen, cursor = [], None
    while True:
        url = "/v1/accounts?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers).json
        seen += [a["id"] for a in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [f"u{n}" for n in range(7)]
    orgs = client.get("/v1/accounts?account_type=organization", headers=headers).json["items"]
    assert [a["id"] for a in orgs] == ["u1", "u3", "u5"]
    assert client.get("/v1/accounts?tier=standard&status=active", headers=headers).json["items"]
    assert client.get("/v1/accounts?tier=watch", headers=headers).json["items"] == []


@pytest.mark.parametrize(
    "query", ["status=zombie", "limit=0", "limit=abc", "cursor=%%%", "cursor=eyJhIjoxfQ", "cursor=WzEsMl0"]
)
def test_bad_list_arguments_are_422(client, headers, query):
    response = client.get(f"/v1/accounts?{query}", headers=headers)
    assert response.status_code == 422, response.json


def test_account_creation_is_audited(app, client, headers):
    post(client, headers, id="u1", username="lisi", phone=PHONE)
    with app.app_context():
        (entry,) = opened_entries(
            db.session.scalars(sa.select(AuditEntry).where(AuditEntry.subject == "account:u1")).all()
        )
    assert entry.action == "account.create"
    assert entry.actor.startswith("test-")
    assert entry.data["identifiers"]["phone"].startswith("+86")


def test_import_keeps_good_lines_and_reports_bad_ones(app, runner, tmp_path, client, headers):
    post(client, headers, id="exists")
    lines = [
        json.dumps({"id": "a1", "username": "alice", "phone": "13800138000"}),
        "{broken json",
        json.dumps({"id": "a2", "username": "bob", "id_number": "110105194912310021"}),
        "",
        json.dumps({"id": "exists", "username": "again"}),
        json.dumps({"id": "a3", "username": "carol", "registered_at": "2019-01-01T00:00:00Z"}),
        json.dumps({"id": "a3", "username": "carol-twice"}),
        json.dumps(["not", "an", "object"]),
    ]
    path = tmp_path / "accounts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["accounts", "import", str(path)])
    assert result.exit_code == 1
    out = result.output
    assert "line 2:" in out and "line 3:" in out and "id_number" in out
    assert "line 5:" in out and "exists already" in out
    assert "line 7:" in out and "twice" in out
    assert "line 8:" in out
    assert "2 created" in out
    with app.app_context():
        ids = set(db.session.scalars(sa.select(Account.id)))
    assert ids == {"exists", "a1", "a3"}


def test_import_of_a_missing_file_fails_clearly(runner):
    result = runner.invoke(args=["accounts", "import", "/no/such/file.jsonl"])
    assert result.exit_code != 0
    assert "cannot read" in result.output


def test_import_rejects_a_line_with_a_nul_character(app, runner, tmp_path):
    path = tmp_path / "accounts.jsonl"
    path.write_text(
        json.dumps({"id": "n1", "username": "ok"})
        + "\n"
        + json.dumps({"id": "n2", "username": "a\u0000"})
        + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["accounts", "import", str(path)])
    assert "line 2: username: must not contain NUL" in result.output
    with app.app_context():
        assert set(db.session.scalars(sa.select(Account.id))) == {"n1"}
