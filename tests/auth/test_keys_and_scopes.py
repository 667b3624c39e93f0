"""API keys through the CLI, bearer authentication and scopes through HTTP."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.audit.models import AuditEntry
from registry.auth.models import ApiKey
from registry.extensions import db


def create(runner, name="ops", *scopes):
    args = ["keys", "create", "--name", name]
    for scope in scopes or ("accounts:read",):
        args += ["--scope", scope]
    return runner.invoke(args=args)


def test_keys_create_prints_the_key_alone_on_the_last_line(app, runner, client):
    result = create(runner, "signup-flow", "check", "accounts:read")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("rk_") and " " not in secret
    response = client.get("/v1/accounts", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    with app.app_context():
        key = db.session.scalar(sa.select(ApiKey).where(ApiKey.name == "signup-flow"))
        assert key.key_hash != secret and secret not in key.key_hash
        assert key.scopes == "accounts:read check"
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.subject == "key:signup-flow"))
        assert entry.action == "key.create"
        assert secret not in str(entry.data)


def test_keys_list_and_revoke(app, runner, client):
    secret = create(runner, "temp").stdout.strip().splitlines()[-1]
    listing = runner.invoke(args=["keys", "list"])
    assert "temp" in listing.output and secret not in listing.output
    assert runner.invoke(args=["keys", "revoke", "--name", "temp"]).exit_code == 0
    response = client.get("/v1/accounts", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
    assert "revoked" in runner.invoke(args=["keys", "list"]).output


def test_duplicate_key_name_and_unknown_scope_are_refused(runner):
    assert create(runner, "dup").exit_code == 0
    again = create(runner, "dup")
    assert again.exit_code != 0 and "exists already" in again.output
    bad = runner.invoke(args=["keys", "create", "--name", "x", "--scope", "godmode"])
    assert bad.exit_code != 0 and "godmode" in bad.output


def test_revoking_an_unknown_key_fails_clearly(runner):
    result = runner.invoke(args=["keys", "revoke", "--name", "ghost"])
    assert result.exit_code != 0 and "no key named" in result.output


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Basic abc", "Bearer rk_not-a-real-key", "rk_no-scheme"],
)
def test_missing_or_unknown_key_is_401(client, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/v1/accounts", headers=headers)
    assert response.status_code == 401
    assert response.json["code"] == 401 and response.json["message"]


def test_key_without_scope_is_403_and_admin_has_all(client, auth):
    response = client.get("/v1/accounts", headers=auth("check"))
    assert response.status_code == 403
    assert "accounts:read" in response.json["message"]
    assert client.get("/v1/accounts", headers=auth("admin")).status_code == 200


def test_authentication_comes_before_validation(client):
    response = client.post("/v1/accounts", json={"bad": True})
    assert response.status_code == 401


def test_last_used_is_recorded(app, client, auth):
    headers = auth("accounts:read", name="reader")
    client.get("/v1/accounts", headers=headers)
    with app.app_context():
        key = db.session.scalar(sa.select(ApiKey).where(ApiKey.name == "reader"))
        assert key.last_used_at is not None


def test_a_used_key_stops_working_once_its_cache_entry_lapses(app_factory, auth):
    import time

    app = app_factory(key_cache_seconds=0.2)
    client, runner = app.test_client(), app.test_cli_runner()
    headers = auth("accounts:read", name="cached", app=app)
    assert client.get("/v1/accounts", headers=headers).status_code == 200
    assert runner.invoke(args=["keys", "revoke", "--name", "cached"]).exit_code == 0
    time.sleep(0.3)
    assert client.get("/v1/accounts", headers=headers).status_code == 401


def test_without_a_cache_revocation_is_immediate(app_factory, auth):
    app = app_factory(key_cache_seconds=0)
    client, runner = app.test_client(), app.test_cli_runner()
    headers = auth("accounts:read", name="uncached", app=app)
    assert client.get("/v1/accounts", headers=headers).status_code == 200
    assert runner.invoke(args=["keys", "revoke", "--name", "uncached"]).exit_code == 0
    assert client.get("/v1/accounts", headers=headers).status_code == 401
