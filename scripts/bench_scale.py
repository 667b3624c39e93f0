"""Benchmark the check index at scale on PostgreSQL: account import rate, build, snapshot, check latency.

Usage: python scripts/bench_scale.py [--bans 1000000 --accounts 2000000] [--keep] [--data DIR]

1. Writes one population (scripts/gen_population.py) and loads it through the CLI into a throwaway
   database migrated with ``registry db upgrade``: ``registry accounts import`` then ``registry bans
   import --no-backcheck`` (the back-check is scripts/bench_backcheck.py's); ANALYZE afterwards
   (autovacuum may be off). Prints each import's rate.
2. ``registry index snapshot`` in a fresh process: the index built from the database, and its snapshot
   written. Then ``registry index load`` in another fresh process: the snapshot read back.
3. In one process per database: ``decide`` (the app's check function) over generated signups
   (innocents, disguised rare returns of every trick, common-name returns): p50/p99, at the full size and
   at a baseline database holding the file's first 1k bans (and 2k accounts), and their p50 ratio.
Targets (issue 9.5 / its part 5): build <= 10 s or snapshot load <= 3 s; p50 <= 0.5 ms, p99 <= 2 ms;
p50 ratio <= 1.3; account import >= 10,000/s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

VENV_BIN = Path(sys.executable).parent
REGISTRY = str(VENV_BIN / "registry")
PII_KEY = "bench-scale-pii-key-not-a-secret"
AUDIT_KEY = "bench-scale-audit-key-not-a-secret"
PG = "postgresql://postgres@127.0.0.1:5432"


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", sql], check=True)


def run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return time.perf_counter() - t, out.stdout + out.stderr


def env_for(db: str, instance: Path) -> dict[str, str]:
    return {
        **os.environ,
        "REGISTRY_DATABASE_URL": f"{PG}/{db}",
        "REGISTRY_PII_KEY": PII_KEY,
        "REGISTRY_AUDIT_KEY": AUDIT_KEY,
        "REGISTRY_INSTANCE_PATH": str(instance),
        "REGISTRY_LOG_LEVEL": "WARNING",
    }


def load(db: str, accounts: Path, bans: Path, instance: Path) -> dict[str, float]:
    """Create and migrate db, import both files through the CLI, analyse; return the timings."""
    psql(f"DROP DATABASE IF EXISTS {db}")
    psql(f"CREATE DATABASE {db}")
    env = env_for(db, instance)
    run([REGISTRY, "db", "upgrade"], env)
    out: dict[str, float] = {}
    for kind, path in (("accounts", accounts), ("bans", bans)):
        lines = sum(1 for _ in path.open())
        # The back-check of the new bans against the accounts is its own pass (bench_backcheck.py).
        extra = ["--no-backcheck"] if kind == "bans" else []
        seconds, text = run([REGISTRY, kind, "import", str(path), *extra], env)
        out[f"{kind}_import_s"] = seconds
        out[f"{kind}_per_s"] = lines / seconds
        print(
            f"  {db}: {kind} import {lines:,} lines in {seconds:.1f} s ({lines / seconds:,.0f}/s)", flush=True
        )
        del text
    t = time.perf_counter()
    subprocess.run(["psql", f"{PG}/{db}", "-q", "-c", "VACUUM ANALYZE"], check=True)
    print(f"  {db}: VACUUM ANALYZE {time.perf_counter() - t:.1f} s", flush=True)
    return out


def snapshot_times(db: str, instance: Path) -> dict[str, float]:
    """Build + write the snapshot in one fresh process, load it in another; return the timings."""
    env = env_for(db, instance)
    _, text = run([REGISTRY, "index", "snapshot"], env)
    print("  " + text.strip().splitlines()[-1], flush=True)
    m = re.search(r"built in ([\d.]+) s, written in ([\d.]+) s", text)
    size = re.search(r"\(([\d,]+) bytes\)", text)
    _, text2 = run([REGISTRY, "index", "load"], env)
    print("  " + text2.strip().splitlines()[-1], flush=True)
    m2 = re.search(r"from the (\w+) in ([\d.]+) s", text2)
    assert m and m2 and size, (text, text2)
    if m2.group(1) != "snapshot":
        sys.exit(f"the snapshot was not used: {text2}")
    return {
        "build_s": float(m.group(1)),
        "write_s": float(m.group(2)),
        "snapshot_mb": int(size.group(1).replace(",", "")) / 1e6,
        "load_s": float(m2.group(2)),
    }


_LATENCY = r"""
import json, sys, time, statistics
from registry import create_app
from registry.check.index import get_index
from registry.check.service import decide
bodies = json.load(open(sys.argv[1]))
app = create_app()
with app.app_context():
    engine = get_index(app)
    engine.ensure_ready()
    for b in bodies[:200]:
        decide(b, engine)
    times, decisions = [], {}
    for _ in range(2):
        for b in bodies:
            t = time.perf_counter()
            result, _ = decide(b, engine)
            times.append(time.perf_counter() - t)
            decisions[result.decision] = decisions.get(result.decision, 0) + 1
    times.sort()
    print(json.dumps({"p50_ms": times[len(times) // 2] * 1e3, "p99_ms": times[int(len(times) * 0.99)] * 1e3,
                      "source": engine.source, "ready_s": engine.build_seconds, "decisions": decisions}))
"""


def latency(db: str, instance: Path, bodies_file: Path) -> dict[str, object]:
    env = env_for(db, instance)
    _, text = run([sys.executable, "-c", _LATENCY, str(bodies_file)], env)
    return json.loads(text.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bans", type=int, default=1_000_000)
    ap.add_argument("--accounts", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--data", type=Path, default=None, help="Write the generated files here.")
    ap.add_argument("--keep", action="store_true", help="Keep the big database (its name is printed).")
    ap.add_argument("--signups", type=int, default=1500)
    args = ap.parse_args()

    from gen_population import TRICKS, Population

    data = args.data or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    data.mkdir(parents=True, exist_ok=True)
    accounts, bans = data / f"accounts-{args.accounts}.jsonl", data / f"bans-{args.bans}.jsonl"
    pop = Population(args.seed)
    t = time.perf_counter()
    # Always written: the signups are drawn from the population object that wrote the files.
    pop.write_accounts(accounts, args.accounts)
    pop.write_bans(bans, args.bans)
    print(f"population: {args.accounts:,} accounts, {args.bans:,} bans ({time.perf_counter() - t:.0f} s)")
    bodies = [s.body for s in pop.innocents(int(args.signups * 0.9))]
    per_trick = max(1, int(args.signups * 0.08) // len(TRICKS))
    for trick in TRICKS:
        bodies += [s.body for s in pop.returns(trick, per_trick)]
    bodies += [s.body for s in pop.common_returns(int(args.signups * 0.02))]
    bodies_file = data / "signups.json"
    bodies_file.write_text(json.dumps(bodies, ensure_ascii=False))

    small_acc, small_bans = data / "accounts-2k.jsonl", data / "bans-1k.jsonl"
    with accounts.open() as src, small_acc.open("w") as dst:
        for i, line in enumerate(src):
            if i >= 2000:
                break
            dst.write(line)
    with bans.open() as src, small_bans.open("w") as dst:
        for i, line in enumerate(src):
            if i >= 1000:
                break
            dst.write(line)

    stamp = time.strftime("%m%d%H%M")
    big, small = f"bench_scale_{stamp}", f"bench_scale_{stamp}_1k"
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for db, acc, bn in ((small, small_acc, small_bans), (big, accounts, bans)):
            instance = Path(tmp) / db
            print(f"{db}:", flush=True)
            loaded = load(db, acc, bn, instance)
            snaps = snapshot_times(db, instance)
            lat = latency(db, instance, bodies_file)
            print(f"  {db}: check {lat}", flush=True)
            results[db] = {**loaded, **snaps, **lat}
        psql(f"DROP DATABASE IF EXISTS {small}")
        if args.keep:
            print(f"kept database {big} ({PG}/{big})")
        else:
            psql(f"DROP DATABASE IF EXISTS {big}")
    b, s = results[big], results[small]
    assert isinstance(b, dict) and isinstance(s, dict)
    ratio = b["p50_ms"] / s["p50_ms"]
    rows = [
        (
            "account import (accounts/s)",
            ">= 10,000",
            f"{b['accounts_per_s']:,.0f}",
            b["accounts_per_s"] >= 10_000,
        ),
        ("ban import (bans/s)", "-", f"{b['bans_per_s']:,.0f}", True),
        ("index build from the database (s)", "<= 10", f"{b['build_s']:.1f}", b["build_s"] <= 10),
        ("snapshot load (s)", "<= 3", f"{b['load_s']:.2f}", b["load_s"] <= 3),
        ("snapshot size (MB)", "-", f"{b['snapshot_mb']:.0f}", True),
        ("check p50 (ms)", "<= 0.5", f"{b['p50_ms']:.3f}", b["p50_ms"] <= 0.5),
        ("check p99 (ms)", "<= 2", f"{b['p99_ms']:.3f}", b["p99_ms"] <= 2),
        (f"p50 at {args.bans:,} / at 1k bans", "<= 1.3", f"{ratio:.2f}", ratio <= 1.3),
    ]
    print(f"\n{args.bans:,} bans + {args.accounts:,} accounts vs 1k bans + 2k accounts, same signups")
    for name, target, value, ok in rows:
        print(f"  {name:<40} {target:>10} {value:>12}  {'ok' if ok else 'MISSED'}")
    print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
