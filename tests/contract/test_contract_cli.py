"""API.md, "Command line": every command of the table, as an operator runs it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from contract_support import ID_NUMBER, PHONE, reasons_of
from sqlalchemy.engine import make_url

from registry.extensions import db

REGISTRY = shutil.which("registry", path=str(Path(sys.executable).parent)) or "registry"
PII_KEY = "contract-cli-pii-key-0123456789"


def cli(url: str, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `registry` console script with the contract's two settings."""
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": url,
        "REGISTRY_PII_KEY": PII_KEY,
        "REGISTRY_INSTANCE_PATH": str(cwd / "instance"),
    }
    return subprocess.run(
        [REGISTRY, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_db_upgrade_creates_and_migrates(fresh_url, tmp_path):
    """`registry db upgrade`: creates or migrates the schema (Alembic)."""
    first = cli(fresh_url, "db", "upgrade", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    url = make_url(fresh_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")  # the test's own reader; the service picks its own
    engine = sa.create_engine(url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"accounts", "bans", "audit_log", "api_keys", "alembic_version"} <= tables
    again = cli(fresh_url, "db", "upgrade", cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_keys_create_prints_the_key_alone_on_the_last_line(fresh_url, tmp_path):
    """`registry keys create --name NAME --scope SCOPE [--scope SCOPE ...]`: creates an API key; prints the
    key alone on the last line of stdout, once."""
    assert cli(fresh_url, "db", "upgrade", cwd=tmp_path).returncode == 0
    made = cli(
        fresh_url,
        "keys",
        "create",
        "--name",
        "signup-flow",
        "--scope",
        "check",
        "--scope",
        "bans:read",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert lines, made
    key = lines[-1]
    assert key == key.strip() and " " not in key and len(key) >= 20
    listed = cli(fresh_url, "keys", "list", cwd=tmp_path)
    assert listed.returncode == 0
    assert key not in listed.stdout + listed.stderr
    dup = cli(fresh_url, "keys", "create", "--name", "signup-flow", "--scope", "check", cwd=tmp_path)
    assert dup.returncode != 0
    bad = cli(fresh_url, "keys", "create", "--name", "x", "--scope", "godmode", cwd=tmp_path)
    assert bad.returncode != 0


@pytest.mark.parametrize(
    "scopes",
    [
        ["check"],
        ["accounts:read", "accounts:write"],
        [
            "bans:read",
            "bans:write",
            "tiers:write",
            "verification:write",
            "sweeps:run",
            "audit:read",
            "reports:read",
        ],
        ["admin"],
    ],
)
def test_created_key_works_with_its_scopes(app, runner, scopes):
    """A key made by `registry keys create` authenticates with exactly its scopes."""
    args = ["keys", "create", "--name", "made-by-cli"]
    for scope in scopes:
        args += ["--scope", scope]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    key = result.stdout.splitlines()[-1]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    response = client.post("/v1/check", json={"username": "someone"}, headers=headers)
    assert response.status_code == (200 if {"check", "admin"} & set(scopes) else 403)
    response = client.get("/v1/accounts/nobody", headers=headers)
    assert response.status_code == (404 if {"accounts:read", "admin"} & set(scopes) else 403)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={**(headers or {}), "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_answers_http(fresh_url, tmp_path):
    """`registry serve [--host H] [--port P] [--workers N]`: serves the HTTP API with a production WSGI
    server (/healthz and /openapi.json without a key, /v1 with one)."""
    assert cli(fresh_url, "db", "upgrade", cwd=tmp_path).returncode == 0
    key = cli(
        fresh_url, "keys", "create", "--name", "svc", "--scope", "check", cwd=tmp_path
    ).stdout.splitlines()[-1]
    port = _free_port()
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": fresh_url,
        "REGISTRY_PII_KEY": PII_KEY,
        "REGISTRY_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [REGISTRY, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _get(f"{base}/healthz")
                if status == 200:
                    break
            except (OSError, ValueError):
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        assert body == {"status": "ok"} or body["status"] == "ok"
        status, doc = _get(f"{base}/openapi.json")
        assert status == 200 and doc["openapi"].startswith("3.")
        status, result = _get(
            f"{base}/v1/check", {"Authorization": f"Bearer {key}"}, {"username": "zhangsan_88"}
        )
        assert status == 200 and result["decision"] == "allow"
        status, error = _get(f"{base}/v1/check", {}, {"username": "zhangsan_88"})
        assert status == 401 and error["code"] == 401
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_bans_import_reports_bad_lines_and_keeps_good_ones(api, runner, tmp_path, check):
    """`registry bans import FILE`: bulk-loads bans from JSON Lines (one `POST /v1/bans` body per line);
    shows progress; prints a summary; bad lines are reported with their line number and do not stop the
    good ones."""
    lines = [
        json.dumps(
            {"identifiers": {"phone": [PHONE]}, "names": ["imported_villain"], "reason": "r", "rule": "R1"}
        ),
        '{"names": ["broken json", ',
        json.dumps({"names": ["no_rule_here"], "reason": "r"}),
        json.dumps({"identifiers": {"id_number": [ID_NUMBER]}, "reason": "fraud", "rule": "R3.2"}),
        json.dumps({"reason": "r", "rule": "R1"}),
        json.dumps({"names": ["second_villain"], "reason": "r", "rule": "R1", "expires_at": None}),
    ]
    path = tmp_path / "bans.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["bans", "import", str(path)])
    output = result.output
    assert result.exit_code in (0, 1), output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    for bad in (2, 3, 5):
        assert f"line {bad}" in output, output
    for good in (1, 4, 6):
        assert f"line {good}:" not in output and f"line {good} " not in output, output
    assert "3" in output  # the summary counts the created bans
    bans = api("GET", "/v1/bans?limit=100").get_json()["items"]
    assert len(bans) == 3 and {b["status"] for b in bans} == {"active"}
    assert check(phone="13800138000")["decision"] == "deny"
    assert check(id_number=ID_NUMBER.lower())["decision"] == "deny"
    assert reasons_of(check(username="imported_villain"), "similar_to_banned_name")


def test_accounts_import_reports_bad_lines_and_keeps_good_ones(api, runner, tmp_path):
    """`registry accounts import FILE`: bulk-loads accounts from JSON Lines (one `POST /v1/accounts` body per
    line), like `bans import` (bad lines reported with their line number; good ones kept)."""
    lines = [
        json.dumps({"id": "imp1", "username": "imported_one", "registered_at": "2020-01-01T00:00:00Z"}),
        json.dumps({"id": "imp2", "username": "bad_id", "id_number": "110105194912310021"}),
        "not json at all",
        json.dumps({"id": "imp1", "username": "duplicate_of_line_1"}),
        json.dumps({"id": "imp3", "username": "imported_three", "phone": PHONE, "account_type": "personal"}),
        json.dumps({"username": "no_id"}),
    ]
    path = tmp_path / "accounts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["accounts", "import", str(path)])
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    for bad in (2, 3, 4, 6):
        assert f"line {bad}" in output, output
    imported = api("GET", "/v1/accounts/imp1").get_json()
    assert imported["username"] == "imported_one" and imported["registered_at"].startswith(
        "2020-01-01T00:00:00"
    )
    assert api("GET", "/v1/accounts/imp3").get_json()["status"] == "active"
    assert api("GET", "/v1/accounts/imp2").status_code == 404


def test_audit_verify_passes_then_names_the_altered_entry(app, api, make_account, runner):
    """`registry audit verify`: verifies the audit trail; exits non-zero where it was tampered with. The
    trail is append-only and hash-chained: `registry audit verify` names the first entry that was altered or
    removed."""
    for i in range(4):
        make_account(f"a{i}")
    intact = runner.invoke(args=["audit", "verify"])
    assert intact.exit_code == 0, intact.output
    seqs = [i["seq"] for i in api("GET", "/v1/audit?subject=account:a1").get_json()["items"]]
    with app.app_context():
        db.session.execute(sa.text("UPDATE audit_log SET actor = 'mallory' WHERE seq = :s"), {"s": seqs[0]})
        db.session.commit()
    altered = runner.invoke(args=["audit", "verify"])
    assert altered.exit_code != 0
    assert str(seqs[0]) in altered.output, altered.output


def test_audit_verify_names_a_removed_entry(app, api, make_account, runner):
    """`registry audit verify` names the first entry that was ... removed, and exits non-zero."""
    for i in range(4):
        make_account(f"a{i}")
    seq = api("GET", "/v1/audit?subject=account:a2").get_json()["items"][0]["seq"]
    with app.app_context():
        db.session.execute(sa.text("DELETE FROM audit_log WHERE seq = :s"), {"s": seq})
        db.session.commit()
    removed = runner.invoke(args=["audit", "verify"])
    assert removed.exit_code != 0
    assert str(seq) in removed.output, removed.output
