"""The bulk account import (worker processes, COPY on PostgreSQL): the same rows, errors, counts, trail."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import sqlalchemy as sa

from registry.accounts.bulk import COPY_MIN_ROWS
from registry.accounts.models import Account, NameKeyCount
from registry.audit.models import AuditEntry
from registry.audit.service import opened_entries
from registry.extensions import db
from registry.matching.commonness import account_keys, key_hash

# Columns set at insert time, not from the document.
# index_event_id: the change log row of the write, one per import batch and one per created account.
VOLATILE = {"created_at", "updated_at", "registered_at", "index_event_id"}


@pytest.fixture
def headers(auth):
    return auth("accounts:write")


def _good(i: int, prefix: str = "bulk") -> dict:
    return {
        "id": f"{prefix}{i:05d}",
        "username": f"wang.wei{i % 7}",
        "display_name": "王伟" if i % 2 else "Tony 李",
        "phone": f"1380013{i:04d}",
        "email": f"User.{i}+x@GoogleMail.com",
        "device_id": f"dev-{i}",
    }


BAD = [
    "{broken json",
    json.dumps({"id": "badphone", "username": "x1", "phone": "12"}),
    json.dumps(["not", "an", "object"]),
    json.dumps({"username": "no id"}),
    json.dumps({"id": "nul", "username": "a\u0000"}),
]


def _file(tmp_path, name: str, n: int, prefix: str = "bulk") -> tuple:
    lines = [json.dumps(_good(i, prefix), ensure_ascii=False) for i in range(n)]
    # Bad lines spread through the file, a repeat of an earlier id, and one already in the database.
    for j, bad in enumerate(BAD):
        lines.insert(1 + j * (n // len(BAD)), bad)
    lines.insert(n // 2, json.dumps({"id": f"{prefix}00003", "username": "twice"}))
    lines.insert(n // 3, json.dumps({"id": "present", "username": "again"}))
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


def _run(runner, path, workers: int):
    result = runner.invoke(
        args=["accounts", "import", str(path), "--workers", str(workers), "--batch-size", "300"]
    )
    assert result.exit_code == 1, result.output
    return result.output


def _line_notes(output: str) -> list[str]:
    return sorted(line for line in output.splitlines() if line.startswith("line "))


@pytest.mark.parametrize("workers", [1, 2])
def test_the_bulk_import_stores_what_one_by_one_creation_stores(
    app, runner, client, headers, tmp_path, workers
):
    n = COPY_MIN_ROWS + 150
    assert (
        client.post("/v1/accounts", json={"id": "present", "username": "p"}, headers=headers).status_code
        == 201
    )
    path, _ = _file(tmp_path, "bulk.jsonl", n)
    out = _run(runner, path, workers)
    assert f"{n} created" in out
    notes = _line_notes(out)
    assert len(notes) == len(BAD) + 2
    assert any("twice" in x for x in notes) and any("exists already" in x for x in notes)
    assert any("phone" in x for x in notes) and any("must not contain NUL" in x for x in notes)
    # The same document through the API, for comparison.
    ref = {**_good(7), "id": "ref7"}
    assert client.post("/v1/accounts", json=ref, headers=headers).status_code == 201
    with app.app_context():
        cols = [c.name for c in Account.__table__.columns if c.name not in VOLATILE | {"id"}]
        got = db.session.get(Account, "bulk00007")
        want = db.session.get(Account, "ref7")
        assert {c: getattr(got, c) for c in cols} == {c: getattr(want, c) for c in cols}
        # Counts: each account once per distinct key it holds, "present" and "ref7" included (their
        # statistics keys, such as a name's length, are shared with the imported ones).
        expected: Counter[int] = Counter()
        for doc in [*(_good(i) for i in range(n)), {"username": "p", "display_name": None}, ref]:
            expected.update(key_hash(k) for k in account_keys(doc["username"], doc.get("display_name")))
        for h, c in list(expected.items())[:50]:
            stored = db.session.scalar(sa.select(NameKeyCount.accounts).where(NameKeyCount.key_hash == h))
            assert stored == c, h
        # One audit entry per created account, from the import.
        entries = opened_entries(
            db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "account.create")).all()
        )
        imported = [e for e in entries if (e.data or {}).get("source") == "import"]
        assert len(imported) == n
        assert {e.subject for e in imported} == {f"account:bulk{i:05d}" for i in range(n)}


def test_workers_and_no_workers_report_the_same_lines(app, runner, client, headers, tmp_path):
    assert (
        client.post("/v1/accounts", json={"id": "present", "username": "p"}, headers=headers).status_code
        == 201
    )
    outputs = []
    for workers, prefix in ((1, "qqa"), (2, "qqb")):
        path, _ = _file(tmp_path, f"same-{workers}.jsonl", 40, prefix)
        outputs.append([x.replace(prefix, "ID") for x in _line_notes(_run(runner, path, workers))])
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == len(BAD) + 2
