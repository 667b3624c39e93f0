"""Time whole signup checks with crafted names against ordinary checks, in process (target: worst <= 5x).

Usage: python scripts/bench_crafted_checks.py [--bans 20000] [--rounds 30] [--database-url URL]

A crafted check is one an attacker writes to make the check work hard: split-character chains
(``弓长`` * 64), a contact keyword followed by a run of spaces (``qq`` + 250 spaces, which made the
name rules backtrack), long runs of one letter, digits, separators, confusables, invisible characters,
every name field at its length cap. Each body is validated by the check's schema and decided by the
check service (identifiers, the name index, the name rules, the evidence model and its one database
query) against a database holding ``--bans`` bans made by ``scripts/gen_bans.py``. Writing a flagged
check is left out: it costs the same whatever the names, and would hide the work the names cause. The
baseline is ordinary checks timed in the same run; the script prints each crafted check's median
against the ordinary median, and the whole request (test client, writes included) for reference.

``scripts/bench_crafted_names.py`` (the name rules alone) and ``scripts/bench_crafted_matching.py``
(the name index alone) look at the parts; this one at what a caller sees.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PII_KEY = "bench-crafted-pii-key-not-a-secret"

ORDINARY = [
    {"username": "zhangwei_1990", "display_name": "张伟"},
    {"username": "cherry.tiger520", "display_name": "李娜", "email": "cherry.tiger520@example.com"},
    {"username": "wangfang88", "display_name": "王芳", "phone": "+86 139 1234 5678"},
    {"username": "sunny_day", "display_name": "Sunny", "device_id": "d-7f3a9c"},
    {"username": "liuyang2001", "display_name": "刘洋", "ip": "203.0.113.9"},
    {"username": "chen_jing", "display_name": "陈静"},
]

CRAFTED = {
    "split chain 弓长*64": {"username": "弓长" * 64, "display_name": "弓长" * 128},
    "qq + 250 spaces": {"username": "qq" + " " * 126, "display_name": "qq" + " " * 250},
    "wechat keyword runs": {"username": "微信" * 64, "display_name": "加微信 " * 64},
    "one letter * cap": {"username": "a" * 128, "display_name": "a" * 256},
    "digits * cap": {"username": "1" * 128, "display_name": "1" * 256},
    "separators": {"username": "z.h.a.n.g." * 12, "display_name": "张-" * 128},
    "confusables": {"username": "οΟ0o" * 32, "display_name": "Ⅰl1|" * 64},
    "invisible between letters": {"username": "z\u200bh\u200ba\u200bn\u200bg" * 12},
    "dense splits 口天木木": {"username": "口天木木" * 32, "display_name": "口天木木古月" * 42},
    "random han at cap": {"username": "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(128))},
    "everything at once": {
        "username": "弓长" * 64,
        "display_name": "qq" + " " * 250,
        "email": "a" * 60 + "+x@gmail.com",
        "phone": "+86 " + "1" * 20,
        "ip": "2001:db8::1",
    },
}


def run(cmd: list[str], env: dict[str, str]) -> str:
    """Run a registry command; fail loudly with its output."""
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bans", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--database-url", default=None, help="default: a throwaway SQLite file")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="crafted-checks-"))
    url = args.database_url or f"sqlite:///{work / 'bench.sqlite3'}"
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": url,
        "REGISTRY_PII_KEY": PII_KEY,
        "REGISTRY_INSTANCE_PATH": str(work / "instance"),
        "REGISTRY_LOG_LEVEL": "WARNING",
    }
    registry = str(Path(sys.executable).with_name("registry"))
    bans = work / "bans.jsonl"
    print(f"making {args.bans} bans and loading them into {url.split('://')[0]} ...", flush=True)
    run([sys.executable, str(HERE / "gen_bans.py"), str(bans), "--bans", str(args.bans)], env)
    run([registry, "db", "upgrade"], env)
    run([registry, "bans", "import", str(bans)], env)
    made = run([registry, "keys", "create", "--name", "bench", "--scope", "check"], env)
    key = made.strip().splitlines()[-1]

    os.environ.update({k: v for k, v in env.items() if k.startswith("REGISTRY_")})
    from registry import create_app

    app = create_app()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    from registry.check.index import get_index
    from registry.check.schemas import CheckIn
    from registry.check.service import decide

    schema = CheckIn()

    def timed(body: dict[str, object]) -> float:
        """Return the seconds one check's decision takes (schema load and decide, no write)."""
        data = json.loads(json.dumps(body, ensure_ascii=False))
        with app.test_request_context("/v1/check", method="POST"):
            started = time.perf_counter()
            decide(schema.load(data), get_index())
            return time.perf_counter() - started

    def timed_request(body: dict[str, object]) -> float:
        data = json.dumps(body, ensure_ascii=False)
        started = time.perf_counter()
        resp = client.post("/v1/check", data=data, headers=headers)
        took = time.perf_counter() - started
        if resp.status_code != 200:
            raise SystemExit(f"check answered {resp.status_code}: {resp.get_data(as_text=True)[:300]}")
        return took

    for body in ORDINARY + list(CRAFTED.values()):  # warm the index, the caches and the rules
        timed_request(body)
        timed(body)
    ordinary: list[float] = []
    ordinary_request: list[float] = []
    crafted: dict[str, list[float]] = {name: [] for name in CRAFTED}
    crafted_request: dict[str, list[float]] = {name: [] for name in CRAFTED}
    for _ in range(args.rounds):
        for body in ORDINARY:
            ordinary.append(timed(body))
            ordinary_request.append(timed_request(body))
        for name, body in CRAFTED.items():
            crafted[name].append(timed(body))
            crafted_request[name].append(timed_request(body))
    base = statistics.median(ordinary)
    base_request = statistics.median(ordinary_request)
    print(f"\n{'check':32} {'decide ms':>10} {'x ordinary':>11} {'request ms':>11} {'x ordinary':>11}")
    print(f"{'ordinary (baseline)':32} {base * 1000:10.3f} {1.0:11.2f} {base_request * 1000:11.3f} {1:11.2f}")
    worst = 0.0
    for name, times in crafted.items():
        m = statistics.median(times)
        r = statistics.median(crafted_request[name])
        worst = max(worst, m / base)
        print(f"{name:32} {m * 1000:10.3f} {m / base:11.2f} {r * 1000:11.3f} {r / base_request:11.2f}")
    verdict = "pass" if worst <= 5 else "MISS"
    print(f"\nworst crafted check: {worst:.2f}x an ordinary one (target <= 5x): {verdict}")


if __name__ == "__main__":
    main()
