"""Back-checks of new bans: existing accounts matching a new ban open reviews (never bans), over HTTP/CLI."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.backcheck.models import BackcheckProgress
from registry.extensions import db
from registry.index_changes.models import IndexChange
from registry.reviews.models import Review

PHONE = "+86 138 0013 8000"
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def headers(auth):
    return auth("bans:read", "bans:write", "accounts:read", "accounts:write")


def post(client, headers, **body):
    body.setdefault("username", body["id"])
    response = client.post("/v1/accounts", json=body, headers=headers)
    assert response.status_code == 201, response.json


def ban(client, headers, **body):
    body.setdefault("reason", "spam ring")
    body.setdefault("rule", "R3.2")
    response = client.post("/v1/bans", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def backchecks(client, headers, **query):
    response = client.get("/v1/reviews", query_string={"kind": "backcheck", **query}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["items"]


def test_an_existing_account_sharing_a_banned_identifier_opens_a_review_not_a_ban(app, client, headers):
    post(client, headers, id="holder", phone="+8613800138000")
    post(client, headers, id="bystander", phone="+86 139 0013 9000")
    created = ban(client, headers, identifiers={"phone": [PHONE]})
    items = backchecks(client, headers)
    assert len(items) == 1
    review = items[0]
    assert review["kind"] == "backcheck" and review["check_id"] is None
    assert review["account_id"] == "holder" and review["matched_ban_id"] == created["id"]
    assert review["status"] == "open"
    assert {"code": "banned_identifier", "field": "phone", "ban_id": created["id"], "rule": "R3.2"} in review[
        "reasons"
    ]
    with app.app_context():
        assert db.session.get(Account, "holder").status == "active"
        opened = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "review.open")).all()
        assert [e.subject for e in opened] == [f"review:{review['id']}"]
    # Signup reviews and back-check reviews share the queue.
    assert [r["id"] for r in client.get("/v1/reviews", headers=headers).json["items"]] == [review["id"]]


def test_a_rare_banned_name_flags_the_account_holding_it(client, headers):
    post(client, headers, id="a1", username="Qx_Zephyrine_77")
    post(client, headers, id="a2", username="ordinary_person")
    created = ban(client, headers, names=["qx_zephyrine_77"])
    items = backchecks(client, headers)
    assert [r["account_id"] for r in items] == ["a1"]
    codes = {r["code"] for r in items[0]["reasons"]}
    assert "similar_to_banned_name" in codes
    assert all(r["ban_id"] == created["id"] for r in items[0]["reasons"])


def test_the_banned_accounts_themselves_and_banned_or_purged_ones_are_left_alone(app, client, headers):
    post(client, headers, id="main", phone=PHONE, id_number=ID_NUMBER)
    post(client, headers, id="same-id", id_number=ID_NUMBER)
    post(client, headers, id="already", phone=PHONE)
    ban(client, headers, account_id="already")
    # That ban captured the phone "main" holds: main is flagged, as it should be.
    assert [r["account_id"] for r in backchecks(client, headers)] == ["main"]
    with app.app_context():
        db.session.execute(sa.delete(Review))
        db.session.commit()
    # Now a ban on main's registrant: main and same-id are covered, "already" is banned already.
    ban(client, headers, account_id="main", registrant=True)
    assert backchecks(client, headers) == []


def test_reviews_are_opened_once_per_account_and_ban_and_rerun_with_since(client, headers, runner):
    post(client, headers, id="holder", phone=PHONE)
    ban(client, headers, identifiers={"phone": [PHONE]})
    assert len(backchecks(client, headers)) == 1
    result = runner.invoke(args=["bans", "backcheck", "--since", "2000-01-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "1 bans judged" in result.output and "0 reviews opened" in result.output
    assert len(backchecks(client, headers)) == 1


def test_an_import_is_back_checked_after_it_commits_and_the_cursor_resumes(
    app, client, headers, runner, tmp_path
):
    post(client, headers, id="h1", phone=PHONE)
    post(client, headers, id="h2", device_id="DEV-42")
    path = tmp_path / "bans.jsonl"
    lines = [
        {"identifiers": {"phone": [PHONE]}, "reason": "x", "rule": "R1"},
        {"identifiers": {"device_id": ["dev-42"]}, "reason": "y", "rule": "R1"},
        {"names": ["nobody_holds_this_name"], "reason": "z", "rule": "R1"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = runner.invoke(args=["bans", "import", str(path), "--no-backcheck", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert backchecks(client, headers) == []

    result = runner.invoke(args=["bans", "backcheck"])
    assert result.exit_code == 0, result.output
    assert "3 bans judged" in result.output and "2 reviews opened" in result.output
    assert sorted(r["account_id"] for r in backchecks(client, headers)) == ["h1", "h2"]
    with app.app_context():
        progress = db.session.get(BackcheckProgress, "bans")
        assert progress.bans_checked >= 3 and progress.reviews_opened >= 2
    # Resumed from the cursor: nothing left.
    result = runner.invoke(args=["bans", "backcheck"])
    assert "0 bans judged" in result.output

    # Without --no-backcheck the import runs the pass itself.
    post(client, headers, id="h3", email="h3@example.com")
    path.write_text(
        json.dumps({"identifiers": {"email": ["H3@example.com"]}, "reason": "e", "rule": "R1"}) + "\n"
    )
    result = runner.invoke(args=["bans", "import", str(path), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "backcheck: 1 bans judged" in result.output
    assert "h3" in [r["account_id"] for r in backchecks(client, headers)]


def test_confirming_a_back_check_review_bans_the_account_and_back_checks_that_ban(client, headers):
    post(client, headers, id="holder", phone=PHONE, device_id="DEV-7")
    post(client, headers, id="device-mate", device_id="dev-7")
    ban(client, headers, identifiers={"phone": [PHONE]})
    [review] = backchecks(client, headers)
    resolved = client.post(
        f"/v1/reviews/{review['id']}/resolve", json={"outcome": "confirmed"}, headers=headers
    )
    assert resolved.status_code == 200, resolved.json
    assert client.get("/v1/accounts/holder", headers=headers).json["status"] == "banned"
    # The new ban captured the holder's device: the account sharing it is flagged (not banned).
    flagged = [r for r in backchecks(client, headers, status="open")]
    assert [r["account_id"] for r in flagged] == ["device-mate"]
    assert client.get("/v1/accounts/device-mate", headers=headers).json["status"] == "active"


def test_a_false_positive_name_review_stays_closed(client, headers, runner):
    post(client, headers, id="a1", username="Qx_Zephyrine_77")
    ban(client, headers, names=["qx_zephyrine_77"])
    [review] = backchecks(client, headers)
    resolved = client.post(
        f"/v1/reviews/{review['id']}/resolve", json={"outcome": "false_positive"}, headers=headers
    )
    assert resolved.status_code == 200, resolved.json
    runner.invoke(args=["bans", "backcheck", "--since", "2000-01-01T00:00:00Z"])
    assert [r["status"] for r in backchecks(client, headers)] == ["resolved"]


def test_a_failing_back_check_never_fails_the_ban(app, client, headers, monkeypatch, caplog):
    from registry.backcheck import service

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    post(client, headers, id="holder", phone=PHONE)
    monkeypatch.setattr(service, "judge_bans", broken)
    created = ban(client, headers, identifiers={"phone": [PHONE]})
    assert client.get(f"/v1/bans/{created['id']}", headers=headers).status_code == 200
    assert "back-check" in caplog.text
    monkeypatch.undo()
    # The cron pass picks it up.
    with app.app_context():
        from registry.backcheck.service import run

        report = run(actor="cron")
        db.session.commit()
    assert report.reviews == 1


def _spy_preloads(monkeypatch) -> list[int]:
    """Count the runs that read every name key count up front (the real reader still does it)."""
    from registry.backcheck import service

    calls: list[int] = []
    real = service.load_key_counts

    def counting(session):
        calls.append(1)
        return real(session)

    monkeypatch.setattr(service, "load_key_counts", counting)
    return calls


NAMED = {
    "rare": ("Qx_Zephyrine_77", "柏泽菲"),
    "common1": ("zhangwei88", "张伟"),
    "common2": ("zhang.wei", "张伟"),
    "other": ("lucy_snow", "Lucy Snow"),
}


@pytest.mark.parametrize("per_ban", [1, 10**9], ids=["one-query-a-key", "all-counts-read-once"])
def test_a_run_judges_alike_whether_it_reads_the_counts_up_front_or_one_key_at_a_time(
    app, client, headers, runner, tmp_path, monkeypatch, per_ban
):
    from registry.backcheck import service

    for account_id, (username, display_name) in NAMED.items():
        post(client, headers, id=account_id, username=username, display_name=display_name)
    path = tmp_path / "bans.jsonl"
    lines = [
        {"names": ["qx_zephyrine_77"], "reason": "x", "rule": "R1"},
        {"names": ["张伟"], "reason": "y", "rule": "R1"},
        {"names": ["nobody_holds_this_name"], "reason": "z", "rule": "R1"},
    ]
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    result = runner.invoke(args=["bans", "import", str(path), "--no-backcheck", "--workers", "1"])
    assert result.exit_code == 0, result.output
    # 1: never worth it (the table holds more keys than the run's bans ask); 10**9: always. As in a
    # command's process, no check index is built to read counts from.
    monkeypatch.setattr(service, "PRELOAD_KEYS_PER_BAN", per_ban)
    monkeypatch.setattr(service, "_ready_engine", lambda: None)
    calls = _spy_preloads(monkeypatch)
    result = runner.invoke(args=["bans", "backcheck"])
    assert result.exit_code == 0, result.output
    assert len(calls) == (1 if per_ban > 1 else 0)
    # The same answer either way: the rare name's holder, and the two holders of 张伟 (two accounts
    # on a platform of four is no common name); nobody for the name nobody holds.
    assert "3 bans judged" in result.output and "3 reviews opened" in result.output
    assert sorted(r["account_id"] for r in backchecks(client, headers)) == ["common1", "common2", "rare"]


def test_the_counts_read_up_front_are_the_ones_a_query_a_key_reads(app, client, headers, monkeypatch):
    from registry.backcheck import service
    from registry.matching import MatchConfig, NameIndex
    from registry.matching.commonness import account_keys

    for account_id, (username, display_name) in NAMED.items():
        post(client, headers, id=account_id, username=username, display_name=display_name)
    ban(client, headers, names=["someone_banned"])
    monkeypatch.setattr(service, "PRELOAD_KEYS_PER_BAN", 10**9)
    monkeypatch.setattr(service, "_ready_engine", lambda: None)
    with app.app_context():
        table = service._preloaded_counts(0)
        assert table is not None
        names = NameIndex(MatchConfig())
        by_table = service._Counts(names, table=table)
        by_query = service._Counts(names)
        keys = set().union(*(account_keys(u, d) for u, d in NAMED.values())) | {"never-counted"}
        assert {k: by_table.accounts(k) for k in keys} == {k: by_query.accounts(k) for k in keys}
        assert by_table.accounts("张伟") == 2
        # Nothing pending after the last change: no run, nothing read.
        last = db.session.scalar(sa.select(sa.func.max(IndexChange.id)))
        assert service._preloaded_counts(int(last)) is None
