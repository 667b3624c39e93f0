"""Fault injection: lift a ban while another write lands on the same account, over HTTP.

Before one lock order (registry/locking.py) such pairs deadlocked on PostgreSQL and one of them was
answered 503. Each pair below is raced ``races`` times (two threads released together by a barrier,
each with its own connection); a pair holds when every request got its success status.

As part of the fault-injection runner: ``run(base_url, ctx)`` with ``ctx["api_key"]`` (admin scope)
returns ``[(name, held, detail), ...]``; ``ctx["races"]`` (default 50) and ``ctx["rule"]`` (default
R1) are optional, ``ctx["database_url"]`` is not needed. Alone, against a served instance:

    python scripts/faults/locks.py --base-url http://127.0.0.1:8000 --api-key KEY [--races 200]

or with ``--serve DATABASE_URL`` it migrates that database, creates a key, serves it with
``registry serve`` on a free port and races against that.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

Result = tuple[str, bool, str]
Request = tuple[str, str, dict[str, Any], int]


def _writes(rule: str) -> dict[str, Callable[[str, int], Request]]:
    return {
        "ban": lambda acc, i: ("POST", "/v1/bans", {"account_id": acc, "reason": "race", "rule": rule}, 201),
        "violation": lambda acc, i: (
            "POST",
            f"/v1/accounts/{acc}/violations",
            {"rule": rule, "severity": "minor"},
            201,
        ),
        "tier change": lambda acc, i: (
            "PUT",
            f"/v1/accounts/{acc}/tier",
            {"tier": ("watch", "restricted")[i % 2], "reason": "race", "rule": rule},
            200,
        ),
        "verification": lambda acc, i: (
            "PUT",
            f"/v1/accounts/{acc}/verification",
            {"status": "pending"},
            200,
        ),
        "rename": lambda acc, i: ("PATCH", f"/v1/accounts/{acc}", {"display_name": f"racer {i}"}, 200),
    }


class _Client:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            try:
                return exc.code, json.loads(text)
            except ValueError:
                return exc.code, text[:200]


def _fire(
    client: _Client, barrier: threading.Barrier, jobs: list[Request], results: list[Any], k: int
) -> None:
    method, path, body, _ = jobs[k]
    barrier.wait()
    results[k] = client.send(method, path, body)


def _race_pair(
    client: _Client, name: str, make: Callable[[str, int], Request], races: int, rule: str
) -> Result:
    account = f"fault-locks-{secrets.token_hex(4)}"
    status, body = client.send("POST", "/v1/accounts", {"id": account, "username": f"racer_{account[-8:]}"})
    if status != 201:
        return (f"lift vs {name}", False, f"could not create the account: {status} {body}")
    barrier = threading.Barrier(2)
    failures: list[str] = []
    codes: dict[int, int] = {}
    started = time.perf_counter()
    for i in range(races):
        status, ban = client.send(
            "POST", "/v1/bans", {"account_id": account, "reason": "setup", "rule": rule}
        )
        if status != 201:
            return (f"lift vs {name}", False, f"could not ban the account: {status} {ban}")
        jobs: list[Request] = [
            ("POST", f"/v1/bans/{ban['id']}/lift", {"reason": "race"}, 200),
            make(account, i),
        ]
        results: list[tuple[int, Any]] = [(0, None), (0, None)]

        threads = [threading.Thread(target=_fire, args=(client, barrier, jobs, results, k)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for job, (code, answer) in zip(jobs, results, strict=True):
            codes[code] = codes.get(code, 0) + 1
            if code != job[3]:
                failures.append(f"race {i}: {job[0]} {job[1]} -> {code} {str(answer)[:120]}")
    seconds = time.perf_counter() - started
    statuses = ", ".join(f"{n}x{c}" for c, n in sorted(codes.items()))
    if failures:
        return (
            f"lift vs {name}",
            False,
            f"{len(failures)} of {2 * races} requests failed ({statuses}); {failures[0]}",
        )
    return (
        f"lift vs {name}",
        True,
        f"{races} races, {2 * races} requests all answered as expected ({statuses}) in {seconds:.1f} s",
    )


def run(base_url: str, ctx: dict[str, Any]) -> list[Result]:
    """Race a ban lift against each account write on one account; one result per pair."""
    client = _Client(base_url, ctx["api_key"])
    races = int(ctx.get("races", 50))
    rule = str(ctx.get("rule", "R1"))
    return [_race_pair(client, name, make, races, rule) for name, make in _writes(rule).items()]


# --- alone -------------------------------------------------------------------------------------------


def _registry_command() -> str:
    beside = Path(sys.executable).with_name("registry")
    return str(beside) if beside.exists() else "registry"


def _serve(database_url: str) -> tuple[subprocess.Popen[bytes], str, str, tempfile.TemporaryDirectory[str]]:
    work = tempfile.TemporaryDirectory(prefix="fault-locks-")
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_INSTANCE_PATH": f"{work.name}/instance",
    }
    registry = _registry_command()
    subprocess.run([registry, "db", "upgrade"], env=env, check=True, capture_output=True)
    made = subprocess.run(
        [registry, "keys", "create", "--name", f"fault-locks-{secrets.token_hex(3)}", "--scope", "admin"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    key = made.stdout.strip().splitlines()[-1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(f"{work.name}/serve.log", "wb")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        [registry, "serve", "--port", str(port), "--workers", "2"], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        server.terminate()
        raise SystemExit(f"the server did not become healthy; see {work.name}/serve.log")
    return server, base, key, work


def main() -> int:
    """Run the races against a served instance and print what held."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url")
    parser.add_argument("--api-key", default=os.environ.get("REGISTRY_API_KEY"))
    parser.add_argument("--serve", metavar="DATABASE_URL", help="migrate, serve and race this database")
    parser.add_argument("--races", type=int, default=200)
    parser.add_argument("--rule", default="R1")
    args = parser.parse_args()
    server = None
    if args.serve:
        server, base, key, _work = _serve(args.serve)
    elif args.base_url and args.api_key:
        base, key = args.base_url, args.api_key
    else:
        parser.error("give --base-url and --api-key (or REGISTRY_API_KEY), or --serve DATABASE_URL")
    try:
        results = run(
            base, {"api_key": key, "races": args.races, "rule": args.rule, "database_url": args.serve}
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    for name, held, detail in results:
        print(f"{'HELD  ' if held else 'BROKEN'} {name}: {detail}")
    return 0 if all(held for _, held, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
