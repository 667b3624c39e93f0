"""Benchmark the back-check of new bans (registry/backcheck) on PostgreSQL against a baseline, in one run.

Usage: python scripts/bench_backcheck.py [--accounts 200000] [--baseline 10000] [--bans 20000] [--singles 200]

For the baseline population and the full one, each in a throwaway database migrated with ``registry db
upgrade`` and loaded through the bulk paths (``registry accounts import``: worker processes and COPY):

1. Import back-check: ``registry bans import --no-backcheck`` of --bans bans (scripts/gen_population.py:
   the next people of the same population, their names and identifiers, plus 1% of lines banning the
   identifiers of an existing account, which must open reviews), then ``registry bans backcheck`` in a
   fresh process, timed: bans/s, and the time for 100,000 bans extrapolated linearly from it (each
   batch costs the same: the same probes against the same indexes).
2. One ban's back-check: --singles bans made one at a time in process (half a population ban, half a
   ban of an existing account's phone and handle), each committed, then ``judge_bans([id])`` timed
   with its commit (what the in-process after-commit pass of POST /v1/bans does): p50/p99/max.

Prints both sizes and full/baseline ratios. Targets (issue 12): one ban <= 50 ms and a 100k-ban import
<= 5 min at 2M accounts. The databases are dropped at the end (--keep leaves them).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_population import Population  # noqa: E402 - the generator lives beside this script

VENV_BIN = Path(sys.executable).parent
REGISTRY = str(VENV_BIN / "registry")
PII_KEY = "bench-backcheck-pii-key-not-a-secret"
AUDIT_KEY = "bench-backcheck-audit-key-not-a-secret"
PG = "postgresql://postgres@127.0.0.1:5432"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def psql(db: str, sql: str) -> None:
    subprocess.run(["psql", f"{PG}/{db}", "-q", "-c", sql], check=True, capture_output=True)


def env_for(db: str, instance: Path) -> dict[str, str]:
    return {
        **os.environ,
        "REGISTRY_DATABASE_URL": f"{PG}/{db}",
        "REGISTRY_PII_KEY": PII_KEY,
        "REGISTRY_AUDIT_KEY": AUDIT_KEY,
        "REGISTRY_INSTANCE_PATH": str(instance),
        "REGISTRY_INDEX_SNAPSHOT": "off",
        "REGISTRY_LOG_LEVEL": "WARNING",
    }


def run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return time.perf_counter() - t, out.stdout + out.stderr


def files(tmp: Path, accounts: int, bans: int) -> tuple[Path, Path, list[dict]]:
    """Write the accounts and the bans (with 1% hitting existing accounts); return singles' bodies too."""
    pop = Population(seed=1)
    acc = tmp / f"accounts-{accounts}.jsonl"
    pop.write_accounts(acc, accounts)
    existing = [json.loads(line) for line in acc.open(encoding="utf-8")]
    ban_path = tmp / f"bans-{accounts}.jsonl"
    pop.write_bans(ban_path, bans)
    rng = random.Random(7)
    lines = ban_path.read_text(encoding="utf-8").splitlines()
    for i in range(0, len(lines), 100):
        victim = rng.choice(existing)
        lines[i] = json.dumps(
            {"identifiers": {"phone": [victim["phone"]]}, "reason": "ring", "rule": "R1"}, ensure_ascii=False
        )
    ban_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    other = Population(seed=2)
    singles: list[dict] = [other.ban_body(other.person(10_000_000 + i)) for i in range(1000)]
    for i in range(0, len(singles), 2):
        victim = rng.choice(existing)
        singles[i] = {
            "identifiers": {"phone": [victim["phone"]]},
            "names": [victim["username"]],
            "reason": "ring",
            "rule": "R1",
        }
    return acc, ban_path, singles


def load(db: str, accounts: Path, instance: Path) -> float:
    subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {db}"], check=True)
    subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", f"CREATE DATABASE {db}"], check=True)
    env = env_for(db, instance)
    run([REGISTRY, "db", "upgrade"], env)
    seconds, _ = run([REGISTRY, "accounts", "import", str(accounts)], env)
    psql(db, "VACUUM ANALYZE")
    return seconds


