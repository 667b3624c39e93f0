"""Precision and recall of the signup check on one realistic population, old scoring vs new, side by side.

Usage: python scripts/bench_precision.py [--big] [--sqlite] [--innocents 2000] [--per-trick 100]

For each size (100k bans + 200k accounts; with --big also 1M bans + 2M accounts) it writes one population
(scripts/gen_population.py), then for OLD (the code at --old-ref, default 24cc55f, run from a temporary
``git worktree`` with PYTHONPATH pointing at it, same venv) and NEW (this checkout) loads the same files
into a fresh database of its own through the real CLI (``registry db upgrade``, ``registry accounts
import``, ``registry bans import``, then ANALYZE: autovacuum may be off) and sends the same signups
through the service in-process (Flask test client, ``POST /v1/check`` with an API key of scope check):

- innocents: new people of the same population (their names are shared with bans as names are);
- rare returns: banned people back with new identifiers and one name disguised by one trick, the name
  held by at most two people of the population;
- common returns: banned people back under a name that 20+ people hold (reported, no target).

It prints the confusion table, the per-trick table, what flagged the innocents, p50/p99 check latency
in-process, and new/old ratios. Targets (issue 9): innocents flagged <= 1%; rare returns flagged >= 97%
and every trick >= 95%. PostgreSQL databases are throwaway (created and dropped here); the worktree and
the temporary folder are removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
REGISTRY = str(VENV_BIN / "registry")
PII_KEY = "bench-precision-pii-key-not-a-secret"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SIZES = {"default": (200_000, 100_000), "big": (2_000_000, 1_000_000)}
T_INNOCENT = 0.01
T_RARE = 0.97
T_TRICK = 0.95


def log(msg: str) -> None:
    """Print a progress line with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def percentiles(times_s: list[float]) -> dict[str, float]:
    """Return p50/p99/max in milliseconds."""
    if not times_s:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    t = sorted(times_s)
    return {
        "p50": statistics.median(t) * 1e3,
        "p99": t[min(len(t) - 1, int(0.99 * len(t)))] * 1e3,
        "max": t[-1] * 1e3,
    }


# --- child: the checks, in a fresh interpreter of the code under test -------------------------------


