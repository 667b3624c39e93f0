"""Benchmark the signup check end to end on PostgreSQL: import, in-process latency, HTTP, matchers.

Usage: python scripts/bench_check.py [--bans 1000000 | --quick] [--json OUT.json] [--http-seconds 20]

1. Generates N bans (scripts/gen_bans.py) and imports them with the real ``registry bans import`` into a
   throwaway database migrated with ``registry db upgrade``; imports the same file again (nothing new).
2. In a fresh process per database (create_app + warm): worker ready time, RSS, and the latency of
   ``decide`` over a mixed query set (innocents, disguised names of labelled bans, banned identifiers
   reformatted), at N bans and at 1k bans (a second database holding the file's first 1k lines).
3. ``registry serve --workers 2`` on 127.0.0.1 under wrk (scripts/load_check.lua; a Python client if
   wrk is missing): checks/s and latency, and /healthz throughput as the baseline.
4. This matcher vs a rapidfuzz scan of all names vs PostgreSQL pg_trgm: time per query and recall on the
   same labelled disguises.
5. A summary table of targets, measured values and pass/fail (also written as JSON with --json).

Everything runs against 127.0.0.1; the databases are dropped and the server killed at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_names import TRICKS, han_name  # noqa: E402
from gen_bans import cn_mobile, device_id, email, generate, public_ip  # noqa: E402

VENV_BIN = Path(sys.executable).parent
REGISTRY = str(VENV_BIN / "registry")
PII_KEY = "bench-check-pii-key-not-a-secret"
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

# Targets from issue 3.
T_IMPORT = 20_000.0
T_READY = 15.0
T_RSS = 300.0
T_P50 = 1.0
T_P99 = 5.0
T_RATIO = 1.5
T_HTTP = 1_000.0


# --- helpers ---------------------------------------------------------------------------------------


def current_rss_mb() -> float:
    """Return this process's current RSS in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    """Return this process's peak RSS in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(times_s: list[float]) -> dict[str, float]:
    """Return p50/p90/p99/max in milliseconds."""
    if not times_s:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    t = sorted(times_s)

    def at(q: float) -> float:
        return t[min(len(t) - 1, int(q * len(t)))] * 1e3

    return {
        "p50": statistics.median(t) * 1e3,
        "p90": at(0.90),
        "p99": at(0.99),
        "max": t[-1] * 1e3,
        "mean": statistics.fmean(t) * 1e3,
    }


