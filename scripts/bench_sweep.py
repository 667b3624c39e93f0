#!/usr/bin/env python
"""Benchmark the nightly sweep on PostgreSQL: time and peak memory at two sizes, then a kill test.

For each size it creates a throwaway database, migrates it, bulk-generates accounts in SQL (a fixed
mix: active, shell, zombie, dormant and suspended due, banned, verified organisations, ...), and runs
the real command, ``registry sweep --as-of T``, as a subprocess, measuring its wall time and peak RSS
(``wait4``). Then the kill test, on two copies of the small data set: one sweep runs undisturbed; on
the other a sweep is SIGKILLed midway and ``registry sweep`` (no --as-of: it resumes the interrupted
run) is run again. The final account states must be identical, the runs' counts must add up to the
undisturbed run's, and no account may have two sweep actions in the audit trail.

    scripts/bench_sweep.py                      # 1M and 10M accounts (defaults)
    scripts/bench_sweep.py --small 100000 --accounts 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PII_KEY = "bench-sweep-pii-key-0123456789"
SWEEP_ACTIONS = ("account.dormant", "account.suspend", "account.purge")

# Buckets of ``i % 100`` -> what the sweep must do with the account (8% acted on: under the 10% cap).
MIX = """
CASE
  WHEN b < 60 THEN 'active'            -- seen within the last month
  WHEN b < 65 THEN 'verified_org'      -- old, silent, but a verified organisation: exempt
  WHEN b < 66 THEN 'banned'            -- status banned (and a ban row): exempt
  WHEN b < 67 THEN 'ban_row'           -- silent for years, an active ban names it: exempt
  WHEN b < 70 THEN 'shell'             -- registered 60 days ago, never active -> dormant
  WHEN b < 73 THEN 'zombie'            -- last seen 200 days ago -> dormant
  WHEN b < 74 THEN 'dormant_due'       -- dormant for 40 days -> suspended
  WHEN b < 75 THEN 'suspended_due'     -- suspended for 100 days -> purged
  WHEN b < 77 THEN 'dormant_young'     -- dormant for 10 days: nothing yet
  WHEN b < 80 THEN 'newcomer'          -- registered 10 days ago, not a shell yet
  ELSE 'quiet'                         -- last seen 100 days ago: not a zombie yet
