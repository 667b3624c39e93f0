"""Webhooks: events/s delivered to a local receiver, and the added cost on POST /v1/bans, same run.

Usage: python scripts/bench_webhooks.py [--sqlite] [--events 10000] [--bans 300] [--rounds 3]
                                        [--old-ref REV] [--concurrency 8] [--batch-size 200]
                                        [--deliverer-during-writes]

1. Write path: POST /v1/bans (each banning an account: ban.created and account.status_changed) through
   the app in a fresh process per pass, on one throwaway database (PostgreSQL at 127.0.0.1:5432 by
   default, REGISTRY_BENCH_PG_URL overrides; --sqlite for a file). Passes alternate, --rounds times:
   the tree before webhooks (``--old-ref``, default the parent of the commit that added
   registry/events/, its registry package exported with git archive: the baseline), this tree with no
   subscription (the outbox row only), and this tree with one subscription to every type. Prints the
   median bans/s of each and the cost against the baseline (target <= 10%), then the median CPU time
   per ban of the app's process and of its PostgreSQL backend (steadier than the clock when other
   jobs share the cores); the passes' order turns each round. Since the fan-out moved to the
   deliverer (migration 0006) the write path reads no subscription and writes no delivery, so the
   last two passes run the same code; "no subscription" pauses the one subscription with plain SQL,
   which mattered when the request wrote the deliveries (the fan-out reads subscription versions).
   No deliverer runs during these passes unless --deliverer-during-writes starts one (polling every
   0.2 s, fanning out and sending what the passes write, beside them on the same cores).
2. Delivery: --events events written to the outbox, then ``registry webhooks deliver --once`` sends
   them to a receiver on 127.0.0.1 (a threaded http.server in this process, which checks each
   signature); the deliverer's time includes fanning the events out. Baseline: the same bodies POSTed
   by plain urllib3 clients (as many threads as the deliverer's --concurrency) in a fresh process to
   the same receiver. Prints events/s of both and the ratio; checks every event arrived.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
REGISTRY = str(Path(sys.executable).parent / "registry")
PII_KEY = "bench-pii-key-0123456789abcdef"
AUDIT_KEY = "bench-audit-key-0123456789abcdef"
TARGET_COST = 0.10


def env_for(url: str, work: Path, tree: Path | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": url,
        "REGISTRY_PII_KEY": PII_KEY,
        "REGISTRY_AUDIT_KEY": AUDIT_KEY,
        "REGISTRY_INSTANCE_PATH": str(work),
        "REGISTRY_AUDIT_CHECKPOINTS": str(work / "checkpoints.jsonl"),
        "REGISTRY_LOG_LEVEL": "WARNING",
        "REGISTRY_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1/32",
        "REGISTRY_INDEX_SNAPSHOT": "off",
    }
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def child(argv: list[str]) -> None:
    """Run inside a tree (PYTHONPATH): ``bans PREFIX N`` or ``events N URL`` or ``raw FILE URL THREADS``."""
    mode = argv[0]
    if mode == "raw":
        import urllib3

        bodies = Path(argv[1]).read_bytes().splitlines()
        port = int(argv[2].split(":")[2].split("/")[0])
        threads = int(argv[3])
        started = time.perf_counter()

        def send(part: list[bytes]) -> None:
            pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1, retries=False)
            for b in part:
                pool.urlopen("POST", "/hook", body=b, headers={"Content-Type": "application/json"})

        workers = [threading.Thread(target=send, args=(bodies[i::threads],)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        print(json.dumps({"rate": len(bodies) / (time.perf_counter() - started)}))
        return
    from registry import create_app
    from registry.extensions import db

    app = create_app()
    with app.app_context():
        from registry.auth.service import create_key

        _key, secret = create_key(f"bench-{os.getpid()}-{time.time_ns()}", ["admin"], "bench")
        db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    if mode == "bans":
        prefix, n = argv[1], int(argv[2])
        for i in range(n):
            r = client.post(
                "/v1/accounts", json={"id": f"{prefix}{i}", "username": f"u_{prefix}_{i}"}, headers=headers
            )
            assert r.status_code == 201, r.json
        client.post(
            "/v1/bans", json={"names": [f"warm_{prefix}"], "reason": "x", "rule": "R1"}, headers=headers
        )
        # CPU time as well as wall time: this process's, and its PostgreSQL backends' (read from /proc;
        # the server is on this machine), which other jobs on the cores disturb far less than the clock.
        backends: set[int] = set()
        with app.app_context():
            if db.engine.dialect.name == "postgresql":
                import sqlalchemy as sa

                sa.event.listen(db.engine, "checkout", lambda conn, *_: backends.add(conn.get_backend_pid()))
                with db.engine.connect():
                    pass  # the pooled connection the requests use
        server_before = {pid: backend_cpu(pid) for pid in backends}
        cpu_before = time.process_time()
        started = time.perf_counter()
        for i in range(n):
            r = client.post(
                "/v1/bans",
                json={
                    "account_id": f"{prefix}{i}",
                    "reason": "bench",
                    "rule": "R1",
                    "identifiers": {"phone": [f"+86 150 {i:04d} 1234"]},
                },
                headers=headers,
            )
            assert r.status_code == 201, r.json
        took = time.perf_counter() - started
        client_ms = (time.process_time() - cpu_before) * 1000 / n
        server_ms = sum(backend_cpu(pid) - server_before.get(pid, 0.0) for pid in backends) * 1000 / n
        print(json.dumps({"rate": n / took, "client_ms": client_ms, "server_ms": server_ms}))
    elif mode == "subscribe":
        events = [
            "account.status_changed",
            "account.tier_changed",
            "ban.created",
            "ban.lifted",
            "review.opened",
            "review.resolved",
        ]
        r = client.post("/v1/webhooks", json={"url": argv[1], "events": events}, headers=headers)
        assert r.status_code == 201, r.json
        print(json.dumps({"id": r.json["id"], "secret": r.json["secret"]}))
    elif mode == "events":
        from registry.events.service import EventType, emit_events

        n = int(argv[1])
        with app.app_context():
            for start in range(0, n, 1000):
                emit_events(
                    db.session(),
                    [
                        (
                            EventType.BAN_CREATED,
                            f"ban:bench{i}",
                            {"ban_id": f"bench{i}", "rule": "R1", "source": "bench"},
                        )
                        for i in range(start, min(n, start + 1000))
                    ],
                )
                db.session.commit()
            import sqlalchemy as sa

            from registry.events.models import OutboxEvent
            from registry.webhooks.service import event_body

            rows = db.session.scalars(
                sa.select(OutboxEvent).where(OutboxEvent.subject.like("ban:bench%"))
            ).all()
            Path(argv[2]).write_bytes(b"\n".join(event_body(r) for r in rows))
        print(json.dumps({"events": n}))


def backend_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) a local process has used, from /proc (0 if unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Receiver:
    def __init__(self, secret: list[str]) -> None:
        self.ids: list[str] = []
        self.bad = 0
        self.count = 0
        lock = threading.Lock()
        me = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                header = self.headers.get("Registry-Signature")
                with lock:
                    me.count += 1
                    if header is not None:
                        items = [p.split("=", 1) for p in header.split(",")]
                        t = [v for k, v in items if k == "t"][0]
                        good = hmac.new(
                            secret[0].encode(), t.encode() + b"." + body, hashlib.sha256
                        ).hexdigest()
                        if not any(hmac.compare_digest(good, v) for k, v in items if k == "v1"):
                            me.bad += 1
                        me.ids.append(json.loads(body)["id"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def run(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(cmd, env=env, text=True, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def default_old_ref() -> str:
    first = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "registry/events/service.py"],
        cwd=ROOT,
        text=True,
        capture_output=True,
        check=True,
    ).stdout.split()
    return f"{first[-1]}^" if first else "HEAD"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--bans", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--old-ref", default=None)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--deliverer-during-writes", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    old_tree = work / "old-tree"
    old_ref = args.old_ref or default_old_ref()
    # The old package only (git archive: no worktree registered, nothing to clean up in the repository).
    old_tree.mkdir()
    archive = subprocess.run(
        ["git", "archive", old_ref, "registry", "migrations"], cwd=ROOT, check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive.stdout, check=True)
    dbname = f"bench_webhooks_{os.getpid()}"
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
    try:
        new_env, old_env = env_for(url, work, ROOT), env_for(url, work, old_tree)
        subprocess.run([REGISTRY, "db", "upgrade"], env=new_env, check=True, capture_output=True)
        me = [sys.executable, str(HERE), "--child"]
        secret: list[str] = [""]
        receiver = Receiver(secret)
        sub = run([*me, "subscribe", receiver.url], new_env)
        secret[0] = sub["secret"]

        def set_paused(paused: bool) -> None:
            value = "true" if paused else "false"
            code = (
                "from registry import create_app\nfrom registry.extensions import db\n"
                "import sqlalchemy as sa\n"
                "app = create_app()\nwith app.app_context():\n"
                f"    db.session.execute(sa.text('UPDATE webhook_subscriptions SET paused = {value}'))\n"
                "    db.session.commit()\n"
            )
            subprocess.run([sys.executable, "-c", code], env=new_env, check=True, capture_output=True)

        # 1. The write path.
        labels = ("before webhooks", "no subscription", "one subscription")
        rates: dict[str, list[float]] = {label: [] for label in labels}
        cpus: dict[str, list[tuple[float, float]]] = {label: [] for label in labels}
        worker = None
        if args.deliverer_during_writes:
            worker = subprocess.Popen(
                [REGISTRY, "webhooks", "deliver", "--poll", "0.2"],
                env=new_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            passes = [
                ("before webhooks", old_env, True),
                ("no subscription", new_env, True),
                ("one subscription", new_env, False),
            ]
            for r in range(args.rounds):
                # The order turns each round: the database grows as passes add to it, so no kind of
                # pass is always the last (on the biggest tables).
                for label, env, paused in passes[r % 3 :] + passes[: r % 3]:
                    set_paused(paused)
                    prefix = f"r{r}{label[0]}{label[3]}"
                    out = run([*me, "bans", prefix, str(args.bans)], env)
                    rates[label].append(out["rate"])
                    cpus[label].append((out["client_ms"], out["server_ms"]))
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=60)
        backend = "SQLite" if args.sqlite else "PostgreSQL"
        during = "a deliverer running beside" if worker is not None else "no deliverer running"
        print(
            f"{backend}; POST /v1/bans with an account, {args.bans} a pass, {args.rounds} rounds (median), "
            f"{during}"
        )
        base = statistics.median(rates["before webhooks"])
        for label, values in rates.items():
            med = statistics.median(values)
            cost = base / med - 1
            verdict = (
                ""
                if label == "before webhooks"
                else f"  cost {cost:+.1%} per ban ({'PASS' if cost <= TARGET_COST else 'MISS'} <= 10%)"
            )
            print(
                f"  {label:<17} {med:8.1f} bans/s  (runs: {', '.join(f'{v:.0f}' for v in values)}){verdict}"
            )
        print(
            "  CPU per ban, median of the passes (client: the app's process; server: its PostgreSQL backend)"
        )
        base_cpu = statistics.median(c + s for c, s in cpus["before webhooks"])
        for label, values in cpus.items():
            client_ms = statistics.median(c for c, _s in values)
            server_ms = statistics.median(s for _c, s in values)
            total = statistics.median(c + s for c, s in values)
            cost = "" if label == "before webhooks" else f"  cost {total / base_cpu - 1:+.1%}"
            print(
                f"  {label:<17} {total:6.2f} ms  (client {client_ms:.2f} ms, server {server_ms:.2f} ms){cost}"
            )

        # 2. Delivery.
        set_paused(False)
        deliver_env = dict(new_env)
        subprocess.run(
            [REGISTRY, "webhooks", "deliver", "--once"], env=deliver_env, check=True, capture_output=True
        )  # the write-path passes' events first
        receiver.ids.clear()
        bodies = work / "bodies.jsonl"
        run([*me, "events", str(args.events), str(bodies)], new_env)
        started = time.perf_counter()
        proc = subprocess.run(
            [
                REGISTRY,
                "webhooks",
                "deliver",
                "--once",
                "--batch-size",
                str(args.batch_size),
                "--concurrency",
                str(args.concurrency),
            ],
            env=deliver_env,
            check=True,
            capture_output=True,
            text=True,
        )
        took = time.perf_counter() - started
        # The worker's own figure (its last line: "sent N (...) in S s") leaves out its start-up.
        worker_s = float(proc.stderr.strip().splitlines()[-1].rsplit(" in ", 1)[1].split()[0])
        delivered = len(set(receiver.ids))
        rate = delivered / took
        before = receiver.count
        raw = run([*me, "raw", str(bodies), receiver.url, str(args.concurrency)], new_env)["rate"]
        assert receiver.count - before == args.events
        print(
            f"delivery of {args.events} events, {args.concurrency} in flight, batches of {args.batch_size}:"
        )
        print(f"  plain urllib3 POSTs (baseline) {raw:8.0f} requests/s")
        inner = delivered / worker_s
        print(f"  registry webhooks deliver      {inner:8.0f} events/s  ({inner / raw:.2f}x the baseline)")
        print(f"  (with the process start-up    {rate:8.0f} events/s)")
        print(f"  arrived {delivered}/{args.events} distinct, {receiver.bad} bad signatures")
    finally:
        if conn is not None:
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.close()


if __name__ == "__main__":
    main()
