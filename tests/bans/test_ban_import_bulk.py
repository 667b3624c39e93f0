"""The bulk import path (COPY on PostgreSQL, executemany on SQLite) stores what the API path stores."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from registry.audit.models import AuditEntry
from registry.audit.service import opened_entries
from registry.bans.models import Ban, BanIdentifier, BanName
from registry.extensions import db
from registry.index_changes import IndexChange

# Characters COPY's text format must escape, plus non-ASCII, in every user-supplied column.
AWKWARD = ["tab\there", "back\\slash", "new\nline", "cr\rturn", "王小明", "Ｗａｎｇ", 'quote"d', "\\N"]


def _line(i: int) -> str:
    body = {
        "names": [f"{AWKWARD[i % len(AWKWARD)]}_{i}"],
        "identifiers": {
            "phone": [f"+86 138 {i:04d} {i % 10000:04d}" if i % 2 else f"1390000{i:04d}"],
            "email": [f"User.{i}@Example.COM"],
        },
        "reason": f"reason {AWKWARD[(i + 3) % len(AWKWARD)]}",
        "rule": "R1",
    }
    if i % 7 == 0:
        body["expires_at"] = "2039-06-01T08:00:00+08:00"
    if i % 50 == 0:
        body["identifiers"]["ip"] = [f"10.{i % 256}.0.0/16"]
    return json.dumps(body, ensure_ascii=False)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_bulk_import_stores_exact_rows_and_keeps_the_audit_chain(
    app, runner, client, auth, tmp_path, workers
):
    n = 450  # above the COPY threshold in one batch
    path = tmp_path / "bulk.jsonl"
    path.write_text("\n".join(_line(i) for i in range(n)) + "\n", encoding="utf-8")
    result = runner.invoke(args=["bans", "import", "--workers", workers, "--batch-size", "1000", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{n} lines read, {n} created, 0 already present, 0 rejected" in result.output
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Ban))
        assert count == n
        for model, expected in ((BanIdentifier, 2 * n + 9), (BanName, n), (IndexChange, n)):
            assert db.session.scalar(sa.select(sa.func.count()).select_from(model)) == expected
        names = set(db.session.scalars(sa.select(BanName.name)))
        assert names == {f"{AWKWARD[i % len(AWKWARD)]}_{i}" for i in range(n)}
        bans = {b.reason: b for b in db.session.scalars(sa.select(Ban).where(Ban.reason.like("reason%")))}
        assert {f"reason {a}" for a in AWKWARD} <= set(bans)
        entries = opened_entries(
            db.session.scalars(
                sa.select(AuditEntry).where(AuditEntry.action == "ban.create").order_by(AuditEntry.seq)
            ).all()
        )
        assert len(entries) == n and entries[0].data["names"] == [f"{AWKWARD[0]}_0"]
        assert entries[0].data["expires_at"] == "2039-06-01T00:00:00+00:00"
        assert entries[1].data["identifiers"]["phone"] == ["+86 138****0001"]
        any_ban = db.session.scalar(sa.select(Ban.id).order_by(Ban.id).limit(1))
    shown = client.get(f"/v1/bans/{any_ban}", headers=auth("bans:read")).get_json()
    assert shown["identifiers"]["email"] and "@example.com" in shown["identifiers"]["email"][0]
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    again = runner.invoke(args=["bans", "import", "--workers", workers, str(path)])
    assert f"0 created, {n} already present, 0 rejected" in again.output