def import_backcheck(db: str, bans: Path, instance: Path) -> dict[str, float]:
    env = env_for(db, instance)
    run([REGISTRY, "bans", "import", "--no-backcheck", str(bans)], env)
    psql(db, "VACUUM ANALYZE")
    seconds, text = run([REGISTRY, "bans", "backcheck"], env)
    n = sum(1 for _ in bans.open())
    line = [t for t in text.splitlines() if t.startswith("backcheck:")][-1]
    log(f"  {db}: {line}")
    reviews = int(line.split(" reviews opened")[0].rsplit(" ", 1)[-1])
    return {"seconds": seconds, "per_s": n / seconds, "100k_s": seconds * 100_000 / n, "reviews": reviews}


def singles(db: str, bodies: list[dict], n: int, instance: Path) -> dict[str, float]:
    os.environ.update({k: v for k, v in env_for(db, instance).items() if k.startswith("REGISTRY_")})
    from registry import create_app
    from registry.backcheck.service import judge_bans
    from registry.bans.schemas import BanIn
    from registry.bans.service import add_ban
    from registry.db import writing
    from registry.extensions import db as sqla

    app = create_app()
    times: list[float] = []
    opened = 0
    with app.app_context(), writing():
        schema = BanIn()
        for body in bodies[:n]:
            ban = add_ban(schema.load(body), actor="bench", source="api")
            sqla.session.commit()
            t = time.perf_counter()
            result = judge_bans([ban.id], actor="bench")
            sqla.session.commit()
            times.append(time.perf_counter() - t)
            opened += len(result.reviews)
        sqla.session.remove()
    with app.app_context():
        sqla.engine.dispose()
    times.sort()
    ms = [t * 1000 for t in times]
    return {
        "p50": statistics.median(ms),
        "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max": ms[-1],
        "reviews": opened,
    }


def measure(label: str, accounts: int, bans: int, n_singles: int, tmp: Path, keep: bool) -> dict[str, object]:
    db = f"bench_backcheck_{accounts}"
    instance = tmp / db
    instance.mkdir(exist_ok=True)
    log(f"{label}: writing {accounts:,} accounts and {bans:,} bans")
    acc, ban_path, bodies = files(tmp, accounts, bans)
    seconds = load(db, acc, instance)
    log(f"{label}: accounts import {accounts:,} in {seconds:.1f} s ({accounts / seconds:,.0f}/s)")
    imp = import_backcheck(db, ban_path, instance)
    log(
        f"{label}: import back-check {bans:,} bans in {imp['seconds']:.1f} s ({imp['per_s']:,.0f} bans/s; "
        f"100k bans -> {imp['100k_s']:.0f} s), {imp['reviews']} reviews"
    )
    one = singles(db, bodies, n_singles, instance)
    log(
        f"{label}: one ban p50 {one['p50']:.1f} ms, p99 {one['p99']:.1f} ms, max {one['max']:.1f} ms "
        f"({one['reviews']} reviews over {n_singles})"
    )
    if not keep:
        subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {db}"], check=False)
    return {"import": imp, "one": one}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=200_000)
    ap.add_argument("--baseline", type=int, default=10_000)
    ap.add_argument("--bans", type=int, default=20_000)
    ap.add_argument("--singles", type=int, default=200)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-backcheck-") as tmp:
        base = measure("baseline", args.baseline, args.bans, args.singles, Path(tmp), args.keep)
        full = measure("full", args.accounts, args.bans, args.singles, Path(tmp), args.keep)
    bi, fi = base["import"], full["import"]
    bo, fo = base["one"], full["one"]
    assert isinstance(bi, dict) and isinstance(fi, dict) and isinstance(bo, dict) and isinstance(fo, dict)
    print()
    print(f"accounts                 {args.baseline:>12,} {args.accounts:>12,}    ratio")
    print(
        f"import back-check bans/s {bi['per_s']:>12,.0f} {fi['per_s']:>12,.0f}  {fi['per_s'] / bi['per_s']:6.2f}x"
    )
    print(
        f"100k-ban import, s       {bi['100k_s']:>12,.0f} {fi['100k_s']:>12,.0f}  {fi['100k_s'] / bi['100k_s']:6.2f}x"
    )
    for k in ("p50", "p99", "max"):
        print(f"one ban {k}, ms          {bo[k]:>12.1f} {fo[k]:>12.1f}  {fo[k] / bo[k]:6.2f}x")
    print("targets at 2M accounts: one ban <= 50 ms, 100k-ban import <= 300 s")


if __name__ == "__main__":
    main()
