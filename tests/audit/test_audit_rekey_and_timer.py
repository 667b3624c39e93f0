"""Migration 0002_audit re-keys a legacy trail; the checkpoint timer; several checkpoint files."""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import TEST_AUDIT_KEY, TEST_PII_KEY

from registry import create_app
from registry.audit.checkpoints import app_keys, append_line, make_line
from registry.audit.models import AuditEntry
from registry.audit.service import GENESIS, canonical_entry, opened_entries, record
from registry.audit.verify import verify_chain
from registry.extensions import db
from registry.timeutil import utcnow


def _legacy_app(url, tmp_path):
    return create_app(
        {
            "database_url": url,
            "env": "testing",
            "pii_key": TEST_PII_KEY,
            "audit_key": TEST_AUDIT_KEY,
            "audit_checkpoints": str(tmp_path / "cp.jsonl"),
            "audit_checkpoint_seconds": 0,
        }
    )


def _write_legacy(app, n, break_at=None):
    """Write a trail as the code before 0002 did: plain SHA-256, personal fields in clear."""
    at = (utcnow() - timedelta(days=1)).replace(microsecond=123456)
    prev = GENESIS
    with app.app_context():
        for seq in range(1, n + 1):
            data = {"username": f"legacy{seq}", "display_name": "王五", "tier": "standard"}
            digest = hashlib.sha256(
                canonical_entry(prev, seq, at, "clerk", "account.create", f"account:l{seq}", data)
            ).hexdigest()
            if seq == break_at:
                data = {**data, "tier": "edited"}
            db.session.execute(
                sa.text(
                    "INSERT INTO audit_log (seq, at, actor, action, subject, data, prev_hash, hash) "
                    "VALUES (:s, :at, 'clerk', 'account.create', :subj, :d, :p, :h)"
                ),
                {
                    "s": seq,
                    "at": at,
                    "subj": f"account:l{seq}",
                    "d": json.dumps(data),
                    "p": prev,
                    "h": digest,
                },
            )
            prev = digest
        db.session.execute(
            sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, :s, :h)"), {"s": n, "h": prev}
        )
        db.session.commit()
        return prev


def test_migration_rekeys_a_legacy_trail(fresh_url, tmp_path):
    from flask_migrate import upgrade

    app = _legacy_app(fresh_url, tmp_path)
    with app.app_context():
        upgrade(revision="0001")
    legacy_head = _write_legacy(app, 30)
    with app.app_context():
        upgrade()
        rows = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert len(rows) == 31
        raw = json.dumps([r.data for r in rows], ensure_ascii=False)
        assert "legacy7" not in raw and "王五" not in raw
        assert rows[-1].action == "audit.rekey"
        assert rows[-1].data == {"legacy_entries": 30, "legacy_head": legacy_head, "legacy_problem": None}
        assert opened_entries(rows[6:7])[0].data["username"] == "legacy7"
        result = verify_chain(app_keys(), str(tmp_path / "cp.jsonl"))
        assert result.ok, result.problem and result.problem.message
        assert result.count == 31
        db.session.remove()
        db.engine.dispose()


def test_migration_refuses_a_broken_legacy_trail(fresh_url, tmp_path, monkeypatch, caplog):
    from flask_migrate import upgrade

    app = _legacy_app(fresh_url, tmp_path)
    with app.app_context():
        upgrade(revision="0001")
    _write_legacy(app, 10, break_at=4)
    with app.app_context():
        with pytest.raises(SystemExit):  # flask-migrate logs the message and exits 1
            upgrade()
        assert "legacy entry 4 does not verify" in caplog.text
        db.session.remove()
        monkeypatch.setenv("REGISTRY_AUDIT_REKEY_BROKEN", "1")
        upgrade()
        last = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        assert last.action == "audit.rekey" and "entry 4" in last.data["legacy_problem"]
        assert verify_chain(app_keys(), str(tmp_path / "cp.jsonl")).ok
        db.session.remove()
        db.engine.dispose()


def _seqs(path):
    return [json.loads(line)["seq"] for line in path.read_text().splitlines()]


def test_the_timer_checkpoints_what_a_quiet_process_committed(app_factory, tmp_path):
    app = app_factory(audit_checkpoint_seconds=0.3, audit_checkpoints=str(tmp_path / "timer.jsonl"))
    with app.app_context():
        record("test.write", "thing:1", {}, actor="t")
        db.session.commit()  # the process's first commit: a checkpoint at once
        record("test.write", "thing:2", {}, actor="t")
        db.session.commit()  # nothing crossed: the timer will write it
        path = tmp_path / "timer.jsonl"
        first = _seqs(path)
        deadline = time.monotonic() + 10
        while len(_seqs(path)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(first) == 1 and _seqs(path) == [first[0], first[0] + 1]


def test_any_of_several_checkpoint_files_binds_the_trail(app, runner, tmp_path):
    with app.app_context():
        for i in range(5):
            record("test.write", f"thing:{i}", {}, actor="t")
        db.session.commit()
        head = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        other = tmp_path / "other-host.jsonl"
        append_line(str(other), make_line(app_keys(), head.seq, head.hash))
    own = app.config["REGISTRY"].audit_checkpoints
    os.unlink(own)
    with app.app_context():
        db.session.execute(sa.delete(AuditEntry).where(AuditEntry.seq == head.seq))
        db.session.execute(sa.text("UPDATE audit_head SET seq = seq - 1"))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify", "--checkpoints", own, "--checkpoints", str(other)])
    assert result.exit_code == 1 and "TAMPERED (truncated)" in result.output


def test_an_unwritable_checkpoint_file_does_not_fail_the_committed_request(
    app_factory, auth, tmp_path, caplog
):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    app = app_factory(audit_checkpoints=str(blocker / "cp.jsonl"))
    headers = auth("accounts:write", app=app)
    response = app.test_client().post("/v1/accounts", json={"id": "c1", "username": "c_one"}, headers=headers)
    assert response.status_code == 201, response.json
    assert "could not write an audit checkpoint" in caplog.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) >= 2
    # Let this process's exit-time checkpoint land somewhere writable.
    blocker.unlink()
