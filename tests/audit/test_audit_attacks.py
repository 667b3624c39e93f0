"""An attacker with write access to the database (not to REGISTRY_AUDIT_KEY or the checkpoint file).

Each attack is raw SQL, as such an attacker would run it; `registry audit verify` must exit 1 naming
what it found. Checkpoints are held in a file the database does not hold.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing

import sqlalchemy as sa

from registry.audit.checkpoints import app_keys, append_line, make_line
from registry.audit.keys import AuditKeys
from registry.audit.models import AuditEntry
from registry.audit.service import GENESIS, canonical_entry, entry_hash, record, record_many
from registry.extensions import db

GUESS = AuditKeys(b"an attacker's guess at the audit key")


def fill(app, n):
    with app.app_context():
        record_many([("test.write", f"thing:{i}", {"i": i}) for i in range(n)], actor="clerk")
        db.session.commit()


def sql(app, statement, **params):
    with app.app_context():
        db.session.execute(sa.text(statement), params)
        db.session.commit()


def rows(app):
    with app.app_context():
        return db.session.execute(sa.select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()


def verify(runner, *extra):
    result = runner.invoke(args=["audit", "verify", *extra])
    return result.exit_code, result.output


def checkpoints(app):
    path = app.config["REGISTRY"].audit_checkpoints
    try:
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        return []


def rechain(app, entries, mac):
    """Rewrite every hash from the first entry on, as an attacker recomputing the chain would."""
    prev = GENESIS
    with app.app_context():
        for e in entries:
            digest = mac(prev, e)
            db.session.execute(
                sa.text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": prev, "h": "tmp" + digest[3:], "s": e["seq"]},
            )
            prev = digest
        # Second pass: the unique hash column would clash mid-way otherwise.
        prev = GENESIS
        for e in entries:
            digest = mac(prev, e)
            db.session.execute(
                sa.text("UPDATE audit_log SET hash = :h WHERE seq = :s"), {"h": digest, "s": e["seq"]}
            )
            prev = digest
        db.session.execute(
            sa.text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": entries[-1]["seq"], "h": prev}
        )
        db.session.commit()


def plain_sha(prev, e):
    return hashlib.sha256(
        canonical_entry(prev, e["seq"], e["at"], e["actor"], e["action"], e["subject"], e["data"])
    ).hexdigest()


def guessed_key(prev, e):
    return entry_hash(GUESS, prev, e["seq"], e["at"], e["actor"], e["action"], e["subject"], e["data"])


def as_dicts(app):
    return [
        {"seq": r.seq, "at": r.at, "actor": r.actor, "action": r.action, "subject": r.subject, "data": r.data}
        for r in rows(app)
    ]


def test_intact_trail_verifies_with_checkpoints(app, runner):
    fill(app, 250)
    code, output = verify(runner)
    assert code == 0, output
    marks = checkpoints(app)
    # The first commit, and the one crossing seq 100 (one commit here crosses both 100 and 200).
    assert [m["seq"] for m in marks] == [250]
    fill(app, 60)
    assert [m["seq"] for m in checkpoints(app)] == [250, 310]
    assert "intact, 310 entries" in verify(runner)[1]


def test_alter_an_entry_and_recompute_every_later_hash(app, runner):
    fill(app, 20)
    for mac in (plain_sha, guessed_key):
        sql(app, "UPDATE audit_log SET data = :d WHERE seq = 5", d=json.dumps({"i": "forged"}))
        entries = as_dicts(app)
        rechain(app, entries, mac)
        code, output = verify(runner)
        assert code == 1, output
        assert "entry 1 was altered" in output


def test_delete_entries_and_renumber(app, runner):
    fill(app, 20)
    sql(app, "DELETE FROM audit_log WHERE seq IN (7, 8)")
    sql(app, "UPDATE audit_log SET seq = seq - 2 WHERE seq > 8")
    rechain(app, as_dicts(app), plain_sha)
    code, output = verify(runner)
    assert code == 1
    assert "TAMPERED (altered)" in output and "deleted and renumbered" in output


def test_delete_and_renumber_without_rechaining(app, runner):
    fill(app, 20)
    sql(app, "DELETE FROM audit_log WHERE seq = 7")
    sql(app, "UPDATE audit_log SET seq = seq - 1 WHERE seq > 7")
    sql(app, "UPDATE audit_head SET seq = 19")
    code, output = verify(runner)
    assert code == 1
    assert "entry 7 does not link to entry 6" in output


def test_cut_the_tail_and_move_the_head_back(app, runner):
    fill(app, 150)
    fill(app, 10)  # checkpointed: seq 160 (this process's state after 150 is "first")
    top = max(m["seq"] for m in checkpoints(app))
    keep = top - 30
    with app.app_context():
        digest = db.session.scalar(sa.select(AuditEntry.hash).where(AuditEntry.seq == keep))
    sql(app, "DELETE FROM audit_log WHERE seq > :k", k=keep)
    sql(app, "UPDATE audit_head SET seq = :k, hash = :h", k=keep, h=digest)
    code, output = verify(runner)
    assert code == 1
    assert "TAMPERED (truncated)" in output
    assert f"the trail ends at seq {keep}" in output and f"covers seq {top}" in output


def test_empty_both_tables(app, runner):
    fill(app, 30)
    sql(app, "DELETE FROM audit_log")
    sql(app, "DELETE FROM audit_head")
    code, output = verify(runner)
    assert code == 1
    assert "TAMPERED (emptied)" in output and "checkpoint covers seq" in output


def test_a_forged_checkpoint_is_named(app, runner):
    fill(app, 10)
    path = app.config["REGISTRY"].audit_checkpoints
    line = json.loads(make_line(GUESS, 500, "f" * 64))
    append_line(path, json.dumps(line) + "\n")
    code, output = verify(runner)
    assert code == 1
    assert "TAMPERED (forged checkpoint)" in output and "(seq 500)" in output


def test_a_rolled_back_entry_is_never_checkpointed(app, runner):
    fill(app, 5)
    with app.app_context():
        record("test.write", "thing:x", {}, actor="clerk")
        record_many([("test.write", f"r:{i}", {}) for i in range(200)], actor="clerk")
        db.session.rollback()
    assert max(m["seq"] for m in checkpoints(app)) == 5
    record_after = runner.invoke(args=["audit", "checkpoint"])
    assert record_after.exit_code == 0 and "seq 5" in record_after.output
    assert verify(runner)[0] == 0


def test_checkpoint_command_and_public_key(app, runner):
    empty = runner.invoke(args=["audit", "checkpoint"])
    assert empty.exit_code == 0 and "nothing to checkpoint" in empty.output
    fill(app, 3)
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert checkpoints(app)[-1]["seq"] == 3
    pub = runner.invoke(args=["audit", "public-key"]).output.strip()
    with app.app_context():
        assert pub == app_keys().public_key_text


def _export(runner, tmp_path, *extra):
    out = tmp_path / "export.jsonl"
    result = runner.invoke(args=["audit", "export", "--output", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out, out.read_text(encoding="utf-8").splitlines()


def _verify_file(runner, tmp_path, lines, *extra):
    path = tmp_path / "tampered.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return verify(runner, "--file", str(path), *extra)


def test_export_cut_or_rewritten_is_caught(app, runner, tmp_path):
    fill(app, 8)
    out, lines = _export(runner, tmp_path)
    assert verify(runner, "--file", str(out))[0] == 0
    # Cut at the end: drop the trailer, or entries before it (a trailer alone proves the cut).
    code, output = _verify_file(runner, tmp_path, lines[:-1])
    assert code == 1 and "cut at the end" in output
    code, output = _verify_file(runner, tmp_path, lines[:-3] + lines[-1:])
    assert code == 1 and "TAMPERED (truncated)" in output
    # Cut at the start.
    code, output = _verify_file(runner, tmp_path, lines[2:])
    assert code == 1 and "cut at the start" in output
    # A readable (unhashed) field rewritten: the trailer's digest catches it.
    doc = json.loads(lines[3])
    doc["readable"]["i"] = "forged"
    code, output = _verify_file(runner, tmp_path, [*lines[:3], json.dumps(doc), *lines[4:]])
    assert code == 1 and "a line was rewritten" in output
    # The trailer re-signed by a guessed key.
    trailer = json.loads(lines[-1])
    trailer["trailer"]["count"] = 6
    trailer["sig"] = GUESS.sign(json.dumps(trailer["trailer"]).encode())
    code, output = _verify_file(runner, tmp_path, [*lines[:-3], json.dumps(trailer)])
    assert code == 1 and "TAMPERED (forged trailer)" in output


def test_export_verifies_with_the_public_key_alone(app, runner, tmp_path):
    fill(app, 4)
    out, lines = _export(runner, tmp_path, "--sealed-only")
    pub = runner.invoke(args=["audit", "public-key"]).output.strip()
    code, output = verify(runner, "--file", str(out), "--public-key", pub)
    assert code == 0, output
    assert "without REGISTRY_AUDIT_KEY" in output
    code, output = _verify_file(runner, tmp_path, lines[1:], "--public-key", pub)
    assert code == 1 and "cut at the start" in output
    wrong = runner.invoke(args=["audit", "verify", "--file", str(out), "--public-key", GUESS.public_key_text])
    assert wrong.exit_code == 1 and "forged trailer" in wrong.output
    assert runner.invoke(args=["audit", "verify", "--public-key", pub]).exit_code == 2


def _writer(path: str, n: int, tag: int) -> None:
    keys = AuditKeys(b"process-key-0123456789")
    for i in range(n):
        append_line(path, make_line(keys, tag * 10_000 + i, f"{tag:02d}" * 32))


def test_checkpoint_lines_stay_whole_with_several_processes(tmp_path):
    path = str(tmp_path / "shared.jsonl")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, 150, tag)) for tag in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    with open(path, encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh]
    assert len(docs) == 600
    assert sorted(d["seq"] for d in docs) == sorted(t * 10_000 + i for t in range(4) for i in range(150))
