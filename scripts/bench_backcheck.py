"""Benchmark the back-check of new bans (registry/backcheck) on PostgreSQL against a baseline, in one run.

Usage: python scripts/bench_backcheck.py [--accounts 200000] [--baseline 10000] [--bans 20000] [--singles 200]

For the baseline population and the full one, each in a throwaway database migrated with ``registry db
upgrade``. The accounts are written by one set-based INSERT ... SELECT (``registry accounts import``
runs at 100-200 accounts/s on the shared, loaded machine: 2M would take hours): their phone hashes are
the service's own (HMAC-SHA256 in pgcrypto, same key and message layout as
``registry.identifiers.hashing``, so bans of those phones match), the other identifier hashes unique
random digests, handles unique (``u<i>x``), display names drawn log-uniformly from 5,000 Chinese names
of scripts/gen_population.py (a few held by tens of thousands, most by a handful), and
``name_key_counts`` filled for them as the import would.

1. Import back-check: ``registry bans import --no-backcheck`` of --bans bans (scripts/gen_population.py:
   other people of the same population, their names and identifiers, plus 1% of lines banning the
   phone and handle of an existing account, which must open reviews), then ``registry bans backcheck``
   in a fresh process, timed: bans/s, and the time for 100,000 bans extrapolated linearly from it
   (each batch costs the same: the same probes against the same indexes).
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


def phone(i: int) -> str:
    return f"+86 138 {i // 10_000 % 10_000:04d} {i % 10_000:04d}"


def files(tmp: Path, accounts: int, bans: int) -> tuple[Path, list[dict], list[str]]:
    """Write the bans (1% hitting existing accounts); return them, the singles' bodies and 5,000 names."""
    pop = Population(seed=1)
    names = [pop.person(i).chinese_name for i in range(5000)]
    pop.next_index = 5000
    ban_path = tmp / f"bans-{accounts}.jsonl"
    pop.write_bans(ban_path, bans)
    rng = random.Random(7)
    lines = ban_path.read_text(encoding="utf-8").splitlines()
    for i in range(0, len(lines), 100):
        victim = rng.randrange(1, accounts + 1)
        lines[i] = json.dumps(
            {
                "identifiers": {"phone": [phone(victim)]},
                "names": [f"u{victim}x"],
                "reason": "ring",
                "rule": "R1",
            }
        )
    ban_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    other = Population(seed=2)
    singles: list[dict] = [other.ban_body(other.person(10_000_000 + i)) for i in range(1000)]
    for i in range(0, len(singles), 2):
        victim = rng.randrange(1, accounts + 1)
        singles[i] = {
            "identifiers": {"phone": [phone(victim)]},
            "names": [f"u{victim}x"],
            "reason": "ring",
            "rule": "R1",
        }
    return ban_path, singles, names