END"""


def pg_params(url: str) -> dict[str, object]:
    u = make_url(url)
    return {
        "host": u.host or "127.0.0.1",
        "port": u.port or 5432,
        "dbname": u.database or "postgres",
        "user": u.username or os.environ.get("PGUSER") or "postgres",
        "password": u.password,
    }


class Cluster:
    """Create, copy and drop throwaway databases next to the admin database."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.conn = psycopg2.connect(**{k: v for k, v in pg_params(admin_url).items() if v is not None})
        self.conn.autocommit = True
        self.made: list[str] = []

    def create(self, name: str, template: str | None = None) -> str:
        with self.conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.made.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.conn.cursor() as cur:
            for name in reversed(self.made):
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def connect(url: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(**{k: v for k, v in pg_params(url).items() if v is not None})
    conn.autocommit = True
    return conn


def migrate(url: str) -> None:
    from flask_migrate import upgrade

    from registry import create_app
    from registry.extensions import db

    app = create_app({"database_url": url, "pii_key": PII_KEY, "log_level": "WARNING"})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def generate(url: str, n: int, as_of_sql: str) -> float:
    """Fill ``accounts`` (and bans) with n rows of the mix; return seconds taken."""
    started = time.perf_counter()
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'accounts' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute(f"""
        INSERT INTO accounts (id, username, username_key, display_name, account_type, status, tier,
            tier_pinned,
            news_licensed, credit, verification_status, email_hash, email_mask, phone_hash, phone_mask,
            pii_key_version, registered_at, last_active_at, status_changed_at, created_at, updated_at)
        SELECT 'a' || lpad(i::text, 9, '0'), 'user' || i, 'user' || i, 'Name ' || i,
            CASE WHEN kind = 'verified_org' THEN 'organization' ELSE 'personal' END,
            CASE kind WHEN 'banned' THEN 'banned' WHEN 'dormant_due' THEN 'dormant'
                      WHEN 'dormant_young' THEN 'dormant'
                      WHEN 'suspended_due' THEN 'suspended' ELSE 'active' END,
            'standard', false, false, 100,
            CASE WHEN kind = 'verified_org' THEN 'verified' ELSE 'unverified' END,
            md5(i::text) || md5((i + 1)::text), 'u***@example.com',
            md5((-i)::text) || md5((-i - 1)::text), '+86 138 **** 8000',
            1,
            {as_of_sql} - CASE kind WHEN 'shell' THEN interval '60 days'
                                     WHEN 'newcomer' THEN interval '10 days'
                                     ELSE interval '800 days' END,
            CASE kind WHEN 'active' THEN {as_of_sql} - (i % 30) * interval '1 day'
                      WHEN 'zombie' THEN {as_of_sql} - interval '200 days'
                      WHEN 'quiet' THEN {as_of_sql} - interval '100 days'
                      WHEN 'dormant_due' THEN {as_of_sql} - interval '300 days'
                      WHEN 'dormant_young' THEN {as_of_sql} - interval '300 days'
                      WHEN 'suspended_due' THEN {as_of_sql} - interval '400 days'
                      ELSE NULL END,
            CASE kind WHEN 'dormant_due' THEN {as_of_sql} - interval '40 days'
                      WHEN 'dormant_young' THEN {as_of_sql} - interval '10 days'
                      WHEN 'suspended_due' THEN {as_of_sql} - interval '100 days'
                      WHEN 'banned' THEN {as_of_sql} - interval '500 days' ELSE NULL END,
            {as_of_sql} - interval '800 days', {as_of_sql} - interval '800 days'
        FROM (SELECT i, {MIX} AS kind FROM (SELECT i, i % 100 AS b FROM generate_series(1, {n}) AS i) s) t
        """)
        cur.execute(f"""
        INSERT INTO bans (id, account_id, reason, rule, status, created_at, created_by, source)
        SELECT 'ban' || id, id, 'bench', 'R0', 'active', {as_of_sql} - interval '500 days', 'bench', 'api'
        FROM accounts WHERE (substr(id, 2)::bigint % 100) IN (65, 66)
        """)
        for _, definition in indexes:
            cur.execute(definition)
        cur.execute("VACUUM ANALYZE accounts")
        cur.execute("VACUUM ANALYZE bans")
    conn.close()
    return time.perf_counter() - started


def registry_bin() -> str:
    candidate = Path(sys.executable).with_name("registry")
    return str(candidate) if candidate.exists() else (shutil.which("registry") or "registry")


def sweep_env(url: str, batch_size: int | None) -> dict[str, str]:
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": url,
        "REGISTRY_PII_KEY": PII_KEY,
        "REGISTRY_ACTOR": "bench",
        "REGISTRY_LOG_LEVEL": "WARNING",
    }
    if batch_size:
        env["REGISTRY_SWEEP_BATCH_SIZE"] = str(batch_size)
    return env


def run_sweep(url: str, args: list[str], batch_size: int | None) -> tuple[int, float, float, str]:
    """Run ``registry sweep ARGS``; return (exit status, seconds, its own peak RSS in MiB, stdout)."""
    import tempfile

    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [registry_bin(), "sweep", *args],
            env=sweep_env(url, batch_size),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        # wait4 (not Popen.wait) reports this child's own resource usage, peak RSS included.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if code != 0:
            err.seek(0)
            print(err.read()[-4000:], file=sys.stderr)
    return code, seconds, usage.ru_maxrss / 1024, out.strip()


