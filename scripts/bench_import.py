"""Time ``registry bans import`` on a fresh throwaway PostgreSQL database: first run and re-run.

Usage: python scripts/bench_import.py [--bans 100000] [--workers N] [--batch-size N] [--keep FILE]

The lines come from scripts/gen_bans.py (valid GB 11643 numbers, CN mobiles, emails, device ids,
Chinese/pinyin/English names with Zipf repetition); a share of phones, emails and id numbers is then
rewritten the way people type them (``+86 138 ...``, ``0086-``, full-width digits, upper-case mail
domains, spaced id numbers) so the slow normalisation paths are exercised too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_bans import generate

REGISTRY = str(Path(sys.executable).parent / "registry")
PII_KEY = "bench-import-pii-key-not-a-secret"
CPU = [0.0]  # CPU seconds of the last command and the worker processes it waited for
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def mixed(value: str, field: str, rng: random.Random) -> str:
    """Write an identifier in one of the forms people type."""
    if field == "phone":
        d = value
        return rng.choice(
            (
                f"+86 {d[:3]} {d[3:7]} {d[7:]}",
                f"0086-{d[:3]}-{d[3:7]}-{d[7:]}",
                d.translate(FULLWIDTH),
                f"+86{d}",
                f"{d[:3]}-{d[3:7]}-{d[7:]}",
            )
        )
    if field == "email":
        local, domain = value.split("@")
        return f" {local}@{domain.upper()}"
    if field == "id_number":
        v = value.lower()
        return f"{v[:6]} {v[6:14]} {v[14:]}"
    return value


def build_file(path: Path, n: int, seed: int, share: float) -> None:
    """Generate n lines and rewrite about ``share`` of the identifiers into typed forms."""
    raw = path.with_suffix(".raw")
    generate(raw, n, seed=seed, labelled=0)
    rng = random.Random(seed + 1)
    with open(raw, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as out:
        for line in src:
            body = json.loads(line)
            idents = body["identifiers"]
            for field, values in idents.items():
                idents[field] = [mixed(v, field, rng) if rng.random() < share else v for v in values]
            out.write(json.dumps(body, ensure_ascii=False) + "\n")
    raw.unlink()


def run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run a registry command; return its wall time and summary line (and record its CPU time)."""
    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([REGISTRY, *args], env=env, text=True, capture_output=True)
    took = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[0] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode != 0:
        raise SystemExit(f"registry {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    # The summary line of the import (the backcheck's line follows it), else the last line.
    lines = proc.stdout.strip().splitlines() or [""]
    return took, next((ln for ln in lines if ln.startswith("bans:")), lines[-1])


def main() -> None:
    """Build the file, import it twice into a throwaway database, print the rates, drop the database."""
    import psycopg2

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bans", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--share", type=float, default=0.3, help="Share of identifiers rewritten (default 0.3).")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--keep", help="Reuse or keep the generated file at this path.")
    ap.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    path = Path(args.keep) if args.keep else workdir / "bans.jsonl"
    if not path.exists():
        t = time.perf_counter()
        build_file(path, args.bans, args.seed, args.share)
        print(f"generated {args.bans} lines in {time.perf_counter() - t:.1f} s -> {path}")
    name = f"bench_import_{os.getpid()}"
    admin = psycopg2.connect(args.admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    url = f"{args.admin_url.rsplit('/', 1)[0]}/{name}"
    env = dict(os.environ, REGISTRY_DATABASE_URL=url, REGISTRY_PII_KEY=PII_KEY)
    env["REGISTRY_INSTANCE_PATH"] = str(workdir / "instance")
    extra = []
    if args.workers is not None:
        extra += ["--workers", str(args.workers)]
    if args.batch_size is not None:
        extra += ["--batch-size", str(args.batch_size)]
    try:
        run(["db", "upgrade"], env)
        lines = sum(1 for _ in open(path, encoding="utf-8"))  # noqa: SIM115 - counting lines
        first_s, first = run(["bans", "import", str(path), *extra], env)
        first_cpu = CPU[0]
        again_s, again = run(["bans", "import", str(path), *extra], env)
        again_cpu = CPU[0]
        created = int(re.search(r"(\d+) created", first).group(1))  # type: ignore[union-attr]
        print(f"first run: {first}")
        print(f"  wall {first_s:.1f} s incl. start-up -> {created / first_s:,.0f} bans/s")
        print(f"  CPU of the CLI and its workers (not PostgreSQL): {first_cpu / lines * 1e6:.0f} us/line")
        print(f"re-run:    {again}")
        print(f"  wall {again_s:.1f} s incl. start-up -> {lines / again_s:,.0f} lines/s")
        print(f"  CPU of the CLI and its workers: {again_cpu / lines * 1e6:.0f} us/line")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