def env_for(url: str, workdir: Path) -> dict[str, str]:
    """Return the environment the registry CLI and server run with."""
    env = dict(os.environ)
    env.update(
        REGISTRY_DATABASE_URL=url,
        REGISTRY_PII_KEY=PII_KEY,
        REGISTRY_INSTANCE_PATH=str(workdir / "instance"),
        REGISTRY_LOG_LEVEL="INFO",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def run_cli(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a registry command, failing loudly."""
    proc = subprocess.run([REGISTRY, *args], env=env, text=True, capture_output=True, **kw)
    if proc.returncode != 0:
        raise SystemExit(f"registry {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


class Databases:
    """Throwaway PostgreSQL databases, dropped on close."""

    def __init__(self, admin_url: str) -> None:
        import psycopg2

        self.admin_url = admin_url
        self.conn = psycopg2.connect(admin_url)
        self.conn.autocommit = True
        self.names: list[str] = []

    def create(self, name: str) -> str:
        """Create a database and return its URL."""
        with self.conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        self.names.append(name)
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def close(self) -> None:
        """Drop every database made here."""
        with self.conn.cursor() as cur:
            for name in self.names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.conn.close()


def table_counts(url: str) -> dict[str, int]:
    """Count the rows of the ban tables."""
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        out = {}
        for table in ("bans", "ban_identifiers", "ban_names", "index_changes"):
            cur.execute(f"SELECT count(*) FROM {table}")
            out[table] = int(cur.fetchone()[0])
    conn.close()
    return out


# --- queries ---------------------------------------------------------------------------------------


def reformat(field: str, value: str, rng: random.Random) -> str:
    """Write a banned identifier the way a returning person would type it differently."""
    if field == "phone":
        d = value
        return rng.choice(
            (
                f"+86 {d[:3]} {d[3:7]} {d[7:]}",
                f"0086-{d[:3]}-{d[3:7]}-{d[7:]}",
                d.translate(FULLWIDTH),
                f"(+86) {d}",
                f"{d[:3]}.{d[3:7]}.{d[7:]}",
            )
        )
    if field == "email":
        local, domain = value.split("@")
        if domain == "gmail.com":
            # Gmail ignores dots: moved ones are the same mailbox (two in a row is no address at all).
            bare = local.replace(".", "")
            dotted = ".".join(bare) if len(bare) < 12 else bare[:3] + "." + bare[3:]
            return f"{dotted}+signup@googlemail.com"
        return rng.choice((f"  {local.upper()}@{domain.upper()} ", f"{local}@{domain.upper()}"))
    if field == "id_number":
        v = value.lower()
        return rng.choice((f"{v[:6]} {v[6:14]} {v[14:]}", v.translate(FULLWIDTH), f"{v[:6]}-{v[6:]}"))
    if field == "device_id":
        return rng.choice((f" {value.swapcase()} ", value.lower() if value.isupper() else value.upper()))
    return value


# Innocents come from a name space that cannot meet the banned one (scripts/gen_bans.py draws bans from
# Chinese names, their pinyin, and English handles made of eval_names' WORDS/FIRST/LAST): handles built
# from syllables with consonant clusters pinyin never has (not even across a syllable boundary: no
# pinyin syllable ends in k, d, t, p, s, f, v or z) and appear in none of those words, and English
# names from other lists. Common Chinese names are a separate set, measured apart.
CLUSTER_SYLLABLES = (
    "kra kre kro dre dru thu thi pli plo sko ska fri fra vla vle kle kli pru pra zwe zwo dwo kvi tse tsu"
).split()
OTHER_FIRST = (
    "harper quentin beatrix ignatius rosalind percival wilhelmina thaddeus clementine augustin ottoline "
    "cornelius philippa tobias ursula"
).split()
OTHER_LAST = "ashworth pemberton fairweather underhill whitlock thornbury hollingsworth abernathy".split()


def _check_disjoint() -> None:
    from eval_names import FIRST, LAST, WORDS

    banned_words = [*WORDS, *FIRST, *LAST]
    for part in (*CLUSTER_SYLLABLES, *OTHER_FIRST, *OTHER_LAST):
        clash = [w for w in banned_words if part in w or w in part]
        assert not clash, (part, clash)


_check_disjoint()


def innocent_handle(rng: random.Random) -> str:
    """Return a username from the innocent name space (cluster syllables or other English names)."""
    if rng.random() < 0.6:
        sep = rng.choice(("", "_", "."))
        core = sep.join(rng.choice(CLUSTER_SYLLABLES) for _ in range(rng.choice((2, 3))))
    else:
        core = f"{rng.choice(OTHER_FIRST)}{rng.choice(('', '_', '.'))}{rng.choice(OTHER_LAST)}"
    return core + rng.choice(("", "", "9", "42", "2025"))


def innocent_body(rng: random.Random) -> dict[str, Any]:
    """Return an ordinary signup: a name from the innocent space and fresh identifiers."""
    username = innocent_handle(rng)
    body: dict[str, Any] = {"username": username, "phone": cn_mobile(rng), "email": email(rng, username)}
    if rng.random() < 0.5:
        body["display_name"] = f"{rng.choice(OTHER_FIRST).title()} {rng.choice(OTHER_LAST).title()}"
    if rng.random() < 0.5:
        body["device_id"] = device_id(rng)
    if rng.random() < 0.3:
        body["ip"] = public_ip(rng)
    body["account_type"] = "personal"
    return body


def common_name_body(rng: random.Random) -> dict[str, Any]:
    """Return a signup by someone with a common Chinese name (may equal a banned person's name)."""
    body = innocent_body(rng)
    body["display_name"] = han_name(rng)
    if rng.random() < 0.3:
        body["username"] = han_name(rng)
    return body


def _disguises(labelled: list[Any], n: int, rng: random.Random, group: str) -> list[dict[str, Any]]:
    tricks = list(TRICKS.items())
    out: list[dict[str, Any]] = []
    t = 0
    while len(out) < n:
        trick, fn = tricks[t % len(tricks)]
        t += 1
        for _ in range(20):
            ban = rng.choice(labelled)
            pos = rng.randrange(len(ban.names))
            source = ban.names[pos]
            v = fn(source, rng)
            if v and v != source:
                body = innocent_body(rng)
                body.pop("display_name", None)
                body["username" if pos == 0 else "display_name"] = v
                out.append(
                    {
                        "set": group,
                        "kind": "disguise",
                        "trick": trick,
                        "source": source,
                        "name": v,
                        "body": body,
                    }
                )
                break
    return out


def _identifiers(labelled: list[Any], n: int, rng: random.Random, group: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < n:
        ban = rng.choice(labelled)
        field = rng.choice(sorted(k for k in ban.identifiers if k != "ip"))
        body = innocent_body(rng)
        body[field] = reformat(field, ban.identifiers[field][0], rng)
        out.append({"set": group, "kind": "identifier", "trick": field, "field": field, "body": body})
    return out


def read_labelled(path: Path, n: int) -> list[Any]:
    """Return the first n lines of a generated file as Labelled bans (gen_bans makes them full)."""
    from gen_bans import Labelled

    out = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= n:
                break
            body = json.loads(line)
            out.append(Labelled(i, list(body["names"]), dict(body["identifiers"])))
    return out


def _head(src_path: Path, dst_path: Path, n: int) -> None:
    with open(src_path, encoding="utf-8") as src, open(dst_path, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i >= n:
                break
            dst.write(line)


def make_queries(
    labelled: list[Any], n: int, seed: int, returning: float, n_recall: int, n_common: int
) -> list[dict[str, Any]]:
    """Return the traffic mix, the labelled recall set and the common-name set (tagged by "set").

    Traffic: (1 - returning) innocents, the rest returning banned people, half with a disguised name,
    half with a reformatted banned identifier. Recall: n_recall disguises cycling through every trick
    plus half as many identifiers. Common: n_common signups with common Chinese names.
    """
    rng = random.Random(seed)
    n_ret = round(n * returning)
    traffic = _disguises(labelled, n_ret // 2, rng, "traffic")
    traffic += _identifiers(labelled, n_ret - n_ret // 2, rng, "traffic")
    traffic += [
        {"set": "traffic", "kind": "innocent", "trick": "", "body": innocent_body(rng)}
        for _ in range(n - n_ret)
    ]
    rng.shuffle(traffic)
    recall = _disguises(labelled, n_recall, rng, "recall") + _identifiers(
        labelled, n_recall // 2, rng, "recall"
    )
    common = [
        {"set": "common", "kind": "common", "trick": "", "body": common_name_body(rng)}
        for _ in range(n_common)
    ]
    return traffic + recall + common


# --- child: in-process measurements ------------------------------------------------------------


def child_inproc(args: argparse.Namespace) -> None:
    """Build an app and its engine in this fresh process, time decide() over the queries."""
    queries = json.loads(Path(args.queries_file).read_text(encoding="utf-8"))
    from registry import create_app
    from registry.check.index import warm
    from registry.check.service import decide
    from registry.extensions import db
    from registry.matching.keys import name_keys

    gc.collect()
    rss_start = current_rss_mb()
    t0 = time.perf_counter()
    app = create_app()
    t1 = time.perf_counter()
    gc.collect()
    rss_app = current_rss_mb()
    engine = warm(app)
    t2 = time.perf_counter()
    stats = engine.stats()
    settings = app.config["REGISTRY"]
    keys_of: dict[str, Any] = {}

    def keys(name: str) -> Any:
        k = keys_of.get(name)
        if k is None:
            k = keys_of[name] = name_keys(name)
        return k

    def hit(source: str, matched: list[str]) -> bool:
        return any(m == source or keys(m) == keys(source) for m in matched)

    out: dict[str, Any] = {
        "create_app_s": t1 - t0,
        "warm_s": t2 - t1,
        "ready_s": t2 - t0,
        "engine": dataclasses.asdict(stats),
    }
    with app.app_context():
        # Warm-up (first calls load folding tables lazily), untimed.
        for q in queries[:100]:
            decide(q["body"], engine)
            db.session.rollback()
        gc.collect()
        rss_warm = current_rss_mb()
        times: dict[str, list[float]] = defaultdict(list)
        decisions: dict[str, Counter[str]] = defaultdict(Counter)
        hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for _round in range(args.rounds):
            for q in queries:
                t = time.perf_counter()
                result, _masked = decide(q["body"], engine)
                db.session.rollback()
                dt = time.perf_counter() - t
                if q["set"] == "traffic":
                    times["all"].append(dt)
                times[q["kind"]].append(dt)
                if _round:
                    continue
                decisions[q["kind"]][result.decision] += 1
                if q["set"] == "traffic":
                    decisions["traffic"][result.decision] += 1
                reasons = result.reasons
                if q["kind"] == "disguise":
                    matched = [r["matched"] for r in reasons if r.get("code") == "similar_to_banned_name"]
                    h = hits[f"name:{q['trick']}"]
                    h[0] += hit(q["source"], matched)
                    h[1] += 1
                elif q["kind"] == "identifier":
                    h = hits[f"identifier:{q['field']}"]
                    h[0] += (
                        any(
                            r.get("code") == "banned_identifier" and r.get("field") == q["field"]
                            for r in reasons
                        )
                        and result.decision == "deny"
                    )
                    h[1] += 1
        out["latency_ms"] = {k: percentiles(v) for k, v in times.items()}
        out["decisions"] = {k: dict(v) for k, v in decisions.items()}
        out["recall"] = {k: v for k, v in sorted(hits.items())}
        gc.collect()
        out["rss"] = {
            "start_mb": rss_start,
            "after_create_app_mb": rss_app,
            "after_warm_and_queries_mb": current_rss_mb(),
            "after_warmup_mb": rss_warm,
            "peak_mb": peak_rss_mb(),
            "engine_mb": rss_warm - rss_app,
        }
        if args.sidebyside:
            out["sidebyside"] = _sidebyside(args, queries, engine, settings, hit)
        db.session.remove()
    Path(args.out).write_text(json.dumps(out), encoding="utf-8")


def _sidebyside(
    args: argparse.Namespace, queries: list[dict[str, Any]], engine: Any, settings: Any, hit: Any
) -> dict[str, Any]:
    """Time this matcher and a rapidfuzz scan of every banned name on the labelled disguises."""
    import sqlalchemy as sa
    from rapidfuzz import fuzz, process

    from registry.extensions import db
    from registry.matching import canonical
    from registry.matching.keys import decode_keys

    disguises = [q for q in queries if q["kind"] == "disguise"]
    review = float(settings.name_review_score)
    res: dict[str, Any] = {}
    times, hits = [], []
    for q in disguises:
        t = time.perf_counter()
        found = engine.search_names(q["name"], min_score=review)
        times.append(time.perf_counter() - t)
        hits.append(hit(q["source"], [m.matched for m in found]))
    res["matcher"] = {"latency_ms": percentiles(times), "hits": hits}

    t = time.perf_counter()
    names: list[str] = []
    choices: list[str] = []
    rows = db.session.execute(
        sa.text("SELECT name, encoded FROM ban_names"), execution_options={"yield_per": 20_000}
    )
    for name, encoded in rows:
        names.append(name)
        choices.append(decode_keys(encoded).canonical)
    load_s = time.perf_counter() - t
    sub = disguises[: args.scan_queries]
    times, hits = [], []
    for q in sub:
        t = time.perf_counter()
        found = process.extract(
            canonical(q["name"]), choices, scorer=fuzz.ratio, limit=5, score_cutoff=review
        )
        times.append(time.perf_counter() - t)
        hits.append(hit(q["source"], [names[i] for _, _, i in found]))
    res["rapidfuzz"] = {"latency_ms": percentiles(times), "hits": hits, "load_s": load_s, "names": len(names)}
    return res


# --- parent phases ---------------------------------------------------------------------------------


def phase_import(path: Path, url: str, env: dict[str, str]) -> dict[str, Any]:
    """Import the file twice; return rates and whether the second run duplicated anything."""
    n_lines = sum(1 for _ in open(path, encoding="utf-8"))  # noqa: SIM115 - counting lines
    t = time.perf_counter()
    first = run_cli(["bans", "import", str(path)], env)
    first_s = time.perf_counter() - t
    counts1 = table_counts(url)
    t = time.perf_counter()
    second = run_cli(["bans", "import", str(path)], env)
    second_s = time.perf_counter() - t
    counts2 = table_counts(url)
    analyzed = _analyze(url)
    summary1 = first.stdout.strip().splitlines()[-1]
    summary2 = second.stdout.strip().splitlines()[-1]
    created = int(re.search(r"(\d+) created", summary1).group(1))  # type: ignore[union-attr]
    return {
        "lines": n_lines,
        "created": created,
        "seconds": first_s,
        "bans_per_s": created / first_s,
        "summary": summary1,
        "reimport_seconds": second_s,
        "reimport_summary": summary2,
        "counts": counts1,
        "counts_after_reimport": counts2,
        "duplicated": {k: counts2[k] - counts1[k] for k in counts1},
        "autoanalyzed_before_checks": analyzed,
    }


def _analyze(url: str) -> dict[str, bool]:
    """Report which ban tables autovacuum had analysed by now, then ANALYZE them all.

    Right after a bulk load into fresh tables the planner has no statistics and confirms a Bloom hit
    with a nested loop over every active ban (tens of ms at 5k bans, seconds at 1M); an operator runs
    ANALYZE after a bulk import, so the benchmark does too, and says whether it was needed.
    """
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT relname, last_autoanalyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relname IN ('bans', 'ban_identifiers', 'ban_names', 'index_changes')"
            )
            seen = {name: bool(done) for name, done in cur.fetchall()}
            cur.execute("ANALYZE bans, ban_identifiers, ban_names, index_changes")
        return seen
    finally:
        conn.close()


def phase_inproc(
    url: str, env: dict[str, str], queries_file: Path, out: Path, extra: list[str]
) -> dict[str, Any]:
    """Run the in-process measurement in a fresh interpreter."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--queries-file",
        str(queries_file),
        "--out",
        str(out),
        *extra,
    ]
    proc = subprocess.run(cmd, env=env, text=True, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"in-process child failed:\n{proc.stderr[-5000:]}")
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> int:
    """Return the status of a GET, 0 if it could not connect."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def run_wrk(mode: str, port: int, seconds: int, bodies: Path, key: str, conns: int) -> dict[str, Any]:
    """Run wrk against the server; return its JSON summary."""
    env = dict(os.environ, BENCH_MODE=mode, BENCH_BODIES=str(bodies), BENCH_KEY=key)
    path = "/v1/check" if mode == "check" else "/healthz"
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s", "-s",
           str(Path(__file__).parent / "load_check.lua"), f"http://127.0.0.1:{port}{path}"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=seconds + 60)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no summary:\n{proc.stdout}\n{proc.stderr}")
    r = json.loads(line.removeprefix("BENCH_JSON "))
    secs = r["duration_us"] / 1e6
    return {
        "tool": "wrk",
        "connections": conns,
        "requests": r["requests"],
        "per_s": r["requests"] / secs,
        "non_2xx": r["status"],
        "socket_errors": r["connect"] + r["read"] + r["write"] + r["timeout"],
        "p50_ms": r["p50_us"] / 1e3,
        "p90_ms": r["p90_us"] / 1e3,
        "p99_ms": r["p99_us"] / 1e3,
        "max_ms": r["max_us"] / 1e3,
    }


def _py_load_worker(port: int, mode: str, bodies: list[str], key: str, until: float, q: Any) -> None:
    import http.client

    times, errors, i = [], 0, random.randrange(len(bodies) or 1)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.monotonic() < until:
        t = time.perf_counter()
        try:
            if mode == "check":
                i = (i + 1) % len(bodies)
                conn.request(
                    "POST",
                    "/v1/check",
                    body=bodies[i].encode(),
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
                )
            else:
                conn.request("GET", "/healthz")
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors += 1
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
        except OSError:
            errors += 1
            conn.close()
        times.append(time.perf_counter() - t)
    q.put((times, errors))


def run_python_load(
    mode: str, port: int, seconds: int, bodies_file: Path, key: str, conns: int
) -> dict[str, Any]:
    """Fallback load generator: processes with one connection each."""
    import multiprocessing as mp

    bodies = bodies_file.read_text(encoding="utf-8").splitlines()
    q: Any = mp.Queue()
    until = time.monotonic() + seconds
    procs = [
        mp.Process(target=_py_load_worker, args=(port, mode, bodies, key, until, q)) for _ in range(conns)
    ]
    for p in procs:
        p.start()
    all_times: list[float] = []
    errors = 0
    for _ in procs:
        t, e = q.get()
        all_times += t
        errors += e
    for p in procs:
        p.join()
    pct = percentiles(all_times)
    return {
        "tool": "python",
        "connections": conns,
        "requests": len(all_times),
        "per_s": len(all_times) / seconds,
        "non_2xx": errors,
        "socket_errors": 0,
        "p50_ms": pct["p50"],
        "p90_ms": pct["p90"],
        "p99_ms": pct["p99"],
        "max_ms": pct["max"],
    }


def proc_memory(pid: int) -> dict[str, float]:
    """Return a process's RSS, PSS (shared pages split among sharers) and private memory in MB."""
    fields: dict[str, float] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f.read().splitlines()[1:]:
            name, value = line.split()[:2]
            fields[name.rstrip(":")] = int(value) / 1024
    private = fields.get("Private_Clean", 0.0) + fields.get("Private_Dirty", 0.0)
    return {"rss_mb": fields["Rss"], "pss_mb": fields["Pss"], "private_mb": private}


def server_memory(pid: int) -> dict[str, Any]:
    """Return the memory of the gunicorn master and of each worker."""
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    workers = [proc_memory(int(k)) for k in kids]
    return {"master": proc_memory(pid), "workers": workers}


def phase_http(
    url: str,
    env: dict[str, str],
    workdir: Path,
    bodies: Path,
    seconds: int,
    conns: int,
    *,
    preload: bool,
) -> dict[str, Any]:
    """Serve with 2 workers, load /v1/check then /healthz (unless seconds is 0), kill the server.

    With preload the gunicorn master builds the engine once and forks the workers from it (the port is
    bound only after the build); without it each worker builds its own after fork.
    """
    env = dict(env, REGISTRY_CHECK_PRELOAD="true" if preload else "false")
    key = (
        run_cli(["keys", "create", "--name", f"bench-check-{time.time_ns()}", "--scope", "check"], env)
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    log_path = workdir / f"serve-{'preload' if preload else 'fork'}.log"
    counts0 = _count_checks(url)
    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        server = subprocess.Popen(
            [REGISTRY, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    out: dict[str, Any] = {"port": port, "preload": preload}
    builds_expected = 1 if preload else 2
    try:
        first_ok = None
        while time.perf_counter() - t0 < 300:
            if server.poll() is not None:
                raise SystemExit(f"server exited:\n{log_path.read_text()[-3000:]}")
            if first_ok is None and http_get(f"http://127.0.0.1:{port}/healthz") == 200:
                first_ok = time.perf_counter() - t0
            built = log_path.read_text(errors="replace").count("check index built in")
            if first_ok is not None and built >= builds_expected:
                break
            time.sleep(0.1)
        out["first_healthz_s"] = first_ok
        out["both_workers_built_s"] = time.perf_counter() - t0
        out["worker_build_s"] = [
            float(x) for x in re.findall(r"check index built in ([\d.]+) s", log_path.read_text())
        ]
        time.sleep(1.0)
        out["memory"] = server_memory(server.pid)
        if not seconds:
            return out
        load = run_wrk if shutil.which("wrk") else run_python_load
        # A few seconds of warm-up, not counted.
        load("check", port, 3, bodies, key, conns)
        out["check"] = load("check", port, seconds, bodies, key, conns)
        out["healthz"] = load("healthz", port, seconds, bodies, key, conns)
        out["ratio_check_healthz"] = out["check"]["per_s"] / out["healthz"]["per_s"]
        out["checks_recorded"] = _count_checks(url) - counts0
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            server.wait(timeout=10)
    return out


def _count_checks(url: str) -> int:
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM checks")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def phase_trgm(url: str, queries: list[dict[str, Any]], threshold: float, limit: int) -> dict[str, Any]:
    """Index ban_names.name with a GIN trigram index and time a similarity query per disguise."""
    import psycopg2

    from registry.matching.keys import name_keys

    disguises = [q for q in queries if q["kind"] == "disguise"][:limit]
    conn = psycopg2.connect(url)
    conn.autocommit = True
    out: dict[str, Any] = {"threshold": threshold}
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            t = time.perf_counter()
            # A pre-loaded database (--big-url) may still hold the index from an interrupted run.
            cur.execute("DROP INDEX IF EXISTS bench_ban_names_trgm")
            cur.execute("CREATE INDEX bench_ban_names_trgm ON ban_names USING gin (name gin_trgm_ops)")
            cur.execute("ANALYZE ban_names")
            out["index_build_s"] = time.perf_counter() - t
            cur.execute("SET pg_trgm.similarity_threshold = %s", (threshold,))
            sql = (
                "SELECT n.ban_id, n.name, similarity(n.name, %(q)s) AS s FROM ban_names n "
                "JOIN bans b ON b.id = n.ban_id AND b.status = 'active' "
                "WHERE n.name %% %(q)s ORDER BY s DESC LIMIT 10"
            )
            for q in disguises[:5]:
                cur.execute(sql, {"q": q["name"]})
                cur.fetchall()
            times, hits = [], []
            for q in disguises:
                t = time.perf_counter()
                cur.execute(sql, {"q": q["name"]})
                rows = cur.fetchall()
                times.append(time.perf_counter() - t)
                src = name_keys(q["source"])
                hits.append(any(name == q["source"] or name_keys(name) == src for _, name, _ in rows))
        out["latency_ms"] = percentiles(times)
        out["hits"] = hits
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP INDEX IF EXISTS bench_ban_names_trgm")
        conn.close()
    return out


# --- report ----------------------------------------------------------------------------------------


def fmt_ms(v: float) -> str:
    """Format milliseconds."""
    return f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms"


def main() -> None:
    """Run every phase and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bans", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100k bans, 10 s of HTTP load")
    ap.add_argument("--small", type=int, default=1000, help="bans in the small database")
    ap.add_argument("--labelled", type=int, default=500, help="bans disguised by the query set")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2, help="passes over the queries in process")
    ap.add_argument("--scan-queries", type=int, default=20, help="queries for the rapidfuzz full scan")
    ap.add_argument("--trgm-threshold", type=float, default=0.3)
    ap.add_argument("--trgm-queries", type=int, default=100, help="disguises timed with pg_trgm")
    ap.add_argument("--http-seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--returning", type=float, default=0.05, help="share of traffic from banned people")
    ap.add_argument("--recall-queries", type=int, default=800, help="labelled disguises for recall")
    ap.add_argument("--common-queries", type=int, default=300, help="common Chinese names, measured apart")
    ap.add_argument(
        "--big-url",
        help="use this already-loaded database (made from --big-file) instead of importing N bans; the "
        "import rate is then measured with the real `registry bans import` on --import-sample lines",
    )
    ap.add_argument("--big-file", help="the JSON Lines file --big-url was loaded from")
    ap.add_argument("--import-sample", type=int, default=50_000)
    ap.add_argument(
        "--compare-startup",
        action="store_true",
        help="also start the server without preload (each worker builds) to time its readiness",
    )
    ap.add_argument("--json", help="write the summary here as JSON")
    ap.add_argument("--workdir", help="keep the generated files here (default: a temp dir, removed)")
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("REGISTRY_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sidebyside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--queries-file", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_inproc(args)
        return

    def _terminate(signum: int, _frame: Any) -> None:
        # Turn SIGTERM into an exception so the finally blocks drop the databases and kill the server.
        raise SystemExit(f"terminated by signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    if args.quick:
        args.bans = 100_000
        if args.http_seconds == 20:
            args.http_seconds = 10
    if "127.0.0.1" not in args.pg_url and "localhost" not in args.pg_url:
        raise SystemExit("--pg-url must point at 127.0.0.1")
    command = shlex.join([sys.executable, *sys.argv])
    print(f"reproduce: cd {ROOT} && {command}", flush=True)

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_check-"))
    workdir.mkdir(parents=True, exist_ok=True)
    dbs = Databases(args.pg_url)
    tag = f"bench_check_{os.getpid()}"
    results: dict[str, Any] = {"command": command, "bans": args.bans}
    started = time.perf_counter()
    try:
        t = time.perf_counter()
        if args.big_url:
            path = Path(args.big_file)
            labelled = read_labelled(path, args.labelled)
            args.bans = results["bans"] = sum(1 for _ in open(path, encoding="utf-8"))  # noqa: SIM115 - counting lines
            print(f"[1] using the loaded database for {path} ({args.bans} lines)", flush=True)
        else:
            print(f"[1] generating {args.bans} bans", flush=True)
            path = workdir / f"bans-{args.bans}.jsonl"
            labelled = generate(path, args.bans, seed=args.seed, labelled=args.labelled)
        results["generate_s"] = time.perf_counter() - t
        small_path = workdir / f"bans-{args.small}.jsonl"
        _head(path, small_path, args.small)
        queries = make_queries(
            labelled, args.queries, args.seed + 1, args.returning, args.recall_queries, args.common_queries
        )
        traffic = [q for q in queries if q["set"] == "traffic"]
        results["mix"] = mix = (
            f"traffic: {args.queries} checks, {1 - args.returning:.1%} innocents (a name space disjoint from "
            f"the banned one by construction), {args.returning:.1%} returning banned people (half disguised "
            f"names, half reformatted identifiers); recall on {args.recall_queries} labelled disguises + "
            f"{args.recall_queries // 2} identifiers; {args.common_queries} common Chinese names apart"
        )
        print(f"    {mix}", flush=True)
        queries_file = workdir / "queries.json"
        queries_file.write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
        bodies_file = workdir / "bodies.jsonl"
        bodies_file.write_text(
            "".join(json.dumps(q["body"], ensure_ascii=False) + "\n" for q in traffic), encoding="utf-8"
        )

        small_url = dbs.create(f"{tag}_small")
        small_env = env_for(small_url, workdir)
        run_cli(["db", "upgrade"], small_env)
        if args.big_url:
            big_url = args.big_url
            big_env = env_for(big_url, workdir)
            sample_path = workdir / f"bans-sample-{args.import_sample}.jsonl"
            _head(path, sample_path, args.import_sample)
            sample_url = dbs.create(f"{tag}_sample")
            sample_env = env_for(sample_url, workdir)
            run_cli(["db", "upgrade"], sample_env)
            print(f"[1] import rate on the first {args.import_sample} lines (then again)", flush=True)
            results["import"] = imp = phase_import(sample_path, sample_url, sample_env)
            imp["sample_of_prebuilt"] = True
        else:
            big_url = dbs.create(f"{tag}_big")
            big_env = env_for(big_url, workdir)
            run_cli(["db", "upgrade"], big_env)
            print(f"[1] importing {path.name} (then again)", flush=True)
            results["import"] = imp = phase_import(path, big_url, big_env)
        print(
            f"    {imp['summary']}\n    re-import: {imp['reimport_summary']}"
            f" ({imp['reimport_seconds']:.1f} s)"
        )
        results["import_small"] = phase_import(small_path, small_url, small_env)

        print("[2] in-process checks at N bans (fresh process) with side-by-side matchers", flush=True)
        extra = ["--rounds", str(args.rounds), "--scan-queries", str(args.scan_queries)]
        results["inproc_big"] = big = phase_inproc(
            big_url, big_env, queries_file, workdir / "big.json", [*extra, "--sidebyside"]
        )
        print(f"    ready {big['ready_s']:.1f} s, engine {big['rss']['engine_mb']:.0f} MB", flush=True)
        print(f"[2] in-process checks at {args.small} bans", flush=True)
        results["inproc_small"] = phase_inproc(
            small_url, small_env, queries_file, workdir / "small.json", extra
        )

        if not args.skip_http:
            print(f"[3] HTTP: registry serve --workers 2, {args.http_seconds} s per load", flush=True)
            results["http"] = phase_http(
                big_url, big_env, workdir, bodies_file, args.http_seconds, args.connections, preload=True
            )
            if args.compare_startup:
                print("[3] startup without preload (each worker builds its own engine)", flush=True)
                results["http_no_preload"] = phase_http(
                    big_url, big_env, workdir, bodies_file, 0, args.connections, preload=False
                )
        print("[4] pg_trgm", flush=True)
        results["trgm"] = phase_trgm(big_url, queries, args.trgm_threshold, args.trgm_queries)
    finally:
        dbs.close()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    results["total_s"] = time.perf_counter() - started
    report(results, args)
    print(f"\nreproduce: cd {ROOT} && {command}")


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the detail tables and the summary; write the JSON."""
    big, small = r["inproc_big"], r["inproc_small"]
    n = r["bans"]
    print(f"\n== in-process decide() latency (ms), {args.queries} queries x {args.rounds} rounds ==")
    print(f"{'kind':<12}{'bans':>9}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}{'n':>7}")
    for label, res, size in ((f"{n}", big, n), (f"{args.small}", small, args.small)):
        for kind in ("all", "innocent", "disguise", "identifier", "common"):
            lat = res["latency_ms"].get(kind)
            if lat is None:
                continue
            count = sum(res["decisions"].get(kind, {}).values()) if kind != "all" else args.queries
            print(
                f"{kind:<12}{size:>9}{lat['p50']:>9.3f}{lat['p90']:>9.3f}{lat['p99']:>9.3f}{lat['max']:>9.2f}{count:>7}"
            )
        del label
    print(f"({r['mix']}; 'all' is the traffic mix only)")
    print("\ndecisions at N:", json.dumps(big["decisions"]))
    print("decisions at small:", json.dumps(small["decisions"]))
    print("\n== recall of the full check (decide) on labelled disguises, per trick ==")
    print(f"{'trick':<26}{'at N':>10}{'at small':>10}{'n':>6}")
    for k in sorted(big["recall"]):
        hb, nb = big["recall"][k]
        hs, ns = small["recall"].get(k, (0, 0))
        print(f"{k:<26}{hb / nb:>10.1%}{(hs / ns if ns else 0):>10.1%}{nb:>6}")

    sbs = big["sidebyside"]
    trgm = r["trgm"]
    k = args.scan_queries
    print(f"\n== side by side on {n} bans ({big['engine']['names']} names), same labelled disguises ==")
    print(f"{'contender':<34}{'p50 ms':>10}{'p99 ms':>10}{'recall':>9}{'q':>6}{f'recall@{k}':>11}")
    rows = [
        ("this matcher (NameIndex.search)", sbs["matcher"]),
        ("rapidfuzz scan (ratio, canonical)", sbs["rapidfuzz"]),
        (f"pg_trgm % (threshold {trgm['threshold']})", trgm),
    ]
    for name, res in rows:
        h = res["hits"]
        lat = res["latency_ms"]
        print(
            f"{name:<34}{lat['p50']:>10.3f}{lat['p99']:>10.3f}{sum(h) / len(h):>9.1%}{len(h):>6}"
            f"{sum(h[:k]) / len(h[:k]):>11.1%}"
        )
    full = big["latency_ms"]["disguise"]
    print(f"(the full check on the same disguises: p50 {full['p50']:.3f} ms; pg_trgm GIN index built in "
          f"{trgm['index_build_s']:.1f} s; rapidfuzz names loaded in "
          f"{sbs['rapidfuzz']['load_s']:.1f} s)")  # fmt: skip

    summary: list[dict[str, Any]] = []

    def row(target: str, measured: float | None, shown: str, ok: bool | None) -> None:
        summary.append({"target": target, "measured": measured, "shown": shown, "pass": ok})

    imp = r["import"]
    row(f"import >= {T_IMPORT:,.0f} bans/s", imp["bans_per_s"], f"{imp['bans_per_s']:,.0f} bans/s "
        f"({imp['created']:,} in {imp['seconds']:.1f} s)", imp["bans_per_s"] >= T_IMPORT)  # fmt: skip
    dup = sum(imp["duplicated"].values())
    row("re-import duplicates nothing", dup, f"+{dup} rows, {imp['reimport_seconds']:.1f} s", dup == 0)
    row(f"worker ready <= {T_READY:.0f} s (in-process)", big["ready_s"],
        f"{big['ready_s']:.1f} s (create_app {big['create_app_s']:.1f} + warm {big['warm_s']:.1f})",
        big["ready_s"] <= T_READY)  # fmt: skip
    for key, how in (("http", "preload: master builds, forks 2"), ("http_no_preload", "2 workers build")):
        h = r.get(key)
        if not h or not h.get("worker_build_s"):
            continue
        up = h["both_workers_built_s"]
        row(f"worker ready <= {T_READY:.0f} s (serve, {how})", up,
            f"both answering {up:.1f} s after launch (engine builds "
            f"{', '.join(f'{x:.1f}' for x in h['worker_build_s'])} s)", up <= T_READY)  # fmt: skip
        mem = h.get("memory", {}).get("workers") or []
        if mem:
            worst_private = max(m["private_mb"] for m in mem)
            row(f"worker memory <= {T_RSS:.0f} MB (serve, {how})", worst_private,
                "per worker private " + ", ".join(f"{m['private_mb']:.0f}" for m in mem) + " MB, PSS "
                + ", ".join(f"{m['pss_mb']:.0f}" for m in mem) + f" MB, RSS {mem[0]['rss_mb']:.0f} MB; "
                f"master {h['memory']['master']['rss_mb']:.0f} MB", worst_private <= T_RSS)  # fmt: skip
    eng = big["rss"]["engine_mb"]
    idx_only = eng - small["rss"]["engine_mb"]
    row(f"engine RSS <= {T_RSS:.0f} MB", eng, f"{eng:.0f} MB (index alone {idx_only:.0f} MB; worker "
        f"{big['rss']['after_warmup_mb']:.0f} MB, peak {big['rss']['peak_mb']:.0f} MB)",
        eng <= T_RSS)  # fmt: skip
    p50, p99 = big["latency_ms"]["all"]["p50"], big["latency_ms"]["all"]["p99"]
    row(f"check p50 <= {T_P50} ms at N", p50, fmt_ms(p50), p50 <= T_P50)
    row(f"check p99 <= {T_P99} ms at N", p99, fmt_ms(p99), p99 <= T_P99)
    ratio = p50 / small["latency_ms"]["all"]["p50"]
    ratio99 = p99 / small["latency_ms"]["all"]["p99"]
    row(f"p50 at N / at {args.small} <= {T_RATIO}x", ratio,
        f"{ratio:.2f}x (p99 {ratio99:.2f}x; {args.small}: p50 {fmt_ms(small['latency_ms']['all']['p50'])})",
        ratio <= T_RATIO)  # fmt: skip
    if "http" in r:
        h = r["http"]
        c = h["check"]
        row(f"HTTP >= {T_HTTP:,.0f} checks/s (2 workers)", c["per_s"],
            f"{c['per_s']:,.0f}/s p50 {c['p50_ms']:.1f} p99 {c['p99_ms']:.1f} ms, {c['non_2xx']} non-2xx "
            f"({c['tool']}, {c['connections']} conns)", c["per_s"] >= T_HTTP)  # fmt: skip
        row("baseline /healthz (info)", h["healthz"]["per_s"],
            f"{h['healthz']['per_s']:,.0f}/s p50 {h['healthz']['p50_ms']:.1f} ms; check/healthz "
            f"{h['ratio_check_healthz']:.2f}", None)  # fmt: skip
    ident = [v for k2, v in big["recall"].items() if k2.startswith("identifier:")]
    ir = sum(h for h, _ in ident) / max(1, sum(t for _, t in ident))
    row("identifier recall 100% (check)", ir, f"{ir:.1%}", ir == 1.0)
    names = [v for k2, v in big["recall"].items() if k2.startswith("name:")]
    nr = sum(h for h, _ in names) / max(1, sum(t for _, t in names))
    row("disguised-name recall (check, info)", nr, f"{nr:.1%} overall at N", None)
    inn = big["decisions"].get("innocent", {})
    allowed = inn.get("allow", 0) / max(1, sum(inn.values()))
    row("innocents allowed >= 99.5% (disjoint names)", allowed, f"{allowed:.2%} of {sum(inn.values())} "
        f"({json.dumps(inn)})", allowed >= 0.995)  # fmt: skip
    com = big["decisions"].get("common", {})
    collided = 1 - com.get("allow", 0) / max(1, sum(com.values()))
    row("common-name collisions (info)", collided, f"{collided:.1%} of {sum(com.values())} common "
        f"Chinese names not allowed ({json.dumps(com)})", None)  # fmt: skip
    traffic = big["decisions"].get("traffic", {})
    row("traffic mix decisions (info)", None, json.dumps(traffic), None)

    print(f"\n== summary: {n:,} bans ==")
    print(f"{'target':<44}{'measured':<70}{'result':>7}")
    for s in summary:
        verdict = "-" if s["pass"] is None else ("PASS" if s["pass"] else "FAIL")
        print(f"{s['target']:<44}{s['shown']:<70}{verdict:>7}")
    print(f"(total {r['total_s']:.0f} s; generate {r['generate_s']:.1f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "detail": r}, indent=1, default=str))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