def child(args: argparse.Namespace) -> None:
    """Send every signup through POST /v1/check in process; write decisions, reasons and timings."""
    import registry
    from registry import create_app

    signups = json.loads(Path(args.signups).read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    app = create_app()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {args.key}"}
    # The first checks build the engine and load folding tables: untimed warm-up on their own bodies.
    for body in signups["warmup"]:
        r = client.post("/v1/check", json=body, headers=headers)
        if r.status_code != 200:
            raise SystemExit(f"warm-up check answered {r.status_code}: {r.get_data(as_text=True)[:500]}")
    ready = time.perf_counter() - t0
    sources = sorted({s["source"] for s in signups["items"] if s["source"]})
    ban_ids = _ban_ids_by_name(app, sources)
    out: list[dict[str, Any]] = []
    for s in signups["items"]:
        t = time.perf_counter()
        r = client.post("/v1/check", json=s["body"], headers=headers)
        dt = time.perf_counter() - t
        if r.status_code != 200:
            raise SystemExit(f"check answered {r.status_code}: {r.get_data(as_text=True)[:500]}")
        res = r.get_json()
        reasons = [
            {k: x.get(k) for k in ("code", "field", "ban_id", "score", "matched") if k in x}
            for x in res.get("reasons", [])
        ]
        right = ban_ids.get(s["source"], set())
        out.append(
            {
                "decision": res["decision"],
                "reasons": reasons,
                "right_ban": any(x.get("ban_id") in right for x in reasons),
                "ms": dt * 1e3,
            }
        )
    Path(args.out).write_text(
        json.dumps({"ready_s": ready, "registry": registry.__file__, "results": out}), encoding="utf-8"
    )


def _ban_ids_by_name(app: Any, names: list[str]) -> dict[str, set[str]]:
    """Map each banned name to the ids of the bans holding it (to tell a right hit from a lucky one)."""
    import sqlalchemy as sa

    from registry.extensions import db

    out: dict[str, set[str]] = defaultdict(set)
    with app.app_context():
        for i in range(0, len(names), 500):
            chunk = names[i : i + 500]
            rows = db.session.execute(
                sa.text("SELECT name, ban_id FROM ban_names WHERE name IN :names").bindparams(
                    sa.bindparam("names", expanding=True)
                ),
                {"names": chunk},
            )
            for name, ban_id in rows:
                out[name].add(str(ban_id))
        db.session.remove()
    return out


# --- parent ---------------------------------------------------------------------------------------


class Resources:
    """Databases, worktree and folder made by this run, all removed by close()."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-precision-"))
        self.databases: list[str] = []
        self.worktree: Path | None = None
        self.lock = threading.Lock()

    def database(self, name: str, sqlite: bool) -> str:
        """Create a fresh database and return its URL."""
        if sqlite:
            return f"sqlite:///{self.tmp / (name + '.db')}"
        import psycopg2

        conn = psycopg2.connect(ADMIN_URL)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        conn.close()
        with self.lock:
            self.databases.append(name)
        return f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"

    def add_worktree(self, ref: str) -> Path:
        """Check out ref into a temporary detached worktree."""
        path = self.tmp / "old"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), ref],
            check=True,
            capture_output=True,
            text=True,
        )
        self.worktree = path
        return path

    def close(self) -> None:
        """Drop the databases, remove the worktree and the folder."""
        if self.databases:
            try:
                import psycopg2

                conn = psycopg2.connect(ADMIN_URL)
                conn.autocommit = True
                with conn.cursor() as cur:
                    for name in self.databases:
                        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.close()
            except Exception as e:  # noqa: BLE001 - cleanup reports and goes on
                print(f"could not drop databases {self.databases}: {e}", file=sys.stderr)
        if self.worktree is not None:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(self.worktree)],
                capture_output=True,
            )
            subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)
        if self.keep:
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


@dataclasses.dataclass
class Side:
    """One code under test: where it lives and the environment its CLI and checks run with."""

    name: str  # "old" or "new"
    code: Path
    env: dict[str, str]
    url: str = ""
    key: str = ""
    load_s: dict[str, float] = dataclasses.field(default_factory=dict)


def side_env(code: Path, url: str, instance: Path) -> dict[str, str]:
    """Return the environment of one side: its code first on the path, its database, a fixed PII key."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(code),
        REGISTRY_DATABASE_URL=url,
        REGISTRY_PII_KEY=PII_KEY,
        REGISTRY_INSTANCE_PATH=str(instance),
        REGISTRY_LOG_LEVEL="WARNING",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def run_cli(side: Side, args: list[str]) -> str:
    """Run a registry command of one side, failing loudly; return its stdout."""
    proc = subprocess.run([REGISTRY, *args], env=side.env, text=True, capture_output=True, cwd=side.code)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{side.name}: registry {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


def analyze(url: str) -> None:
    """Run ANALYZE on the whole database: autovacuum is off here, and operators analyse after a bulk load."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("ANALYZE")
        conn.close()
        return
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ANALYZE")
    conn.close()


def load(side: Side, accounts: Path, bans: Path, workers: int) -> None:
    """Migrate a fresh database and import the population into it with the real CLI."""
    t = time.perf_counter()
    run_cli(side, ["db", "upgrade"])
    side.load_s["upgrade"] = time.perf_counter() - t
    t = time.perf_counter()
    run_cli(side, ["accounts", "import", str(accounts)])
    side.load_s["accounts"] = time.perf_counter() - t
    log(f"  {side.name}: accounts imported in {side.load_s['accounts']:.0f} s")
    t = time.perf_counter()
    run_cli(side, ["bans", "import", "--workers", str(workers), str(bans)])
    side.load_s["bans"] = time.perf_counter() - t
    log(f"  {side.name}: bans imported in {side.load_s['bans']:.0f} s")
    t = time.perf_counter()
    analyze(side.url)
    side.load_s["analyze"] = time.perf_counter() - t
    out = run_cli(side, ["keys", "create", "--name", "bench-precision", "--scope", "check"])
    side.key = out.strip().splitlines()[-1].strip()


def run_checks(side: Side, signups_file: Path, out: Path) -> dict[str, Any]:
    """Run the child of one side in a fresh interpreter; return what it wrote."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--signups", str(signups_file)]
    cmd += ["--key", side.key, "--out", str(out)]
    proc = subprocess.run(cmd, env=side.env, text=True, capture_output=True, cwd=side.code)
    if proc.returncode != 0:
        raise RuntimeError(f"{side.name}: checks failed:\n{proc.stderr[-5000:]}")
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def make_signups(pop: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Draw warm-up bodies, innocents, rare returns per trick and common returns."""
    from gen_population import TRICKS

    warm = [s.body for s in pop.innocents(50)]
    items = pop.innocents(args.innocents)
    for trick in TRICKS:
        got = pop.returns(trick, args.per_trick)
        if len(got) < args.per_trick:
            log(f"  only {len(got)} rare returns for {trick}")
        items += got
    items += pop.common_returns(args.common)
    return {"warmup": warm, "items": [dataclasses.asdict(s) for s in items]}


def flagged(d: str) -> bool:
    return d in ("review", "deny")


def summarise(items: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Confusion table, per-trick table, innocent flag causes, latency."""
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    tricks: dict[str, Counter[str]] = defaultdict(Counter)
    causes: Counter[str] = Counter()
    examples: list[str] = []
    times: dict[str, list[float]] = defaultdict(list)
    for s, r in zip(items, results, strict=True):
        kind, d = s["kind"], r["decision"]
        confusion[kind][d] += 1
        times["all"].append(r["ms"] / 1e3)
        times[kind].append(r["ms"] / 1e3)
        if kind == "innocent":
            if flagged(d):
                why = sorted({f"{x.get('code')}:{x.get('field', '')}" for x in r["reasons"]})
                causes[" + ".join(why) or "(no reason)"] += 1
                if len(examples) < 12:
                    b = s["body"]
                    near = [
                        f"{x.get('field')}~{x.get('matched', '?')!r}"
                        for x in r["reasons"]
                        if x.get("code") != "banned_identifier" and x.get("matched")
                    ][:3]
                    examples.append(
                        f"{b.get('username')!r} / {b.get('display_name')!r} -> {d}: {', '.join(near)}"
                    )
            continue
        t = tricks[s["trick"] if kind == "rare" else "(common name)"]
        t["n"] += 1
        t["flagged"] += flagged(d)
        t["right"] += flagged(d) and r["right_ban"]
        t["deny"] += d == "deny"
    inn = confusion["innocent"]
    rare = confusion["rare"]
    n_inn, n_rare = sum(inn.values()), sum(rare.values())
    return {
        "confusion": {k: dict(v) for k, v in confusion.items()},
        "innocent_flagged": (inn["review"] + inn["deny"]) / max(1, n_inn),
        "rare_flagged": (rare["review"] + rare["deny"]) / max(1, n_rare),
        "common_flagged": sum(flagged(d) * c for d, c in confusion["common"].items())
        / max(1, sum(confusion["common"].values())),
        "tricks": {k: dict(v) for k, v in tricks.items()},
        "causes": dict(causes.most_common(12)),
        "examples": examples,
        "latency_ms": {k: percentiles(v) for k, v in times.items()},
    }


def pct(x: float) -> str:
    return f"{100 * x:6.1f}%"


def report(
    size: str, accounts: int, bans: int, res: dict[str, dict[str, Any]], sides: dict[str, Side]
) -> None:
    """Print one size's tables, old and new side by side."""
    old, new = res["old"], res["new"]
    print(f"\n=== {bans:,} bans + {accounts:,} accounts ({size})")
    for name, side in sides.items():
        ls = side.load_s
        print(
            f"  load {name}: accounts {ls.get('accounts', 0):.0f} s, bans {ls.get('bans', 0):.0f} s, "
            f"analyze {ls.get('analyze', 0):.1f} s; checks ready in {res[name]['ready_s']:.1f} s"
        )
    print(
        "\n  confusion (decisions by who signed up)       old: allow review  deny |  new: allow review  deny"
    )
    for kind in ("innocent", "rare", "common"):
        o, n = old["confusion"].get(kind, {}), new["confusion"].get(kind, {})
        cells_o = " ".join(f"{o.get(d, 0):>6}" for d in ("allow", "review", "deny"))
        cells_n = " ".join(f"{n.get(d, 0):>6}" for d in ("allow", "review", "deny"))
        print(f"  {kind:<44}{cells_o} | {cells_n}")
    print("\n  target                                          old       new   ratio new/old")

    def row(label: str, key: str, ok: Any) -> None:
        o, n = old[key], new[key]
        ratio = f"{n / o:.2f}" if o else "-"
        mark = "" if ok is None else ("  ok" if ok(n) else "  MISSED")
        print(f"  {label:<44}{pct(o)}   {pct(n)}   {ratio}{mark}")

    row("innocents flagged (<= 1%)", "innocent_flagged", lambda v: v <= T_INNOCENT)
    row("rare-name returns flagged (>= 97%)", "rare_flagged", lambda v: v >= T_RARE)
    row("common-name returns flagged (no target)", "common_flagged", None)
    print(
        "\n  per trick (rare names)      n   old: flagged  right ban   deny |  new: flagged  right ban   deny"
    )
    for trick in sorted(set(old["tricks"]) | set(new["tricks"]), key=lambda t: (t.startswith("("), t)):
        o, n = old["tricks"].get(trick, {}), new["tricks"].get(trick, {})
        total = n.get("n", 0) or o.get("n", 0)

        def cells(c: dict[str, int]) -> str:
            m = max(1, c.get("n", 0))
            return (
                f"{pct(c.get('flagged', 0) / m)}    {pct(c.get('right', 0) / m)} {pct(c.get('deny', 0) / m)}"
            )

        miss = "" if trick.startswith("(") or n.get("flagged", 0) >= T_TRICK * max(1, total) else "  < 95%"
        print(f"  {trick:<24}{total:>5}        {cells(o)} |       {cells(n)}{miss}")
    for name in ("old", "new"):
        print(f"\n  what flagged the innocents ({name}): " + ("none" if not res[name]["causes"] else ""))
        for why, c in res[name]["causes"].items():
            print(f"    {c:>5}  {why}")
        for e in res[name]["examples"][:8]:
            print(f"           e.g. {e}")
    print("\n  check latency in process (test client)      old p50   p99  |  new p50   p99  | ratio p50 p99")
    for kind in ("all", "innocent", "rare", "common"):
        o, n = old["latency_ms"].get(kind), new["latency_ms"].get(kind)
        if not o or not n:
            continue
        print(
            f"  {kind:<42}{o['p50']:>8.2f}{o['p99']:>7.2f}  |{n['p50']:>8.2f}{n['p99']:>7.2f}  |"
            f"{n['p50'] / o['p50']:>7.2f}{n['p99'] / o['p99']:>5.2f}"
        )


def run_size(
    size: str, accounts: int, bans: int, args: argparse.Namespace, res_: Resources, old_code: Path
) -> dict[str, Any]:
    """Write one population, load it into old and new, check, summarise."""
    from gen_population import Population, name_stats

    folder = res_.tmp / size
    folder.mkdir()
    t = time.perf_counter()
    log(f"{size}: writing {accounts:,} accounts + {bans:,} bans (seed {args.seed})")
    pop = Population(args.seed)
    pop.write_accounts(folder / "accounts.jsonl", accounts)
    pop.write_bans(folder / "bans.jsonl", bans)
    stats = name_stats(pop)
    log(
        f"  written in {time.perf_counter() - t:.0f} s; display names held by <= 2 people: "
        f"{stats['display_rare_share']:.0%}, by >= 20: {stats['display_common20_share']:.0%}; "
        f"top {stats['top_display'][:4]}"
    )
    t = time.perf_counter()
    signups = make_signups(pop, args)
    signups_file = folder / "signups.json"
    signups_file.write_text(json.dumps(signups, ensure_ascii=False), encoding="utf-8")
    log(f"  {len(signups['items']):,} signups drawn in {time.perf_counter() - t:.0f} s")
    sides: dict[str, Side] = {}
    for name, code in (("old", old_code), ("new", ROOT)):
        url = res_.database(f"bench_precision_{size}_{name}_{os.getpid()}", args.sqlite)
        sides[name] = Side(name, code, side_env(code, url, folder / f"instance-{name}"), url)
    log(f"  loading old and new {'in parallel' if args.parallel else 'one after the other'}")
    errors: list[BaseException] = []

    def _load(s: Side) -> None:
        try:
            load(s, folder / "accounts.jsonl", folder / "bans.jsonl", args.workers)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=_load, args=(s,)) for s in sides.values()]
    for th in threads:
        th.start()
        if not args.parallel:
            th.join()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    results: dict[str, dict[str, Any]] = {}
    for name, side in sides.items():
        t = time.perf_counter()
        out = run_checks(side, signups_file, folder / f"results-{name}.json")
        log(
            f"  {name}: {len(out['results']):,} checks in {time.perf_counter() - t:.0f} s"
            f" (code {out['registry']})"
        )
        summary = summarise(signups["items"], out["results"])
        summary["ready_s"] = out["ready_s"]
        results[name] = summary
    report(size, accounts, bans, results, sides)
    return {
        "accounts": accounts,
        "bans": bans,
        "population": {k: v for k, v in stats.items() if not k.startswith("top")},
        "load_s": {k: s.load_s for k, s in sides.items()},
        **results,
    }


