"""Checks per second over HTTP: POST /v1/check/batch against single POST /v1/check, same run (target >= 5x).

Usage: python scripts/bench_check_batch.py [--sqlite] [--bans 2000] [--seconds 8] [--clients 4] [--batch 1000]

Makes a throwaway database (PostgreSQL at 127.0.0.1:5432 by default; REGISTRY_BENCH_PG_URL overrides),
imports --bans bans with ``registry bans import``, serves it with ``registry serve --workers 2``, then
sends the same generated signup bodies for --seconds each: one check per request from --clients
keep-alive clients (the baseline), then --batch checks per request. Prints checks/s of both and the
ratio. The database is dropped and the server stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import urllib3

REGISTRY = str(Path(sys.executable).parent / "registry")
TARGET = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(args: list[str], env: dict[str, str], **kw: Any) -> str:
    proc = subprocess.run([REGISTRY, *args], env=env, text=True, capture_output=True, **kw)
    if proc.returncode != 0:
        raise SystemExit(f"registry {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def handle(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(6, 10))) + str(
        rng.randint(1, 999)
    )


def body(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"username": handle(rng)}
    if rng.random() < 0.7:
        out["phone"] = f"+86 13{rng.randint(0, 9)} {rng.randint(0, 9999):04d} {rng.randint(0, 9999):04d}"
    if rng.random() < 0.5:
        out["email"] = f"{handle(rng)}@example.com"
    return out


def load(
    port: int, key: str, path: str, payloads: list[bytes], per_request: int, seconds: float, clients: int
) -> float:
    """Send payloads round-robin from several threads for ``seconds``; return checks per second."""
    done = [0] * clients
    errors: list[str] = []
    until = time.perf_counter() + seconds

    def worker(n: int) -> None:
        pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1, timeout=60, retries=False)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        i = n
        while time.perf_counter() < until:
            r = pool.urlopen("POST", path, body=payloads[i % len(payloads)], headers=headers)
            if r.status != 200:
                errors.append(f"{r.status} {r.data[:200]!r}")
                return
            done[n] += per_request
            i += clients

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{path}: {errors[0]}")
    return sum(done) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--bans", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    dbname = f"bench_batch_{os.getpid()}"
    admin = os.environ.get("REGISTRY_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    conn = None
    if args.sqlite:
        url = f"sqlite:///{work / 'bench.db'}"
    else:
        import psycopg2

        conn = psycopg2.connect(admin)
        conn.autocommit = True
        conn.cursor().execute(f'CREATE DATABASE "{dbname}"')
        url = admin.rsplit("/", 1)[0] + f"/{dbname}"
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": url,
        "REGISTRY_PII_KEY": "bench-pii-key-0123456789abcdef",
        "REGISTRY_AUDIT_KEY": "bench-audit-key-0123456789abcdef",
        "REGISTRY_INSTANCE_PATH": str(work),
        "REGISTRY_LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = None
    try:
        run(["db", "upgrade"], env)
        key = run(["keys", "create", "--name", "bench", "--scope", "check"], env).strip().splitlines()[-1]
        lines = work / "bans.jsonl"
        with lines.open("w") as fh:
            for i in range(args.bans):
                ban = {
                    "names": [handle(rng)],
                    "identifiers": {"phone": [f"+86 150 {i:04d} {rng.randint(0, 9999):04d}"]},
                }
                fh.write(json.dumps({**ban, "reason": "bench", "rule": "R1"}) + "\n")
        run(["bans", "import", str(lines)], env)
        port = free_port()
        server = subprocess.Popen(
            [REGISTRY, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        bodies = [body(rng) for _ in range(max(4 * args.batch, 4000))]
        singles = [json.dumps(b).encode() for b in bodies]
        batches = [
            json.dumps({"checks": bodies[i : i + args.batch]}).encode()
            for i in range(0, len(bodies), args.batch)
        ]
        load(port, key, "/v1/check", singles, 1, 1.0, args.clients)  # warm both workers
        single = load(port, key, "/v1/check", singles, 1, args.seconds, args.clients)
        batch = load(port, key, "/v1/check/batch", batches, args.batch, args.seconds, args.clients)
        ratio = batch / single
        backend = "SQLite" if args.sqlite else "PostgreSQL"
        print(f"{backend}, {args.bans} bans, 2 workers, {args.clients} clients, {args.seconds:.0f} s each")
        print(f"single POST /v1/check:          {single:9.0f} checks/s (baseline)")
        print(f"POST /v1/check/batch ({args.batch:>4}):   {batch:9.0f} checks/s")
        print(f"ratio {ratio:.1f}x (target >= {TARGET:.0f}x): {'PASS' if ratio >= TARGET else 'MISS'}")
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        if conn is not None:
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.close()


if __name__ == "__main__":
    main()