def populate(db: str, n: int, names: list[str]) -> float:
    """Insert n accounts in good standing with one INSERT ... SELECT; fill their name-key counts."""
    import psycopg2

    from registry.accounts.service import name_key
    from registry.matching.commonness import account_keys, key_hash

    t = time.perf_counter()
    conn = psycopg2.connect(f"{PG}/{db}")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        cur.execute("CREATE TEMP TABLE bench_names (k int PRIMARY KEY, name text, key text)")
        cur.executemany(
            "INSERT INTO bench_names VALUES (%s, %s, %s)",
            [(k, nm, name_key(nm)) for k, nm in enumerate(names)],
        )
        layout = "registry.identifiers.v1"
        cur.execute(
            f"""
            INSERT INTO accounts (id, username, username_key, display_name, display_key, account_type, status,
                tier, tier_pinned, news_licensed, credit, verification_status, email_hash, email_mask,
                phone_hash, phone_mask, id_number_hash, id_number_mask, device_id_hash, device_id_mask,
                ip_hash, ip_mask, pii_key_version, registered_at, created_at, updated_at)
            SELECT 'acct-' || lpad(i::text, 8, '0'), 'u' || i || 'x', 'u' || i || 'x', b.name, b.key,
                'personal', 'active', 'standard', false, false, 100, 'unverified',
                md5(i || 'e') || md5(i || 'E'), 'u***@example.com',
                encode(hmac(convert_to(%(layout)s, 'UTF8') || '\\x00'::bytea || convert_to('phone', 'UTF8')
                    || '\\x00'::bytea || convert_to('+86138' || lpad(i::text, 8, '0'), 'UTF8'),
                    convert_to(%(key)s, 'UTF8'), 'sha256'), 'hex'), '+86 138****0000',
                md5(i || 'n') || md5(i || 'N'), '1101**********002X',
                md5(i || 'd') || md5(i || 'D'), 'D***',
                md5(i || 'i') || md5(i || 'I'), '203.0.113.*',
                1, now() - interval '400 days', now(), now()
            FROM (SELECT i, least(4999, floor(exp(random() * ln(5000)))::int - 1 + (random() < 0.5)::int) AS k
                  FROM generate_series(1, {n}) AS i) s JOIN bench_names b ON b.k = s.k
            """,
            {"layout": layout, "key": PII_KEY},
        )
        cur.execute("SELECT display_name, count(*) FROM accounts GROUP BY display_name")
        per_key: dict[int, int] = {}
        for display, c in cur.fetchall():
            # The keys the import counts an account under (handles are unique: held once each, left out).
            for k in account_keys(display):
                per_key[key_hash(k)] = per_key.get(key_hash(k), 0) + c
        cur.executemany(
            "INSERT INTO name_key_counts (key_hash, accounts, event_id) VALUES (%s, %s, 0)",
            sorted(per_key.items()),
        )
        cur.execute("VACUUM ANALYZE")
    conn.close()
    return time.perf_counter() - t


