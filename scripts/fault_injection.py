#!/usr/bin/env python3
"""Serve a throwaway instance and run every fault module in scripts/faults/ against it; print what held.

    python scripts/fault_injection.py              # throwaway PostgreSQL database on 127.0.0.1:5432
    python scripts/fault_injection.py --sqlite     # embedded SQLite file in a temporary folder
    python scripts/fault_injection.py --only ops   # just scripts/faults/ops.py

Each module in scripts/faults/ exposes ``run(base_url: str, ctx: dict) -> list[tuple[str, bool, str]]``
(name, held, detail). ``ctx`` carries ``database_url``, ``api_key`` (an admin key), ``env`` (the
environment the server was served with: run the ``registry`` CLI with it to reach the same database
and keys), ``registry`` (the path of the registry executable) and ``workdir`` (a scratch folder).
Exit status: 0 when everything held, 1 when anything did not, 2 when the instance could not start.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any

FAULTS = Path(__file__).resolve().parent / "faults"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_admin(url: str, statement: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not come up; see its log") from None
            time.sleep(0.3)


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"faults_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(rows: list[tuple[str, str, bool, str]]) -> str:
    head = ("module", "fault", "held", "detail")
    cells = [head, *[(m, n, "yes" if ok else "NO", d) for m, n, ok, d in rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    lines = []
    for i, (m, n, ok, d) in enumerate(cells):
        lines.append(f"{m:<{widths[0]}}  {n:<{widths[1]}}  {ok:<{widths[2]}}  {d}")
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  ------")
    return "\n".join(lines)


def main() -> int:
    """Run the fault modules against a freshly served instance."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sqlite", action="store_true", help="Use an embedded SQLite file, not PostgreSQL.")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG, help="Where to create the throwaway database.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", action="append", default=[], help="Run only these modules (by name).")
    parser.add_argument(
        "--registry", default=str(Path(sys.executable).parent / "registry"), help="The registry executable."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the scratch folder and the database.")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="registry-faults-"))
    db_name = None
    if args.sqlite:
        database_url = f"sqlite:///{workdir / 'registry.db'}"
    else:
        db_name = f"registry_faults_{secrets.token_hex(4)}"
        _pg_admin(args.pg_admin_url, f'CREATE DATABASE "{db_name}"')
        database_url = args.pg_admin_url.rsplit("/", 1)[0] + f"/{db_name}"
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_PII_KEY": secrets.token_hex(24),
        "REGISTRY_INSTANCE_PATH": str(workdir / "instance"),
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
        "REGISTRY_ACTOR": "fault-injection",
    }
    proc: subprocess.Popen[bytes] | None = None
    log_path = workdir / "serve.log"
    rows: list[tuple[str, str, bool, str]] = []
    try:
        subprocess.run(
            [args.registry, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=workdir
        )
        made = subprocess.run(
            [args.registry, "keys", "create", "--name", "fault-injection", "--scope", "admin"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            cwd=workdir,
        )
        api_key = made.stdout.strip().splitlines()[-1]
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [args.registry, "serve", "--port", str(port), "--workers", str(args.workers)],
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_healthy(base, proc)
        except RuntimeError as exc:
            print(f"fault injection: {exc}: {log_path}", file=sys.stderr)
            return 2
        ctx = {
            "database_url": database_url,
            "api_key": api_key,
            "env": env,
            "registry": args.registry,
            "workdir": str(workdir),
        }
        backend = "SQLite" if args.sqlite else "PostgreSQL"
        print(f"fault injection: {backend}, {args.workers} workers, {base}")
        for path in sorted(FAULTS.glob("*.py")):
            if path.stem.startswith("_") or (args.only and path.stem not in args.only):
                continue
            started = time.perf_counter()
            try:
                results = _load(path).run(base, ctx)
            except Exception:  # noqa: BLE001 - a module that crashes did not hold; report and go on
                last = traceback.format_exc().strip().splitlines()[-1]
                results = [("(module crashed)", False, last)]
            rows.extend((path.stem, name, bool(held), detail) for name, held, detail in results)
            print(
                f"  {path.stem}: {len(results)} faults in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
        if proc.poll() is not None:
            rows.append(("runner", "server still up", False, f"exited with {proc.returncode}"))
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if db_name and not args.keep:
            try:
                _pg_admin(args.pg_admin_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the results
                print(f"fault injection: could not drop {db_name}: {exc}", file=sys.stderr)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"fault injection: kept {workdir}" + (f" and database {db_name}" if db_name else ""))
    print(_table(rows))
    failed = [r for r in rows if not r[2]]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} held")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
