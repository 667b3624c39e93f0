"""POST /v1/activity: last activity per account, unknown accounts, limits, reactivation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.extensions import db
from registry.timeutil import to_aware, utcnow


def iso(value):
    return to_aware(value).isoformat()


@pytest.fixture
def headers(auth):
    return auth("accounts:read", "accounts:write", name="feed")


def make(client, headers, account_id, **extra):
    response = client.post(
        "/v1/accounts", json={"id": account_id, "username": f"user_{account_id}", **extra}, headers=headers
    )
    assert response.status_code == 201, response.json


def send(client, headers, *events):
    return client.post("/v1/activity", json={"events": [dict(e) for e in events]}, headers=headers)


def ev(account_id, at, kind="login"):
    return {"account_id": account_id, "kind": kind, "at": iso(at)}


def test_keeps_the_latest_time_and_reports_unknown_accounts(app, client, headers):
    make(client, headers, "u1")
    make(client, headers, "u2")
    now = utcnow().replace(microsecond=0)
    early, late = now - timedelta(days=3), now - timedelta(days=1)
    response = send(
        client,
        headers,
        ev("u1", early),
        ev("u1", late),
        ev("ghost", late),
        ev("u2", early),
        ev("nobody", now),
    )
    assert response.status_code == 202, response.json
    assert response.json["accepted"] == 3
    assert response.json["unknown_accounts"] == ["ghost", "nobody"]
    # An older event arriving later never moves the time back.
    assert send(client, headers, ev("u1", early - timedelta(days=10))).status_code == 202
    assert client.get("/v1/accounts/u1", headers=headers).json["last_active_at"] == iso(late)
    assert client.get("/v1/accounts/u2", headers=headers).json["last_active_at"] == iso(early)
    # A newer one does.
    assert send(client, headers, ev("u2", now)).status_code == 202
    assert client.get("/v1/accounts/u2", headers=headers).json["last_active_at"] == iso(now)


def test_empty_batch_is_accepted(client, headers):
    response = send(client, headers)
    assert response.status_code == 202
    assert response.json == {"accepted": 0, "unknown_accounts": [], "reactivated": []}


def test_more_than_1000_events_is_422_naming_events(client, headers):
    now = utcnow()
    response = send(client, headers, *[ev(f"u{i}", now) for i in range(1001)])
    assert response.status_code == 422
    assert "events" in response.json["errors"]["json"]


def test_exactly_1000_events_is_fine(client, headers):
    make(client, headers, "u1")
    now = utcnow() - timedelta(minutes=1)
    response = send(
        client, headers, *[ev("u1" if i % 2 else f"x{i}", now - timedelta(seconds=i)) for i in range(1000)]
    )
    assert response.status_code == 202
    assert response.json["accepted"] == 500
    assert len(response.json["unknown_accounts"]) == 500


def test_events_in_the_future_are_refused(client, headers):
    make(client, headers, "u1")
    now = utcnow()
    response = send(client, headers, ev("u1", now), ev("u1", now + timedelta(days=1)))
    assert response.status_code == 422
    assert response.json["errors"]["json"]["events"]["1"]["at"]
    assert client.get("/v1/accounts/u1", headers=headers).json["last_active_at"] is None
    # A little clock skew is tolerated.
    assert send(client, headers, ev("u1", now + timedelta(seconds=30))).status_code == 202


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"account_id": "u1", "at": "2024-01-01T00:00:00Z"}, "kind"),
        ({"account_id": "u1", "kind": "login"}, "at"),
        ({"kind": "login", "at": "2024-01-01T00:00:00Z"}, "account_id"),
        ({"account_id": "u1", "kind": "login", "at": "2024-01-01T00:00:00"}, "at"),
        ({"account_id": "u1", "kind": "login", "at": "soon"}, "at"),
        ({"account_id": 5, "kind": "login", "at": "2024-01-01T00:00:00Z"}, "account_id"),
    ],
)
def test_malformed_events_name_the_field(client, headers, event, field):
    response = client.post("/v1/activity", json={"events": [event]}, headers=headers)
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]["events"]["0"]


def test_body_without_events_or_wrong_type(client, headers):
    assert client.post("/v1/activity", json={}, headers=headers).status_code == 422
    response = client.post("/v1/activity", json={"events": "login"}, headers=headers)
    assert response.status_code == 422
    assert "events" in response.json["errors"]["json"]


def test_needs_accounts_write(client, auth):
    assert client.post("/v1/activity", json={"events": []}).status_code == 401
    response = client.post("/v1/activity", json={"events": []}, headers=auth("accounts:read"))
    assert response.status_code == 403


def test_activity_reactivates_dormant_and_suspended_but_not_banned_or_purged(app, client, headers):
    for account_id in ("d", "s", "b", "p", "a"):
        make(client, headers, account_id)
    with app.app_context():
        for account_id, status in (("d", "dormant"), ("s", "suspended"), ("b", "banned"), ("p", "purged")):
            db.session.execute(sa.update(Account).where(Account.id == account_id).values(status=status))
        db.session.commit()
    at = utcnow() - timedelta(minutes=5)
    response = send(client, headers, *[ev(i, at) for i in ("d", "s", "b", "p", "a")])
    assert response.status_code == 202
    assert sorted(response.json["reactivated"]) == ["d", "s"]
    statuses = {i: client.get(f"/v1/accounts/{i}", headers=headers).json["status"] for i in "dsbpa"}
    assert statuses == {"d": "active", "s": "active", "b": "banned", "p": "purged", "a": "active"}
    # A purged tombstone is left as it is.
    assert client.get("/v1/accounts/p", headers=headers).json["last_active_at"] is None
    with app.app_context():
        entries = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "account.reactivate")
        ).all()
    assert sorted((e.subject, e.data["from"], e.actor) for e in entries) == [
        ("account:d", "dormant", "feed"),
        ("account:s", "suspended", "feed"),
    ]
    # Activity on an account already active is no status change, so no audit entry.
    assert send(client, headers, ev("d", at)).json["reactivated"] == []
