#!/usr/bin/env python
"""Benchmark the yearly report on PostgreSQL: a year of 10M checks, 1M accounts and 100k bans.

Creates a throwaway database, migrates it, and generates the year in SQL (generate_series, no row goes
through Python): accounts registered over two years across the tiers, bans by rule (some lifted, some
expiring), tier moves, violations, reviews, audit entries of the actions the report counts (sweep,
verification), the stored non-allow checks (2% of the checks) and the hourly counters that stand for
all 10M checks (allow, deny, review, and the caught ones by field, trick and code). ANALYZE after
loading (autovacuum may be off). Then, in the same run:

- the baseline: a plain ``count(*)`` over every table the report reads;
- the report's figures (``registry.reports.service.annual``, the chain walk left out: the generated
  audit rows carry no real keyed hashes; ``registry audit verify``'s own cost is scripts/bench_audit.py);
- the PDF and the HTML rendered from them.

It prints each time and the figures' ratio to the baseline; the target is the whole report within 60 s.

    scripts/bench_report.py --scale 0.1         # 1M checks, 100k accounts, 10k bans: measure this first
    scripts/bench_report.py                     # the full year
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PII_KEY = "bench-report-pii-key-0123456789"
AUDIT_KEY = "bench-report-audit-key-0123456789"
TABLES = ("accounts", "bans", "tier_changes", "violations", "reviews", "checks", "audit_log", "report_counts")
# The year: 2026 in Asia/Shanghai, as UTC.
YEAR_START = "TIMESTAMP '2025-12-31 16:00:00'"
SECONDS = 365 * 86400


def connect(url: str) -> psycopg2.extensions.connection:
    u = make_url(url)
    conn = psycopg2.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        dbname=u.database,
        user=u.username or "postgres",
        password=u.password,
    )
    conn.autocommit = True
    return conn


def spread(i: str, n: int) -> str:
    """A time within the year for row ``i`` of ``n`` (evenly spread, by the second)."""
    return f"{YEAR_START} + make_interval(secs => ({i}::bigint * {SECONDS}) / {n})"


def generate(url: str, scale: float) -> dict[str, int]:
    accounts, bans = int(1_000_000 * scale), int(100_000 * scale)
    checks = int(10_000_000 * scale)
    stored = checks // 50
    moves, violations, reviews = accounts // 10, accounts // 5, stored // 2
    audit = accounts // 2
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute(f"""
            INSERT INTO accounts (id, username, account_type, status, tier, tier_pinned, news_licensed,
                credit,
                verification_status, verification_method, verified_at, pii_key_version, registered_at,
                created_at, updated_at)
            SELECT 'a' || i, 'user_' || i,
                CASE WHEN i % 50 = 0 THEN 'organization' WHEN i % 77 = 0 THEN 'public' ELSE 'personal' END,
                'active', (ARRAY['trusted','standard','watch','restricted'])[1 + i % 4], false, false, 100,
                CASE WHEN i % 3 = 0 THEN 'verified' ELSE 'unverified' END,
                CASE WHEN i % 3 = 0 THEN 'id_card' END, NULL, 1,
                {YEAR_START} - INTERVAL '365 days'
                    + make_interval(secs => (i::bigint * 2 * {SECONDS}) / {accounts}),
                now(), now()
            FROM generate_series(1, {accounts}) i""")
        cur.execute(f"""
            INSERT INTO bans (id, account_id, reason, rule, status, expires_at, created_at, created_by,
                lifted_at,
                source)
            SELECT 'ban' || i, 'a' || i, 'r', 'R' || (i % 20),
                CASE WHEN i % 10 = 0 THEN 'lifted' ELSE 'active' END,
                CASE WHEN i % 7 = 0 THEN {spread("i", bans)} + INTERVAL '30 days' END,
                {spread("i", bans)}, 'bench',
                CASE WHEN i % 10 = 0 THEN {spread("i", bans)} + INTERVAL '3 days' END, 'api'
            FROM generate_series(1, {bans}) i""")
        cur.execute(f"""
            INSERT INTO tier_changes (account_id, from_tier, to_tier, reason, rule, actor, automatic, at)
            SELECT 'a' || (1 + (i::bigint * 7919) % {accounts}), 'standard', 'watch', 'r',
                CASE WHEN i % 2 = 0 THEN 'R' || (i % 20) END, 'bench', i % 2 = 1, {spread("i", moves)}
            FROM generate_series(1, {moves}) i""")
        cur.execute(f"""
            INSERT INTO violations (id, account_id, rule, severity, deduction, actor, at)
            SELECT 'v' || i, 'a' || (1 + (i::bigint * 104729) % {accounts}), 'R' || (i % 20),
                (ARRAY['minor','moderate','severe'])[1 + i % 3], 5, 'bench', {spread("i", violations)}
            FROM generate_series(1, {violations}) i""")
        cur.execute(f"""
            INSERT INTO checks (id, at, actor, decision, masked, reasons)
            SELECT 'chk' || i, {spread("i", stored)}, 'bench',
                CASE WHEN i % 3 = 0 THEN 'deny' ELSE 'review' END,
                '{{}}', '[]'
            FROM generate_series(1, {stored}) i""")
        cur.execute(f"""
            INSERT INTO reviews (id, check_id, status, reasons, created_at, resolved_at, outcome)
            SELECT 'rev' || i, 'chk' || i, CASE WHEN i % 4 = 0 THEN 'open' ELSE 'resolved' END, '[]',
                {spread("i", reviews)},
                CASE WHEN i % 4 <> 0 THEN {spread("i", reviews)} + make_interval(mins => i % 600) END,
                CASE WHEN i % 4 = 0 THEN NULL WHEN i % 3 = 0 THEN 'false_positive' ELSE 'confirmed' END
            FROM generate_series(1, {reviews}) i""")
        cur.execute(f"""
            INSERT INTO audit_log (seq, at, actor, action, subject, data, prev_hash, hash)
            SELECT i, {spread("i", audit)}, 'bench',
                (ARRAY['verification.change','account.dormant','account.suspend','account.purge',
                       'account.reactivate','account.create'])[1 + i % 6],
                'account:a' || (1 + (i::bigint * 31) % {accounts}),
                CASE WHEN i % 6 = 0
                    THEN json_build_object('to', (ARRAY['verified','rejected','revoked'])[1 + i % 3],
                    'method', 'id_card', 'rule', 'R' || (i % 20)) ELSE '{{}}'::json END,
                md5(i::text) || md5((i + 1)::text), md5(i::text) || md5((i + 2)::text)
            FROM generate_series(1, {audit}) i""")
        # The hourly counters: every hour of the year, its share of the checks by decision, and the
        # caught ones (deny, review) by field, trick and code.
        hours = 365 * 24
        per_hour = checks // hours
        cur.execute(f"""
            INSERT INTO report_counts (hour, metric, key, n)
            SELECT {YEAR_START} + make_interval(hours => h), m.metric, m.key,
                GREATEST(1, ({per_hour} * m.share)::bigint)
            FROM generate_series(0, {hours - 1}) h CROSS JOIN (VALUES
                ('check', 'allow', 0.98), ('check', 'deny', 0.007), ('check', 'review', 0.013),
                ('check_field', 'deny:phone', 0.004), ('check_field', 'deny:email', 0.002),
                ('check_field', 'deny:username', 0.001), ('check_field', 'review:display_name', 0.008),
                ('check_field', 'review:device_id', 0.003), ('check_field', 'review:ip', 0.002),
                ('check_trick', 'deny:none', 0.005), ('check_trick', 'review:pinyin', 0.004),
                ('check_trick', 'review:traditional', 0.003), ('check_trick', 'review:homoglyph', 0.002),
                ('check_trick', 'deny:case', 0.002), ('check_code', 'deny:banned_identifier', 0.006),
                ('check_code', 'review:similar_to_banned_name', 0.01),
                ('name_rule', 'deny:impersonation', 0.0005),
                ('name_rule', 'review:strict_review_word', 0.0005)
            ) AS m(metric, key, share)""")
        cur.execute("UPDATE audit_head SET seq = (SELECT max(seq) FROM audit_log)")
        cur.execute(
            "INSERT INTO audit_head (id, seq, hash) SELECT 1, max(seq), max(hash) FROM audit_log "
            "WHERE NOT EXISTS (SELECT 1 FROM audit_head)"
        )
        cur.execute("ANALYZE")
        cur.execute("SELECT sum(n) FROM report_counts WHERE metric = 'check'")
        counted = int(cur.fetchone()[0])
    conn.close()
    return {"accounts": accounts, "bans": bans, "checks": counted, "stored_checks": stored, "audit": audit}


def baseline(url: str) -> float:
    conn = connect(url)
    started = time.perf_counter()
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute(f"SELECT count(*) FROM {table}")
            cur.fetchone()
    took = time.perf_counter() - started
    conn.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 10M checks, 1M accounts, 100k bans")
    parser.add_argument(
        "--admin-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1/postgres")
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    name = "registry_bench_report"
    admin = connect(args.admin_url)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        from flask_migrate import upgrade

        from registry import create_app
        from registry.extensions import db
        from registry.reports import render, service

        app = create_app(
            {
                "database_url": url,
                "pii_key": PII_KEY,
                "audit_key": AUDIT_KEY,
                "log_level": "WARNING",
                "audit_checkpoints": os.devnull,
            }
        )
        with app.app_context():
            upgrade()
            db.engine.dispose()
        started = time.perf_counter()
        sizes = generate(url, args.scale)
        print(f"generated {sizes} in {time.perf_counter() - started:.1f} s", flush=True)

        base = baseline(url)
        with app.app_context():
            started = time.perf_counter()
            report = service.annual(2026, verify=False)
            figures = time.perf_counter() - started
            started = time.perf_counter()
            pdf = render.to_pdf(report)
            pdf_took = time.perf_counter() - started
            started = time.perf_counter()
            page = render.to_html(report)
            html_took = time.perf_counter() - started
        base_again = baseline(url)
        base = min(base, base_again)
        total = figures + pdf_took + html_took
        print(f"baseline (count(*) over {len(TABLES)} tables): {base:.2f} s")
        print(f"figures: {figures:.2f} s ({figures / base:.1f}x the baseline)")
        print(f"pdf: {pdf_took:.2f} s ({len(pdf)} bytes), html: {html_took:.2f} s ({len(page)} bytes)")
        print(f"report total: {total:.2f} s (target <= 60 s at scale 1.0): {'ok' if total <= 60 else 'OVER'}")
    finally:
        if not args.keep:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
