"""API.md, "Zombie and shell sweep": POST /v1/sweeps and `registry sweep`, with the default periods."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from contract_support import ID_NUMBER, USCC, assert_error, iso, parse

# Everything happens in the past: the sweep refuses an as_of in the future.
BASE = (datetime.now(UTC) - timedelta(days=1500)).replace(microsecond=0)


def at(days: float) -> str:
    """Return BASE + days, zoned."""
    return iso(BASE + timedelta(days=days))


@pytest.fixture
def sweep(api):
    """POST /v1/sweeps as of BASE + days and return the run (asserting 201 and the run's shape)."""

    def run(days: float, **body):
        response = api("POST", "/v1/sweeps", json={"as_of": at(days), **body})
        assert response.status_code == 201, response.get_json()
        result = response.get_json()
        assert isinstance(result["id"], str)
        assert result["dry_run"] is body.get("dry_run", False)
        assert parse(result["as_of"]) == BASE + timedelta(days=days)
        assert set(result["counts"]) >= {"dormant", "suspended", "purged"}
        return result["counts"]

    return run


@pytest.fixture
def status(api):
    """Return an account's status."""
    return lambda account_id: api("GET", f"/v1/accounts/{account_id}").get_json()["status"]


def activity(api, account_id: str, days: float) -> None:
    """Record a login at BASE + days."""
    event = {"account_id": account_id, "kind": "login", "at": at(days)}
    assert api("POST", "/v1/activity", json={"events": [event]}).status_code == 202


def test_run_shape_and_default_as_of(api):
    """`POST /v1/sweeps` with {"dry_run": false, "as_of": "<time; default now>"}: 201 with the run:
    {"id", "dry_run", "as_of", "counts": {"dormant": n, "suspended": n, "purged": n}, ...}."""
    before = datetime.now(UTC)
    response = api("POST", "/v1/sweeps", json={"dry_run": False})
    assert response.status_code == 201
    run = response.get_json()
    assert isinstance(run["id"], str) and run["dry_run"] is False
    assert before - timedelta(seconds=5) <= parse(run["as_of"]) <= datetime.now(UTC) + timedelta(seconds=5)
    assert {k: run["counts"][k] for k in ("dormant", "suspended", "purged")} == {
        "dormant": 0,
        "suspended": 0,
        "purged": 0,
    }
    assert api("POST", "/v1/sweeps", json={}).status_code == 201


def test_shell_after_30_days(make_account, sweep, status):
    """A *shell* account was registered 30+ days before `as_of`, never had activity and is not verified."""
    make_account("shell", registered_at=at(0))
    make_account("young", registered_at=at(1))
    assert sweep(29.5)["dormant"] == 0
    assert sweep(30)["dormant"] == 1
    assert (status("shell"), status("young")) == ("dormant", "active")


def test_verified_account_is_not_a_shell(api, make_account, sweep, status):
    """A *shell* account ... is not verified (a verified one waits for the zombie rule)."""
    make_account("verified", registered_at=at(0))
    body = {"status": "verified", "method": "id_card", "id_number": ID_NUMBER}
    assert api("PUT", "/v1/accounts/verified/verification", json=body).status_code == 200
    assert sweep(100)["dormant"] == 0
    assert status("verified") == "active"
    assert sweep(180)["dormant"] == 1
    assert status("verified") == "dormant"


def test_zombie_after_180_days(api, make_account, sweep, status):
    """A *zombie* account's last activity (or registration, if none) is 180+ days before `as_of`."""
    make_account("zombie", registered_at=at(0))
    make_account("lively", registered_at=at(0))
    activity(api, "zombie", 10)
    activity(api, "lively", 11)
    assert sweep(189.5)["dormant"] == 0
    assert sweep(190)["dormant"] == 1
    assert (status("zombie"), status("lively")) == ("dormant", "active")


def test_ladder_dormant_suspended_purged(api, make_account, sweep, status):
    """The sweep marks both `dormant`; a `dormant` account with still no activity 30 days later becomes
    `suspended`; a `suspended` one 90 days after that is `purged`: its personal data is erased and only a
    tombstone remains."""
    make_account(
        "p1",
        username="purge_me",
        display_name="待清理",
        email="purge@example.com",
        phone="+86 139 1234 5678",
        id_number=ID_NUMBER,
        device_id="purge-device",
        registered_at=at(0),
    )
    assert sweep(40)["dormant"] == 1
    assert sweep(69)["suspended"] == 0
    assert sweep(70)["suspended"] == 1 and status("p1") == "suspended"
    assert sweep(159)["purged"] == 0
    assert sweep(160)["purged"] == 1
    tombstone = api("GET", "/v1/accounts/p1")
    assert tombstone.status_code == 200
    account = tombstone.get_json()
    assert account["status"] == "purged"
    text = json.dumps(account, ensure_ascii=False)
    for personal in ("purge_me", "待清理", "purge@", "1234", "5678", "purge-device", "19491231"):
        assert personal not in text, (personal, account)


@pytest.mark.parametrize("rung", ["dormant", "suspended"])
def test_activity_reactivates(api, make_account, sweep, status, rung):
    """Activity on a `dormant` or `suspended` account makes it `active` again."""
    make_account("r1", registered_at=at(0))
    sweep(40)
    if rung == "suspended":
        sweep(70)
    assert status("r1") == rung
    activity(api, "r1", 75)
    assert status("r1") == "active"
    assert sweep(76) == {**sweep(76), "dormant": 0, "suspended": 0, "purged": 0}


def test_never_swept_banned_and_verified_entities(api, make_account, make_ban, sweep, status):
    """Never swept: accounts with an active ban, and verified `organization` or `public` accounts."""
    make_account("banned", registered_at=at(0))
    make_ban(account_id="banned")
    name = "福建省某某科技有限公司"
    for kind in ("organization", "public"):
        make_account(kind, registered_at=at(0), account_type=kind, display_name=name)
        body = {"status": "verified", "method": "uscc", "entity": {"name": name, "uscc": USCC}}
        assert api("PUT", f"/v1/accounts/{kind}/verification", json=body).status_code == 200
    make_account("plain", registered_at=at(0))
    counts = sweep(400)
    assert counts["dormant"] == 1
    assert [status(a) for a in ("banned", "organization", "public", "plain")] == [
        "banned",
        "active",
        "active",
        "dormant",
    ]
    for later in (430, 520, 700):
        sweep(later)
    assert [status(a) for a in ("banned", "organization", "public")] == ["banned", "active", "active"]


def test_dry_run_changes_nothing_and_reports(api, make_account, sweep, status):
    """A dry run changes nothing and reports what a real run would do."""
    for i in range(3):
        make_account(f"d{i}", registered_at=at(0))
    dry = sweep(40, dry_run=True)
    assert dry["dormant"] == 3
    assert {status(f"d{i}") for i in range(3)} == {"active"}
    for i in range(3):
        actions = [e["action"] for e in api("GET", f"/v1/audit?subject=account:d{i}").get_json()["items"]]
        assert actions == ["account.create"], actions
    real = sweep(40)
    assert {k: real[k] for k in ("dormant", "suspended", "purged")} == {
        k: dry[k] for k in ("dormant", "suspended", "purged")
    }


def test_same_sweep_twice_does_nothing_the_second_time(make_account, sweep):
    """Running the same sweep twice does nothing the second time."""
    make_account("i1", registered_at=at(0))
    make_account("i2", registered_at=at(-100))
    sweep(40)
    sweep(100)
    first = sweep(250)
    assert first["dormant"] + first["suspended"] + first["purged"] > 0
    second = sweep(250)
    assert (second["dormant"], second["suspended"], second["purged"]) == (0, 0, 0)


def test_every_change_is_audited(api, make_account, sweep):
    """Every change it makes is in the audit trail."""
    make_account("a1", registered_at=at(0))
    for days in (40, 70, 160):
        sweep(days)
    items = api("GET", "/v1/audit?subject=account:a1").get_json()["items"]
    actions = [item["action"] for item in items]
    # Newest first: created, then one entry per rung.
    assert len(actions) == 4, actions
    assert actions[-1] == "account.create"
    assert all(a.startswith("account.") for a in actions)
    assert len(set(actions)) == 4
    assert any("purge" in a for a in actions) and any("dormant" in a for a in actions)


def test_safety_cap_default_refuses_then_force(api, runner, tmp_path, status):
    """Safety cap: a run that would act on more than 1,000 accounts and more than a configured share of all
    accounts (default 10%) is refused, changing nothing, unless forced: "force": true.

    Ambiguous: the refusal's status code; 409 (the request conflicts with the safety rule) in the error
    shape, with nothing changed.
    """
    path = tmp_path / "many.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"m{i}", "username": f"many_{i}", "registered_at": at(0)}) + "\n"
            for i in range(1001)
        )
    )
    assert runner.invoke(args=["accounts", "import", str(path)]).exit_code == 0
    refused = api("POST", "/v1/sweeps", json={"as_of": at(40)})
    assert refused.status_code in (409, 422)
    assert_error(refused, refused.status_code)
    assert status("m0") == status("m1000") == "active"
    listed = api("GET", "/v1/accounts?status=dormant").get_json()["items"]
    assert listed == []
    forced = api("POST", "/v1/sweeps", json={"as_of": at(40), "force": True})
    assert forced.status_code == 201 and forced.get_json()["counts"]["dormant"] == 1001