def load(db: str, n: int, names: list[str], instance: Path) -> float:
    subprocess.run(
        ["psql", f"{PG}/postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], check=True
    )
    subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", f"CREATE DATABASE {db}"], check=True)
    run([REGISTRY, "db", "upgrade"], env_for(db, instance))
    return populate(db, n, names)


def import_backcheck(db: str, bans: Path, instance: Path) -> dict[str, float]:
    env = env_for(db, instance)
    run([REGISTRY, "bans", "import", "--no-backcheck", str(bans)], env)
    psql(db, "VACUUM ANALYZE")
    seconds, text = run([REGISTRY, "bans", "backcheck"], env)
    n = sum(1 for _ in bans.open())
    line = [t for t in text.splitlines() if t.startswith("backcheck:")][-1]
    log(f"  {db}: {line}")
    reviews = int(line.split(" reviews opened")[0].rsplit(" ", 1)[-1])
    # The pass's own time (its summary line); the process start (imports, app) is paid once per run.
    work = float(line.rsplit("(", 1)[1].split(" s)")[0])
    start = max(0.0, seconds - work)
    return {
        "seconds": seconds,
        "per_s": n / work,
        "100k_s": start + work * 100_000 / n,
        "start_s": start,
        "reviews": reviews,
    }


def singles(db: str, bodies: list[dict], n: int, instance: Path) -> dict[str, float]:
    os.environ.update({k: v for k, v in env_for(db, instance).items() if k.startswith("REGISTRY_")})
    import sqlalchemy as sa

    from registry import create_app
    from registry.backcheck.service import judge_bans
    from registry.bans.schemas import BanIn
    from registry.bans.service import add_ban
    from registry.check.index import get_index
    from registry.db import writing
    from registry.extensions import db as sqla

    app = create_app()
    times: list[float] = []
    hit: list[float] = []
    miss: list[float] = []
    opened = 0
    with app.app_context(), writing():
        # A serving worker has its check index built (registry serve preloads it): its name-key counts
        # are what the in-process pass reads.
        get_index(app).ensure_ready()
        schema = BanIn()
        # Warm up (pinyin and confusables tables, statement caches), as a serving worker is.
        for body in bodies[-3:]:
            judge_bans([add_ban(schema.load(body), actor="bench", source="api").id], actor="bench")
            sqla.session.commit()
        for body in bodies[:n]:
            ban = add_ban(schema.load(body), actor="bench", source="api")
            sqla.session.commit()
            t = time.perf_counter()
            result = judge_bans([ban.id], actor="bench")
            sqla.session.commit()
            times.append(time.perf_counter() - t)
            (hit if result.reviews else miss).append(times[-1])
            opened += len(result.reviews)
    with app.app_context():
        sqla.engine.dispose()
        # The baseline of the same moment: one round trip to the database (SELECT 1), as the loaded
        # machine makes it (the back-check's statements are a few of these plus its Python work).
        rtt: list[float] = []
        for _ in range(200):
            t = time.perf_counter()
            sqla.session.execute(sa.text("SELECT 1"))
            rtt.append(time.perf_counter() - t)
        sqla.session.commit()
        sqla.session.remove()
    times.sort()
    ms = [t * 1000 for t in times]
    return {
        "rtt": statistics.median(rtt) * 1000,
        "p50": statistics.median(ms),
        "p50_miss": statistics.median(miss) * 1000 if miss else 0.0,
        "p50_hit": statistics.median(hit) * 1000 if hit else 0.0,
        "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max": ms[-1],
        "reviews": opened,
    }


def measure(label: str, accounts: int, bans: int, n_singles: int, tmp: Path, keep: bool) -> dict[str, object]:
    db = f"bench_backcheck_{accounts}"
    instance = tmp / db
    instance.mkdir(exist_ok=True)
    log(f"{label}: writing {accounts:,} accounts and {bans:,} bans")
    ban_path, bodies, names = files(tmp, accounts, bans)
    seconds = load(db, accounts, names, instance)
    log(f"{label}: {accounts:,} accounts inserted in {seconds:.1f} s ({accounts / seconds:,.0f}/s)")
    imp = import_backcheck(db, ban_path, instance)
    log(
        f"{label}: import back-check {bans:,} bans in {imp['seconds']:.1f} s, {imp['start_s']:.1f} s of it "
        f"the process start ({imp['per_s']:,.0f} bans/s; "
        f"100k bans -> {imp['100k_s']:.0f} s), {imp['reviews']} reviews"
    )
    one = singles(db, bodies, n_singles, instance)
    log(
        f"{label}: one ban p50 {one['p50']:.1f} ms (no match {one['p50_miss']:.1f}, "
        f"opening a review {one['p50_hit']:.1f}), p99 {one['p99']:.1f} ms, max {one['max']:.1f} ms "
        f"({one['reviews']} reviews over {n_singles}); SELECT 1 p50 {one['rtt']:.2f} ms "
        f"(one ban = {one['p50'] / one['rtt']:.0f}x that)"
    )
    if not keep:
        subprocess.run(
            ["psql", f"{PG}/postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], check=False
        )
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
    rows = [
        ("import back-check bans/s", bi["per_s"], fi["per_s"], "{:>12,.0f}"),
        ("100k-ban import, s", bi["100k_s"], fi["100k_s"], "{:>12,.0f}"),
        ("SELECT 1 p50, ms", bo["rtt"], fo["rtt"], "{:>12.2f}"),
        ("one ban p50, ms", bo["p50"], fo["p50"], "{:>12.1f}"),
        ("  no match p50, ms", bo["p50_miss"], fo["p50_miss"], "{:>12.1f}"),
        ("  opening a review p50", bo["p50_hit"], fo["p50_hit"], "{:>12.1f}"),
        ("one ban p99, ms", bo["p99"], fo["p99"], "{:>12.1f}"),
        ("one ban max, ms", bo["max"], fo["max"], "{:>12.1f}"),
    ]
    print(f"{'accounts':<26}{args.baseline:>12,}{args.accounts:>12,}   full/baseline")
    for label, b, f, fmt in rows:
        print(f"{label:<26}{fmt.format(b)}{fmt.format(f)}   {f / b:6.2f}x")
    print("targets at 2M accounts: one ban <= 50 ms, 100k-ban import <= 300 s")


if __name__ == "__main__":
    main()
