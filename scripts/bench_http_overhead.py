"""Measure what the WSGI stack costs a signup check, in process (no sockets, no gunicorn).

Usage:
  python scripts/bench_http_overhead.py --database-url URL --bans-file BANS.jsonl [--requests 3000]
      [--rounds 3] [--compare OTHER_TREE] [--profile OUT.prof]

The database must hold the bans of BANS.jsonl (``registry db upgrade`` then ``registry bans import``;
make the file with ``scripts/gen_bans.py``). Traffic is the bench_check mix: 95% innocent signups
(fresh identifiers in most bodies, so they are allowed), 5% with a reformatted banned identifier.

Per round and in one process: requests/s of ``GET /healthz`` and ``POST /v1/check`` through
``app.test_client()``, and of the view's service call ``run_check`` made directly (the check without HTTP), so
``check - service`` is what Flask, parsing, dumping, the hooks and metrics add. Metrics run in
prometheus_client's multiprocess mode, as under ``registry serve``.

``--compare OTHER_TREE`` (e.g. a ``git worktree`` of an older commit) alternates rounds between that
tree and this one, each in a fresh process, and prints both side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PII_KEY = "bench-check-pii-key-not-a-secret"


def bodies(bans_file: Path, n: int, seed: int) -> list[str]:
    """Return n JSON bodies: 95% innocent signups, 5% carrying a banned identifier."""
    sys.path.insert(0, str(HERE))
    from bench_check import _identifiers, innocent_body, read_labelled

    rng = random.Random(seed)
    labelled = read_labelled(bans_file, 1000)
    n_banned = n // 20
    out = [innocent_body(rng) for _ in range(n - n_banned)]
    out += [q["body"] for q in _identifiers(labelled, n_banned, rng, "traffic")]
    rng.shuffle(out)
    return [json.dumps(b, ensure_ascii=False) for b in out]


def child(args: argparse.Namespace) -> None:
    """Run one round in this process against the registry package found in args.tree."""
    sys.path.insert(0, str(Path(args.tree).resolve()))
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="hob-metrics-"))
    os.environ.update(
        REGISTRY_DATABASE_URL=args.database_url,
        REGISTRY_PII_KEY=PII_KEY,
        REGISTRY_INSTANCE_PATH=tempfile.mkdtemp(prefix="hob-instance-"),
        REGISTRY_LOG_LEVEL="INFO",
    )
    from flask import g

    import registry
    from registry import create_app
    from registry.auth.service import create_key
    from registry.check.index import warm
    from registry.check.schemas import CheckIn
    from registry.check.service import run_check as run_check_service
    from registry.extensions import db

    assert Path(registry.__file__).resolve().is_relative_to(Path(args.tree).resolve()), registry.__file__
    app = create_app()
    warm(app)
    with app.app_context():
        _key, secret = create_key(f"hob-{time.time_ns()}", ["check"], actor="bench")
        db.session.commit()
    payloads = [b.encode() for b in bodies(Path(args.bans_file), args.requests, args.seed)]
    decoded = [json.loads(b) for b in payloads]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

    def run_check() -> float:
        t = time.perf_counter()
        for body in payloads:
            r = client.post("/v1/check", data=body, headers=headers)
            if r.status_code != 200:
                raise SystemExit(f"check answered {r.status_code}: {r.get_data(as_text=True)}")
        return time.perf_counter() - t

    def run_healthz() -> float:
        t = time.perf_counter()
        for _ in payloads:
            r = client.get("/healthz")
            if r.status_code != 200:
                raise SystemExit(f"healthz answered {r.status_code}")
        return time.perf_counter() - t

    def run_service() -> float:
        # The view's service call without HTTP: same decisions, same writes for review/deny.
        t = time.perf_counter()
        for data in decoded:
            with app.test_request_context("/v1/check", method="POST"):
                g.actor = "bench"
                run_check_service(CheckIn().load(data))
        return time.perf_counter() - t

    run_check()  # warm-up: caches, first connections, lazily built schemas
    run_healthz()
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        run_check()
        prof.disable()
        prof.dump_stats(args.profile)
    n = len(payloads)
    result = {
        "tree": str(args.tree),
        "healthz_per_s": n / run_healthz(),
        "check_per_s": n / run_check(),
        "service_per_s": n / run_service(),
    }
    print("HOB_JSON " + json.dumps(result), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--bans-file", required=True)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--tree", default=str(HERE.parent), help=argparse.SUPPRESS)
    ap.add_argument("--compare", help="another source tree to alternate rounds with")
    ap.add_argument("--profile", help="write a cProfile of one round of checks here (this tree only)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    trees = [args.compare, str(HERE.parent)] if args.compare else [str(HERE.parent)]
    results: dict[str, list[dict[str, float]]] = {t: [] for t in trees}
    for r in range(args.rounds):
        for tree in trees:
            cmd = [sys.executable, __file__, "--child", "--tree", tree, "--database-url", args.database_url,
                   "--bans-file", args.bans_file, "--requests", str(args.requests),
                   "--seed", str(args.seed)]  # fmt: skip
            if args.profile and r == 0 and tree == str(HERE.parent):
                cmd += ["--profile", args.profile]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tempfile.gettempdir())
            line = next((x for x in proc.stdout.splitlines() if x.startswith("HOB_JSON ")), None)
            if line is None:
                raise SystemExit(f"round failed ({tree}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
            res = json.loads(line.removeprefix("HOB_JSON "))
            results[tree].append(res)
            print(
                f"round {r + 1} {tree}: healthz {res['healthz_per_s']:,.0f}/s"
                f"  check {res['check_per_s']:,.0f}/s  service {res['service_per_s']:,.0f}/s",
                flush=True,
            )
    print(f"\n{args.requests} requests a round, median of {args.rounds} rounds (in process, one thread):")
    print(f"{'tree':40s} {'healthz/s':>10s} {'check/s':>9s} {'service/s':>9s} {'check/healthz':>14s} "
          f"{'check us':>9s} {'service us':>10s} {'overhead us':>12s}")  # fmt: skip
    for tree, rounds in results.items():
        h = statistics.median(x["healthz_per_s"] for x in rounds)
        c = statistics.median(x["check_per_s"] for x in rounds)
        d = statistics.median(x["service_per_s"] for x in rounds)
        print(
            f"{tree[-40:]:40s} {h:10,.0f} {c:9,.0f} {d:9,.0f} {c / h:14.2f} {1e6 / c:9.0f} {1e6 / d:10.0f}"
            f" {1e6 / c - 1e6 / d:12.0f}"
        )


if __name__ == "__main__":
    main()