def test_safety_cap_needs_both_count_and_share(app_factory, auth):
    """... more than 1,000 accounts *and* more than a configured share of all accounts: under either, the run
    goes ahead (cap and share configurable)."""
    app = app_factory(sweep_cap_accounts=2, sweep_cap_share=0.5)
    headers = auth("admin", app=app)
    client = app.test_client()
    for i in range(3):
        body = {"id": f"c{i}", "username": f"cap_{i}", "registered_at": at(0)}
        assert client.post("/v1/accounts", json=body, headers=headers).status_code == 201
    for i in range(4):
        body = {"id": f"n{i}", "username": f"new_{i}"}
        assert client.post("/v1/accounts", json=body, headers=headers).status_code == 201
    # 3 of 7 accounts (43%, under the share) is allowed even though 3 > 2.
    assert client.post("/v1/sweeps", json={"as_of": at(40)}, headers=headers).status_code == 201


def test_safety_cap_refuses_over_both(app_factory, auth):
    """... is refused, changing nothing, unless forced (here with a configured cap of 2 and share of 10%)."""
    app = app_factory(sweep_cap_accounts=2, sweep_cap_share=0.1)
    headers = auth("admin", app=app)
    client = app.test_client()
    for i in range(3):
        body = {"id": f"k{i}", "username": f"kap_{i}", "registered_at": at(0)}
        assert client.post("/v1/accounts", json=body, headers=headers).status_code == 201
    refused = client.post("/v1/sweeps", json={"as_of": at(40)}, headers=headers)
    assert refused.status_code in (409, 422)
    assert client.get("/v1/accounts/k0", headers=headers).get_json()["status"] == "active"
    forced = client.post("/v1/sweeps", json={"as_of": at(40), "force": True}, headers=headers)
    assert forced.status_code == 201 and forced.get_json()["counts"]["dormant"] == 3


