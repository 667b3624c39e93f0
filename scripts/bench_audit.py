"""Audit append rate (bulk, bulk with personal fields, one entry per commit), verify and export.

Usage (a throwaway database; it is migrated first):
    REGISTRY_DATABASE_URL=postgresql://127.0.0.1:5432/bench_audit python scripts/bench_audit.py 1000000
    REGISTRY_DATABASE_URL=sqlite:////tmp/bench_audit.db python scripts/bench_audit.py 300000

The ratios compare each append path with the plain bulk append of the same run (entries without
personal fields). The script also runs on the code before the keyed chain (PYTHONPATH=<old checkout>),
which is how the before/after figures in the README were taken.
"""

from __future__ import annotations

import inspect
import os
import resource
import sys
import tempfile
import time

from flask_migrate import upgrade

from registry import create_app
from registry.audit import verify as audit_verify
from registry.audit.service import record, record_many
from registry.db import writing
from registry.extensions import db

KEYED = "keys" in inspect.signature(audit_verify.verify_chain).parameters


def _bulk(n: int, personal: bool, offset: int) -> float:
    start = time.perf_counter()
    batch = 10_000
    for done in range(0, n, batch):
        with writing():
            size = min(batch, n - done)
            record_many(
                [
                    (
                        "account.create" if personal else "bench.write",
                        f"account:b{offset + done + i}",
                        {"i": done + i, "tier": "watch"}
                        | (
                            {
                                "username": f"user{done + i}",
                                "display_name": "张三",
                                "identifiers": {"phone": ["+86 138****0001"]},
                            }
                            if personal
                            else {}
                        ),
                    )
                    for i in range(size)
                ],
                actor="bench",
            )
            db.session.commit()
    return time.perf_counter() - start


def _single(n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        with writing():
            record(
                "tier.change",
                f"account:s{i % 50}",
                {"from": "standard", "to": "watch", "reason": "r"},
                actor="b",
            )
            db.session.commit()
    return time.perf_counter() - start


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    singles = max(200, n // 50)
    overrides = {"pii_key": os.environ.get("REGISTRY_PII_KEY", "bench-pii-key-0123456789")}
    if KEYED:
        overrides["audit_key"] = "bench-audit-key-0123456789"
        overrides["audit_checkpoints"] = os.path.join(tempfile.mkdtemp(), "checkpoints.jsonl")
    app = create_app(overrides)
    with app.app_context():
        upgrade()
        plain = _bulk(n, False, 0)
        personal = _bulk(n, True, n)
        single = _single(singles)
        total = 2 * n + singles
        start = time.perf_counter()
        if KEYED:
            from registry.audit.checkpoints import app_keys

            keys = app_keys()
            result = audit_verify.verify_chain(keys, app.config["REGISTRY"].audit_checkpoints)
            start_export = time.perf_counter()
            exported = sum(1 for _ in audit_verify.iter_export(keys)) - 1
        else:
            result = audit_verify.verify_chain()
            start_export = time.perf_counter()
            exported = sum(1 for _ in audit_verify.iter_export())
        verify = start_export - start
        export = time.perf_counter() - start_export
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base = n / plain
    print(f"code: {'keyed chain + sealed personal fields' if KEYED else 'plain SHA-256 chain'}")
    for label, count, seconds in (
        ("bulk append, no personal fields", n, plain),
        ("bulk append, personal fields", n, personal),
        ("one entry per commit", singles, single),
    ):
        rate = count / seconds
        print(f"{label:<32} {count} in {seconds:.1f} s ({rate:,.0f}/s) ratio {rate / base:.3f}")
    rate = result.count / verify
    print(f"verify: ok={result.ok} {result.count} of {total} entries in {verify:.1f} s ({rate:,.0f}/s)")
    print(f"export: {exported} entries in {export:.1f} s; peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