def main() -> None:
    """Parse arguments, run each size, clean up."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--big", action="store_true", help="also 1M bans + 2M accounts")
    ap.add_argument("--accounts", type=int, help="accounts of one custom size (instead of the defaults)")
    ap.add_argument("--bans", type=int, help="bans of one custom size (instead of the defaults)")
    ap.add_argument("--sqlite", action="store_true", help="SQLite files instead of PostgreSQL databases")
    ap.add_argument("--old-ref", default="24cc55f", help="git commit of the OLD scoring")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--innocents", type=int, default=2000)
    ap.add_argument("--per-trick", type=int, default=100, help="rare-name returns per trick")
    ap.add_argument("--common", type=int, default=200, help="common-name returns")
    ap.add_argument("--workers", type=int, default=2, help="registry bans import --workers")
    ap.add_argument("--serial", dest="parallel", action="store_false", help="load old, then new")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (not the databases)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--signups", help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if args.accounts or args.bans:
        sizes = [
            ("custom", args.accounts or 2 * (args.bans or 1000), args.bans or (args.accounts or 2000) // 2)
        ]
    else:
        sizes = [("default", *SIZES["default"])] + ([("big", *SIZES["big"])] if args.big else [])
    res_ = Resources(args.keep)

    def _terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    t0 = time.perf_counter()
    figures: dict[str, Any] = {"old_ref": args.old_ref, "backend": "sqlite" if args.sqlite else "postgresql"}
    try:
        old_code = res_.add_worktree(args.old_ref)
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "registry"], capture_output=True, text=True
        )
        figures["new_ref"] = head.stdout.strip() + (
            " (uncommitted changes in registry/)" if dirty.stdout.strip() else ""
        )
        log(f"old = {args.old_ref} in {old_code}; new = {ROOT} at {figures['new_ref']}; {figures['backend']}")
        for size, accounts, bans in sizes:
            figures[size] = run_size(size, accounts, bans, args, res_, old_code)
        print(f"\ntotal {time.perf_counter() - t0:.0f} s")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1, ensure_ascii=False), encoding="utf-8")
    finally:
        res_.close()


if __name__ == "__main__":
    main()