def test_cli_sweep_does_the_same(make_account, runner, status):
    """The command line's `registry sweep` does the same: `registry sweep [--dry-run] [--as-of TIME]
    [--force]` runs the zombie/shell account sweep; prints a summary."""
    for i in range(3):
        make_account(f"cli{i}", registered_at=at(0))
    dry = runner.invoke(args=["sweep", "--dry-run", "--as-of", at(40)])
    assert dry.exit_code == 0, dry.output
    assert "3" in dry.output and "dormant" in dry.output
    assert status("cli0") == "active"
    real = runner.invoke(args=["sweep", "--as-of", at(40), "--force"])
    assert real.exit_code == 0, real.output
    assert "dormant" in real.output
    assert {status(f"cli{i}") for i in range(3)} == {"dormant"}
    again = runner.invoke(args=["sweep", "--as-of", at(40)])
    assert again.exit_code == 0 and {status(f"cli{i}") for i in range(3)} == {"dormant"}


def test_cli_sweep_cap_and_force(app_factory, tmp_path):
    """`registry sweep` refuses beyond the safety cap (non-zero exit, nothing changed) unless `--force`."""
    app = app_factory(sweep_cap_accounts=2, sweep_cap_share=0.1)
    runner = app.test_cli_runner()
    path = tmp_path / "few.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"f{i}", "username": f"few_{i}", "registered_at": at(0)}) + "\n"
            for i in range(3)
        )
    )
    assert runner.invoke(args=["accounts", "import", str(path)]).exit_code == 0
    refused = runner.invoke(args=["sweep", "--as-of", at(40)])
    assert refused.exit_code != 0
    forced = runner.invoke(args=["sweep", "--as-of", at(40), "--force"])
    assert forced.exit_code == 0, forced.output
