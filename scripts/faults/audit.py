"""Fault injection: attack a served instance's audit trail through its database, then run verify.

Each attack is what someone with write access to the database (but not REGISTRY_AUDIT_KEY or the
checkpoint file) can do; it "held" when `registry audit verify` exits non-zero naming it. The trail is
restored after each attack (and verified intact again), so the instance is left as found; it is
meant for a test instance (what the instance appends while an attack is in place is lost on restore).
`run(base_url, ctx)`: ctx holds `database_url`, `api_key` (admin; used to add a few entries first)
and `env` (the REGISTRY_* variables the instance is served with: the same audit key and checkpoints).

    python scripts/faults/audit.py --url http://127.0.0.1:8000 --database-url postgresql://... \\
        [--api-key KEY]   # env: the REGISTRY_* variables the instance is served with
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from typing import Any

import sqlalchemy as sa

Result = tuple[str, bool, str]
GENESIS = "0" * 64


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from registry.cli import main; sys.argv = ['registry', *sys.argv[1:]]; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300
    )


def _post(base_url: str, api_key: str, path: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        base_url.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


def _canonical(prev: str, r: Any) -> bytes:
    at = r.at.isoformat(timespec="microseconds")
    text = json.dumps(
        [prev, r.seq, at, r.actor, r.action, r.subject, r.data],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return text.encode()


class Trail:
    """Snapshot, attack and restore the audit tables over a plain database connection."""

    def __init__(self, database_url: str) -> None:
        from registry.db import database_uri

        self.engine = sa.create_engine(database_uri(database_url))
        meta = sa.MetaData()
        self.log = sa.Table("audit_log", meta, autoload_with=self.engine)
        self.head = sa.Table("audit_head", meta, autoload_with=self.engine)
        with self.engine.connect() as conn:
            self.rows = [dict(r._mapping) for r in conn.execute(sa.select(self.log).order_by(self.log.c.seq))]
            self.heads = [dict(r._mapping) for r in conn.execute(sa.select(self.head))]

    def restore(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.log.delete())
            conn.execute(self.head.delete())
            if self.rows:
                conn.execute(self.log.insert(), self.rows)
            if self.heads:
                conn.execute(self.head.insert(), self.heads)

    def rechain_from(self, conn: Any, first: int) -> None:
        """Recompute every hash from ``first`` on with plain SHA-256 (the attacker lacks the key)."""
        rows = conn.execute(sa.select(self.log).order_by(self.log.c.seq)).all()
        prev = GENESIS
        new = []
        for r in rows:
            digest = hashlib.sha256(_canonical(prev, r)).hexdigest() if r.seq >= first else r.hash
            new.append((r.seq, prev if r.seq >= first else r.prev_hash, digest))
            prev = digest
        for seq, _p, _h in new:
            conn.execute(sa.update(self.log).where(self.log.c.seq == seq).values(hash="x" + uuid.uuid4().hex))
        for seq, p, h in new:
            conn.execute(sa.update(self.log).where(self.log.c.seq == seq).values(prev_hash=p, hash=h))
        if new:
            conn.execute(sa.update(self.head).values(seq=new[-1][0], hash=new[-1][2]))


def run(base_url: str, ctx: dict[str, Any]) -> list[Result]:
    """Run every attack against the instance's database; return (name, held, detail) for each."""
    served = ctx.get("env") or ctx.get("environ") or {}
    env = {**os.environ, **{k: str(v) for k, v in served.items()}}
    env["REGISTRY_DATABASE_URL"] = ctx["database_url"]
    results: list[Result] = []
    api_key = ctx.get("api_key")
    if api_key:
        tag = uuid.uuid4().hex[:8]
        codes = [
            _post(base_url, api_key, "/v1/accounts", {"id": f"fault_{tag}_{i}", "username": f"fault{tag}{i}"})
            for i in range(12)
        ]
        results.append(
            ("audit: served instance appends entries", codes.count(201) == 12, f"statuses {codes}")
        )
    # The instance's own process checkpoints as it commits; cron would run this every minute.
    checkpoint = _cli(env, "audit", "checkpoint")
    baseline = _cli(env, "audit", "verify")
    results.append(
        (
            "audit: intact trail verifies",
            baseline.returncode == 0,
            (baseline.stdout + baseline.stderr).strip(),
        )
    )
    if baseline.returncode != 0:
        return results
    trail = Trail(ctx["database_url"])
    if len(trail.rows) < 6:
        results.append(("audit: enough entries to attack", False, f"only {len(trail.rows)} entries"))
        return results
    n = len(trail.rows)
    mid = trail.rows[n // 2]["seq"]
    last = trail.rows[-1]["seq"]
    show = "from registry import create_app; print(create_app().config['REGISTRY'].audit_checkpoints)"
    where = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True, text=True, timeout=120)
    points_path = where.stdout.strip().splitlines()
    cp_path = points_path[-1] if points_path else ""

    def alter_and_rechain(conn: Any) -> None:
        conn.execute(sa.update(trail.log).where(trail.log.c.seq == mid).values(data={"forged": True}))
        trail.rechain_from(conn, 1)

    def delete_and_renumber(conn: Any) -> None:
        conn.execute(trail.log.delete().where(trail.log.c.seq == mid))
        for seq in range(mid + 1, last + 1):
            conn.execute(sa.update(trail.log).where(trail.log.c.seq == seq).values(seq=seq - 1))
        trail.rechain_from(conn, mid)

    def cut_tail(conn: Any) -> None:
        keep = trail.rows[1]
        conn.execute(trail.log.delete().where(trail.log.c.seq > keep["seq"]))
        conn.execute(sa.update(trail.head).values(seq=keep["seq"], hash=keep["hash"]))

    def empty(conn: Any) -> None:
        conn.execute(trail.log.delete())
        conn.execute(trail.head.delete())

    attacks = [
        ("alter an entry and recompute every later hash", alter_and_rechain, ("altered",)),
        ("delete an entry and renumber the rest", delete_and_renumber, ("altered",)),
        ("cut the tail and move the head back", cut_tail, ("truncated",)),
        ("empty both audit tables", empty, ("emptied",)),
    ]
    for name, attack, expected in attacks:
        try:
            with trail.engine.begin() as conn:
                attack(conn)
            out = _cli(env, "audit", "verify")
            text = (out.stdout + out.stderr).strip()
            held = out.returncode != 0 and any(f"TAMPERED ({kind})" in text for kind in expected)
            results.append((f"audit: {name}", held, text.splitlines()[-2] if held else text[-400:]))
        except Exception as exc:  # noqa: BLE001 - a fault script reports, it does not crash
            results.append((f"audit: {name}", False, f"attack failed to run: {exc!r}"))
        finally:
            trail.restore()
    if cp_path and os.path.exists(cp_path):
        size = os.path.getsize(cp_path)
        try:
            forged = {
                "seq": last + 50,
                "hash": "f" * 64,
                "at": "2026-01-01T00:00:00+00:00",
                "host": "x",
                "pid": 1,
            }
            forged["sig"] = "A" * 86
            with open(cp_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(forged) + "\n")
            out = _cli(env, "audit", "verify")
            text = (out.stdout + out.stderr).strip()
            results.append(
                (
                    "audit: forged checkpoint line",
                    out.returncode != 0 and "forged checkpoint" in text,
                    text[-300:],
                )
            )
        finally:
            with open(cp_path, "r+b") as fh:
                fh.truncate(size)
    else:
        results.append(
            ("audit: forged checkpoint line", False, f"no checkpoint file ({cp_path or 'unknown'})")
        )
    # An export cut at the start or the end.
    export = _cli(env, "audit", "export", "--sealed-only")
    lines = export.stdout.splitlines()
    for name, cut in (
        ("export cut at the end", lines[:-2] + lines[-1:]),
        ("export cut at the start", lines[1:]),
    ):
        path = f"/tmp/audit-fault-{uuid.uuid4().hex[:8]}.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(cut) + "\n")
        out = _cli(env, "audit", "verify", "--file", path)
        os.unlink(path)
        text = (out.stdout + out.stderr).strip()
        results.append((f"audit: {name}", out.returncode != 0 and "truncated" in text, text[-300:]))
    after = _cli(env, "audit", "verify")
    results.append(
        ("audit: restored trail verifies again", after.returncode == 0, after.stdout.strip()[-200:])
    )
    del checkpoint
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--api-key", default=os.environ.get("REGISTRY_FAULT_API_KEY"))
    args = parser.parse_args()
    results = run(args.url, {"database_url": args.database_url, "api_key": args.api_key, "env": {}})
    for name, held, detail in results:
        print(f"{'HELD ' if held else 'FAIL '} {name}: {detail}")
    sys.exit(0 if all(held for _, held, _ in results) else 1)


if __name__ == "__main__":
    main()