def account_summary(url: str) -> dict[str, object]:
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT status, count(*) FROM accounts GROUP BY status ORDER BY status")
        statuses = dict(cur.fetchall())
        cur.execute(
            "SELECT md5(string_agg(id || ':' || status || ':' "
            "|| coalesce(status_changed_at::text, '-') || ':' "
            "|| coalesce(email_hash, '-'), ',' ORDER BY id)) FROM accounts"
        )
        fingerprint = cur.fetchone()[0]
        cur.execute(
            "SELECT action, count(*) FROM audit_log WHERE action = ANY(%s) GROUP BY action",
            (list(SWEEP_ACTIONS),),
        )
        actions = dict(cur.fetchall())
        cur.execute(
            "SELECT count(*) FROM (SELECT subject FROM audit_log WHERE action = ANY(%s) "
            "GROUP BY subject HAVING count(*) > 1) d",
            (list(SWEEP_ACTIONS),),
        )
        twice = cur.fetchone()[0]
        cur.execute("SELECT id, status, counts FROM sweep_runs ORDER BY started_at")
        runs = cur.fetchall()
        cur.execute("SELECT count(*) FROM dormancy_notices")
        notices = cur.fetchone()[0]
    conn.close()
    return {
        "statuses": statuses,
        "fingerprint": fingerprint,
        "audit_actions": actions,
        "accounts_acted_on_twice": twice,
        "runs": runs,
        "notices": notices,
    }


def timed_size(
    cluster: Cluster, label: str, n: int, as_of: str, batch_size: int | None, keep_template: bool
) -> dict:
    """Generate n accounts and time one real sweep over them."""
    name = f"registry_bench_sweep_{os.getpid()}_{label}"
    url = cluster.create(name)
    migrate(url)
    gen = generate(url, n, f"timestamp '{as_of}'")
    print(f"[{label}] generated {n:,} accounts in {gen:.1f} s", flush=True)
    source = url
    if keep_template:
        # Copies for the kill test are taken before the timed run changes anything.
        cluster.create(name + "_kill", template=name)
    code, seconds, rss, out = run_sweep(source, ["--as-of", as_of], batch_size)
    print(f"[{label}] exit {code}: {out}", flush=True)
    print(f"[{label}] sweep of {n:,} accounts: {seconds:.1f} s wall, peak RSS {rss:.0f} MiB", flush=True)
    return {"n": n, "seconds": seconds, "rss_mib": rss, "exit": code, "output": out, "url": url, "db": name}


