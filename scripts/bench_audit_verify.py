"""The audit chain walk (``verify_chain``: what `registry audit verify` and the yearly report run).

Usage (a throwaway database; it is migrated, then filled up to N entries if it holds fewer):
    REGISTRY_DATABASE_URL=postgresql://127.0.0.1/bench_audit_verify python scripts/bench_audit_verify.py 2e5
    REGISTRY_DATABASE_URL=sqlite:////tmp/bench_audit_verify.db python scripts/bench_audit_verify.py 200000

Entries are appended by the real writer (``record_many``: keyed hashes, sealed personal fields on one
entry in ten, COPY on PostgreSQL) in batches of 10,000, with the checkpoints it writes on the way; then
ANALYZE. The baseline is a plain read of the same columns of every row in seq order with the DBAPI
cursor (server-side on PostgreSQL; data as its stored text, not decoded), no hashing: the ratio says
how far the walk is from the cost of just reading the trail. Each timing is the best of ``--repeat``
runs (default 2).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time

import sqlalchemy as sa
from flask_migrate import upgrade

from registry import create_app
from registry.audit.checkpoints import app_keys
from registry.audit.models import AuditEntry
from registry.audit.service import record_many
from registry.audit.verify import verify_chain
from registry.db import writing
from registry.extensions import db

BATCH = 10_000
SQL = (
    "SELECT seq, at, actor, action, subject, CAST(data AS TEXT), prev_hash, hash FROM audit_log ORDER BY seq"
)


def _entry(i: int) -> tuple[str, str, dict[str, object]]:
    if i % 10 == 0:
        return (
            "account.create",
            f"account:b{i}",
            {"username": f"user{i}", "display_name": "张三", "identifiers": {"phone": ["+86 138****0001"]}},
        )
    if i % 3 == 0:
        return ("ban.create", f"ban:{i}", {"rule": "R-7", "fields": ["phone", "device"], "accounts": [i]})
    return ("tier.change", f"account:b{i}", {"from": "standard", "to": "watch", "reason": "credit", "i": i})


def _load(have: int, n: int) -> float:
    start = time.perf_counter()
    for done in range(have, n, BATCH):
        with writing():
            record_many([_entry(i) for i in range(done, min(n, done + BATCH))], actor="bench")
            db.session.commit()
    return time.perf_counter() - start


def _analyze() -> None:
    with db.engine.connect() as conn:
        conn.execute(sa.text("ANALYZE"))
        conn.commit()


def _baseline() -> tuple[int, float]:
    """Read every row's columns in seq order through the bare DBAPI cursor (data as its stored text)."""
    start = time.perf_counter()
    raw = db.engine.raw_connection()
    try:
        if db.engine.dialect.name == "postgresql":
            cursor = raw.cursor(name="bench_baseline")
            cursor.itersize = 20_000
        else:
            cursor = raw.cursor()
        cursor.execute(SQL)
        count = 0
        while rows := cursor.fetchmany(20_000):
            count += len(rows)
        cursor.close()
        raw.rollback()
    finally:
        raw.close()
    return count, time.perf_counter() - start


def _walk(checkpoints: str) -> tuple[int, bool, float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    result = verify_chain(app_keys(), checkpoints)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if not result.ok:
        print(f"walk found problems: {[str(p) for p in result.problems]}", file=sys.stderr)
    db.session.rollback()
    return result.count, result.ok, seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=lambda text: int(float(text)), nargs="?", default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    state = os.environ.get("BENCH_STATE_DIR") or os.path.join(tempfile.gettempdir(), "bench_audit_verify")
    os.makedirs(state, exist_ok=True)
    url = os.environ.get("REGISTRY_DATABASE_URL", "")
    # The checkpoints belong with the database they sign: one file per database URL.
    checkpoints = os.path.join(state, f"checkpoints-{hashlib.sha256(url.encode()).hexdigest()[:12]}.jsonl")
    app = create_app(
        {
            "pii_key": "bench-pii-key-0123456789",
            "audit_key": "bench-audit-key-0123456789",
            "audit_checkpoints": checkpoints,
        }
    )
    with app.app_context():
        upgrade()
        have = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) or 0
        db.session.rollback()
        if have < args.n:
            seconds = _load(have, args.n)
            print(f"loaded {args.n - have} entries in {seconds:.1f} s ({(args.n - have) / seconds:,.0f}/s)")
        _analyze()
        base = min((_baseline() for _ in range(args.repeat)), key=lambda r: r[1])
        walk = min((_walk(checkpoints) for _ in range(args.repeat)), key=lambda r: r[2])
    count, seconds = base
    walked, ok, walk_seconds, walk_cpu = walk
    base_rate, walk_rate = count / seconds, walked / walk_seconds
    print(f"backend: {url.split(':', 1)[0]}; entries: {count}")
    print(f"baseline (plain SELECT, no hashing): {seconds:.2f} s ({base_rate:,.0f} rows/s)")
    print(
        f"verify_chain: ok={ok} {walked} entries in {walk_seconds:.2f} s ({walk_rate:,.0f} entries/s); "
        f"this process's CPU {walk_cpu:.2f} s ({walked / walk_cpu:,.0f} entries per CPU second)"
    )
    print(
        f"ratio walk/baseline time: {walk_seconds / seconds:.2f}; "
        f"1M entries extrapolated: {1_000_000 / walk_rate:.1f} s"
    )


if __name__ == "__main__":
    main()
