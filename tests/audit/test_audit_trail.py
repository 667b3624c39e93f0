"""The audit trail over HTTP and the CLI: filters, pagination, verify (tampering) and export."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry.audit.checkpoints import app_keys
from registry.audit.keys import AuditKeys
from registry.audit.models import AuditEntry, AuditHead
from registry.audit.service import GENESIS, entry_hash, record
from registry.audit.verify import ChainChecker, Tampered, verify_chain
from registry.extensions import db
from registry.timeutil import utcnow

GUESS = AuditKeys(b"an attacker's guess at the audit key")


@pytest.fixture
def reader(auth):
    return auth("audit:read", name="inspector")


def make_accounts(client, auth, n, name="clerk"):
    headers = auth("accounts:write", name=name)
    for i in range(n):
        response = client.post("/v1/accounts", json={"id": f"u{i}", "username": f"user{i}"}, headers=headers)
        assert response.status_code == 201, response.json


def test_every_account_creation_is_an_entry_by_the_keys_name(client, auth, reader):
    make_accounts(client, auth, 3)
    body = client.get("/v1/audit?subject=account:u1", headers=reader).json
    assert [(e["action"], e["subject"], e["actor"]) for e in body["items"]] == [
        ("account.create", "account:u1", "clerk")
    ]
    entry = body["items"][0]
    assert entry["data"]["username"] == "user1"
    assert len(entry["hash"]) == 64 and entry["at"].endswith("+00:00")
    assert body["next"] is None


def test_filters_by_actor_action_and_time(app, client, auth, reader):
    make_accounts(client, auth, 2, name="alice")
    with app.app_context():
        record("test.poke", "thing:1", {"n": 1}, actor="bob")
        db.session.commit()
    assert {e["actor"] for e in client.get("/v1/audit?actor=alice", headers=reader).json["items"]} == {
        "alice"
    }
    poked = client.get("/v1/audit?action=test.poke", headers=reader).json["items"]
    assert [e["subject"] for e in poked] == ["thing:1"]
    future = (utcnow() + timedelta(hours=1)).isoformat() + "Z"
    assert client.get(f"/v1/audit?since={future}", headers=reader).json["items"] == []
    everything = client.get(f"/v1/audit?until={future}&actor=alice", headers=reader).json["items"]
    assert len(everything) == 2


def test_keyset_pagination_newest_first_and_oldest_first(client, auth, reader):
    make_accounts(client, auth, 7)

    def walk(order):
        seen, cursor = [], None
        while True:
            url = f"/v1/audit?action=account.create&limit=3&order={order}" + (
                f"&cursor={cursor}" if cursor else ""
            )
            page = client.get(url, headers=reader).json
            seen += [e["subject"] for e in page["items"]]
            cursor = page["next"]
            if cursor is None:
                return seen

    oldest_first = walk("asc")
    assert oldest_first == [f"account:u{i}" for i in range(7)]
    assert walk("desc") == list(reversed(oldest_first))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=garbage", "cursor"),
        ("since=yesterday", "since"),
        ("order=sideways", "order"),
        ("limit=0", "limit"),
        ("since=2024-01-02T00:00:00Z&until=2024-01-01T00:00:00Z", "until"),
    ],
)
def test_bad_filters_are_422_naming_the_parameter(client, reader, query, field):
    response = client.get(f"/v1/audit?{query}", headers=reader)
    assert response.status_code == 422, response.json
    assert field in json.dumps(response.json["errors"])


def test_audit_needs_its_scope(client, auth):
    assert client.get("/v1/audit").status_code == 401
    assert client.get("/v1/audit", headers=auth("accounts:read")).status_code == 403


def test_verify_passes_on_an_intact_trail(client, auth, runner):
    make_accounts(client, auth, 5)
    result = runner.invoke(args=["audit", "verify", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output


def _tamper(app, sql, **params):
    with app.app_context():
        db.session.execute(sa.text(sql), params)
        db.session.commit()


def _verify(runner):
    result = runner.invoke(args=["audit", "verify", "--batch-size", "2"])
    return result.exit_code, result.output


def _seq_of(app, subject):
    with app.app_context():
        return db.session.scalar(sa.select(AuditEntry.seq).where(AuditEntry.subject == subject))


def test_verify_names_an_altered_entry(app, client, auth, runner):
    make_accounts(client, auth, 5)
    seq = _seq_of(app, "account:u2")
    _tamper(app, "UPDATE audit_log SET data = :d WHERE seq = :s", d='{"username": "someone else"}', s=seq)
    code, output = _verify(runner)
    assert code == 1
    assert f"entry {seq} was altered" in output


def test_verify_names_an_altered_actor(app, client, auth, runner):
    make_accounts(client, auth, 3)
    seq = _seq_of(app, "account:u0")
    _tamper(app, "UPDATE audit_log SET actor = 'nobody' WHERE seq = :s", s=seq)
    code, output = _verify(runner)
    assert code == 1 and f"entry {seq} was altered" in output


def test_verify_names_a_removed_entry(app, client, auth, runner):
    make_accounts(client, auth, 5)
    seq = _seq_of(app, "account:u3")
    _tamper(app, "DELETE FROM audit_log WHERE seq = :s", s=seq)
    code, output = _verify(runner)
    assert code == 1
    assert f"entry {seq} was removed" in output


def test_verify_names_a_removed_last_entry(app, client, auth, runner):
    make_accounts(client, auth, 3)
    seq = _seq_of(app, "account:u2")
    _tamper(app, "DELETE FROM audit_log WHERE seq = :s", s=seq)
    code, output = _verify(runner)
    assert code == 1
    assert f"entry {seq} was removed" in output


def test_verify_names_a_forged_entry_appended_after_the_head(app, client, auth, runner):
    make_accounts(client, auth, 3)
    with app.app_context():
        last = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        at = utcnow()
        # A careful forger: correct link and a hash that matches the content (under a guessed key).
        digest = entry_hash(GUESS, last.hash, last.seq + 1, at, "admin", "ban.lift", "ban:x", {})
        seq = last.seq + 1
        prev = last.hash
    _tamper(
        app,
        "INSERT INTO audit_log (seq, at, actor, action, subject, data, prev_hash, hash) "
        "VALUES (:seq, :at, 'admin', 'ban.lift', 'ban:x', '{}', :prev, :hash)",
        seq=seq,
        at=at,
        prev=prev,
        hash=digest,
    )
    code, output = _verify(runner)
    assert code == 1
    assert f"entry {seq} was inserted" in output


def test_verify_names_an_entry_replaced_in_the_middle(app, client, auth, runner):
    make_accounts(client, auth, 4)
    seq = _seq_of(app, "account:u1")
    with app.app_context():
        at = utcnow()
        forged = entry_hash(GUESS, GENESIS, seq, at, "admin", "account.create", "account:u1", {})
    _tamper(app, "DELETE FROM audit_log WHERE seq = :s", s=seq)
    _tamper(
        app,
        "INSERT INTO audit_log (seq, at, actor, action, subject, data, prev_hash, hash) "
        "VALUES (:seq, :at, 'admin', 'account.create', 'account:u1', '{}', :prev, :hash)",
        seq=seq,
        at=at,
        prev=GENESIS,
        hash=forged,
    )
    code, output = _verify(runner)
    assert code == 1
    assert f"entry {seq} does not link to entry {seq - 1}" in output


def test_export_writes_json_lines_that_reverify(app, client, auth, runner, tmp_path):
    make_accounts(client, auth, 4)
    out = tmp_path / "audit.jsonl"
    result = runner.invoke(args=["audit", "export", "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    docs = [json.loads(line) for line in lines]
    assert [d["subject"] for d in docs if d.get("action") == "account.create"] == [
        f"account:u{i}" for i in range(4)
    ]
    assert set(docs[0]) == {
        "seq",
        "at",
        "actor",
        "action",
        "subject",
        "data",
        "readable",
        "erased",
        "prev_hash",
        "hash",
    }
    assert "trailer" in docs[-1]
    ok = runner.invoke(args=["audit", "verify", "--file", str(out)])
    assert ok.exit_code == 0, ok.output
    # A slice cut from the middle is caught: the trailer no longer matches.
    (tmp_path / "slice.jsonl").write_text("\n".join(lines[2:]) + "\n")
    cut = runner.invoke(args=["audit", "verify", "--file", str(tmp_path / "slice.jsonl")])
    assert cut.exit_code == 1 and "cut at the start" in cut.output
    docs[3]["data"]["tier"] = "edited"
    (tmp_path / "bad.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    bad = runner.invoke(args=["audit", "verify", "--file", str(tmp_path / "bad.jsonl")])
    assert bad.exit_code == 1
    assert f"entry {docs[3]['seq']} was altered" in bad.output


def test_export_time_range(app, client, auth, runner, tmp_path):
    make_accounts(client, auth, 2)
    future = (utcnow() + timedelta(hours=1)).isoformat() + "+00:00"
    result = runner.invoke(args=["audit", "export", "--since", future])
    assert result.exit_code == 0
    assert "exported 0 entries" in result.output
    past = (utcnow() - timedelta(hours=1)).isoformat() + "+00:00"
    result = runner.invoke(args=["audit", "export", "--since", past, "--until", future])
    assert result.stdout.count("account.create") == 2
    bad = runner.invoke(args=["audit", "export", "--since", "yesterday"])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_chain_checker_classifies_breaks():
    at = utcnow()
    keys = AuditKeys(b"k" * 32)
    h1 = entry_hash(keys, GENESIS, 1, at, "a", "x", "s", {})
    h2 = entry_hash(keys, h1, 2, at, "a", "x", "s", {"k": 1})
    checker = ChainChecker(keys)
    checker.feed(1, at, "a", "x", "s", {}, GENESIS, h1)
    with pytest.raises(Tampered) as gap:
        checker.feed(3, at, "a", "x", "s", {}, h2, "f" * 64)
    assert gap.value.kind == "removed" and gap.value.seq == 2
    with pytest.raises(Tampered) as altered:
        checker.feed(2, at, "a", "x", "s", {"k": 2}, h1, h2)
    assert altered.value.kind == "altered"
    checker.feed(2, at, "a", "x", "s", {"k": 1}, h1, h2)
    assert checker.count == 2


@pytest.mark.postgres_only
def test_eight_concurrent_writers_leave_an_intact_chain(committing_app):
    writers, per_writer = 8, 60
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(n: int) -> None:
        try:
            with committing_app.app_context():
                start.wait()
                for i in range(per_writer):
                    if i % 3 == 0:
                        # Bulk appends interleave with single ones.
                        from registry.audit.service import record_many

                        record_many(
                            [("test.bulk", f"w:{n}", {"i": i, "j": j}) for j in range(3)], actor=f"w{n}"
                        )
                    else:
                        record("test.write", f"w:{n}", {"i": i}, actor=f"w{n}")
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    expected = writers * (per_writer // 3 * 3 + (per_writer - per_writer // 3))
    with committing_app.app_context():
        seqs = list(db.session.scalars(sa.select(AuditEntry.seq).order_by(AuditEntry.seq)))
        head = db.session.get(AuditHead, 1)
        settings = committing_app.config["REGISTRY"]
        result = verify_chain(app_keys(), settings.audit_checkpoints, batch_size=97)
    assert seqs == list(range(1, expected + 1))
    assert head.seq == expected
    assert result.ok, result.problem and result.problem.message
    assert result.count == expected
