"""Fill an audit trail with N entries, then time `verify` (and export) over it.

Usage (a throwaway database; it is migrated first):
    REGISTRY_DATABASE_URL=postgresql://127.0.0.1:5432/bench_audit python scripts/bench_audit.py 1000000
    REGISTRY_DATABASE_URL=sqlite:////tmp/bench_audit.db python scripts/bench_audit.py 300000
"""

from __future__ import annotations

import os
import resource
import sys
import time

from flask_migrate import upgrade

from registry import create_app
from registry.audit.service import record_many
from registry.audit.verify import iter_export, verify_chain
from registry.db import writing
from registry.extensions import db


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    app = create_app({"pii_key": os.environ.get("REGISTRY_PII_KEY", "bench-pii-key-0123456789")})
    with app.app_context():
        upgrade()
        start = time.perf_counter()
        batch = 10_000
        for done in range(0, n, batch):
            with writing():
                size = min(batch, n - done)
                record_many(
                    [
                        ("bench.write", f"account:b{done + i}", {"i": done + i, "tier": "watch"})
                        for i in range(size)
                    ],
                    actor="bench",
                )
                db.session.commit()
        fill = time.perf_counter() - start
        start = time.perf_counter()
        result = verify_chain()
        verify = time.perf_counter() - start
        start = time.perf_counter()
        exported = sum(1 for _ in iter_export())
        export = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"appended {n} in {fill:.1f} s ({n / fill:,.0f}/s)")
    print(f"verify: ok={result.ok} {result.count} entries in {verify:.1f} s ({result.count / verify:,.0f}/s)")
    print(f"export: {exported} entries in {export:.1f} s; peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