def kill_test(cluster: Cluster, timed: dict, as_of: str, batch_size: int | None) -> bool:
    """SIGKILL a sweep midway on a copy of the timed data set; rerun; compare with the undisturbed run."""
    url = (
        make_url(cluster.admin_url).set(database=timed["db"] + "_kill").render_as_string(hide_password=False)
    )
    reference = account_summary(timed["url"])
    expected = sum(reference["audit_actions"].values())
    proc = subprocess.Popen(
        [registry_bin(), "sweep", "--as-of", as_of],
        env=sweep_env(url, batch_size),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watch = connect(url)
    done = 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        with watch.cursor() as cur:
            cur.execute("SELECT counts FROM sweep_runs WHERE status = 'running'")
            row = cur.fetchone()
        if row and row[0]:
            done = sum(int(row[0].get(k, 0)) for k in ("dormant", "suspended", "purged"))
            if done >= expected // 2:
                break
        time.sleep(0.05)
    if proc.poll() is not None:
        print(
            "kill test: the sweep finished before it could be killed; use a larger --small", file=sys.stderr
        )
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    watch.close()
    killed = account_summary(url)
    print(
        f"[kill] SIGKILLed after ~{done:,} of {expected:,} actions; committed actions: "
        f"{sum(killed['audit_actions'].values()):,}",
        flush=True,
    )
    code, seconds, _rss, out = run_sweep(url, [], batch_size)  # no --as-of: resumes the interrupted run
    print(f"[kill] rerun exit {code} in {seconds:.1f} s: {out}", flush=True)
    after = account_summary(url)
    again_code, _, _, again = run_sweep(url, ["--as-of", as_of], batch_size)
    print(f"[kill] same sweep once more: {again}", flush=True)
    final = account_summary(url)
    run_totals = {k: 0 for k in ("dormant", "suspended", "purged")}
    for _id, _status, counts in after["runs"]:
        for k in run_totals:
            run_totals[k] += int((counts or {}).get(k, 0))
    ref_counts = json.loads(json.dumps(reference["runs"][-1][2]))
    checks = {
        "final account states identical (ids, statuses, status times, hashes)": after["fingerprint"]
        == reference["fingerprint"],
        "status counts identical": after["statuses"] == reference["statuses"],
        "killed run + rerun counts == undisturbed counts": all(
            run_totals[k] == ref_counts[k] for k in run_totals
        ),
        "audit actions identical": after["audit_actions"] == reference["audit_actions"],
        "no account acted on twice": after["accounts_acted_on_twice"] == 0,
        "notices == dormant": after["notices"] == reference["notices"],
        "third run changes nothing": code == 0
        and again_code == 0
        and final["fingerprint"] == after["fingerprint"],
        "runs: interrupted then completed": [r[1] for r in after["runs"]] == ["interrupted", "completed"],
    }
    print(f"[kill] undisturbed: {reference['statuses']} counts {ref_counts}", flush=True)
    print(f"[kill] killed+rerun: {after['statuses']} run totals {run_totals}", flush=True)
    for name, ok in checks.items():
        print(f"[kill] {'PASS' if ok else 'FAIL'} {name}", flush=True)
    return all(checks.values())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=10_000_000, help="large size (default 10M)")
    parser.add_argument(
        "--small", type=int, default=1_000_000, help="small size (default 1M); also the kill test's"
    )
    parser.add_argument(
        "--pg-url", default=os.environ.get("REGISTRY_BENCH_PG_URL", "postgresql://127.0.0.1:5432/postgres")
    )
    parser.add_argument("--batch-size", type=int, default=None, help="REGISTRY_SWEEP_BATCH_SIZE for the runs")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--skip-kill", action="store_true")
    args = parser.parse_args()

    from registry.timeutil import utcnow

    as_of = (utcnow() - timedelta(hours=1)).replace(microsecond=0).isoformat() + "+00:00"
    cluster = Cluster(args.pg_url)
    ok = True
    try:
        small = timed_size(
            cluster, "small", args.small, as_of, args.batch_size, keep_template=not args.skip_kill
        )
        if not args.skip_kill:
            ok = kill_test(cluster, small, as_of, args.batch_size) and ok
        large = timed_size(cluster, "large", args.accounts, as_of, args.batch_size, keep_template=False)
        ratio_n = large["n"] / small["n"]
        ratio_t = large["seconds"] / small["seconds"]
        print()
        print(f"{'accounts':>12} {'seconds':>9} {'accounts/s':>11} {'peak RSS MiB':>13}")
        for r in (small, large):
            print(f"{r['n']:>12,} {r['seconds']:>9.1f} {r['n'] / r['seconds']:>11,.0f} {r['rss_mib']:>13.0f}")
        print(
            f"size x{ratio_n:.1f} -> time x{ratio_t:.2f} (linear would be x{ratio_n:.1f}), "
            f"memory x{large['rss_mib'] / small['rss_mib']:.2f}"
        )
        ok = ok and small["exit"] == 0 and large["exit"] == 0 and ratio_t <= ratio_n * 1.1
        if large["n"] >= 10_000_000:
            within = large["seconds"] <= 300
            print(f"10M target (<= 300 s): {'met' if within else 'MISSED'}")
            ok = ok and within
    finally:
        if not args.keep:
            cluster.drop_all()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
