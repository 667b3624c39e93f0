"""Time NameIndex against a brute-force rapidfuzz scan at 1k and 1M banned names.

Usage: python scripts/bench_matcher.py [--n 1000000] [--queries 2000] [--seed 3]
Each contender is one function taking (names, labelled queries) and returning a Result; add one to
CONTENDERS (PostgreSQL pg_trgm goes there).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import Pool, get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_names import TRICKS, english_handle, han_name, pinyin_handle
from rapidfuzz import fuzz, process

from registry.matching import MatchConfig, NameIndex, canonical, encode_name
from registry.matching.keys import name_keys


@dataclass
class Result:
    """Timings and recall of one contender on one index size."""

    name: str
    n: int
    build_s: float
    rss_mb: float
    p50_ms: float
    p99_ms: float
    recall: float
    queries: int


Query = tuple[str, int | None]  # (text, index of the ban it disguises, or None for an innocent)
Contender = Callable[[list[str], list[Query]], Result]


def _rss_mb() -> float:
    """Return this process's peak RSS in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    """Return this process's current RSS in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _zipf_cum(n: int, s: float) -> list[float]:
    out, total = [], 0.0
    for r in range(1, n + 1):
        total += 1 / r**s
        out.append(total)
    return out


def synthetic_names(n: int, seed: int) -> list[str]:
    """Make n names with a Zipf-like spread: a few very popular names, a long tail of rare ones.

    A third of the names come from a pool of popular names drawn with Zipf weights (rank r weighs
    1/r^1.1, so the commonest is shared by ~1% of all bans); the rest are fresh random names, which
    collide only as often as the generators make them.
    """
    rng = random.Random(seed)
    makers = (han_name, han_name, pinyin_handle, english_handle)
    pool = [rng.choice(makers)(rng) for _ in range(max(10, n // 20))]
    cum = _zipf_cum(len(pool), 1.1)
    out: list[str] = []
    while len(out) < n:
        if rng.random() < 1 / 3:
            out.append(rng.choices(pool, cum_weights=cum)[0])
        else:
            out.append(rng.choice(makers)(rng))
    return out


def make_queries(names: list[str], labelled: int, k: int, seed: int) -> list[Query]:
    """Disguise the first `labelled` names with random tricks and mix in innocents."""
    rng = random.Random(seed)
    tricks = list(TRICKS.values())
    out: list[Query] = []
    while len(out) < k:
        i = rng.randrange(labelled)
        v = rng.choice(tricks)(names[i], rng)
        if v is not None:
            out.append((v, i))
        if rng.random() < 0.25:
            out.append((rng.choice((han_name, pinyin_handle, english_handle))(rng), None))
    return out[:k]


def _percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times) * 1e3, times[int(len(times) * 0.99) - 1 if len(times) > 1 else 0] * 1e3


def _encode_all(names: list[str]) -> list[str]:
    with Pool() as pool:
        return pool.map(encode_name, names, chunksize=5000)


def _ban_id(i: int) -> str:
    # Fixed width like the service's time-ordered ids, so id order is insertion order.
    return f"ban-{i:07d}"


def _index_worker(path: str, n: int, queries: list[Query], targets: dict[int, str]) -> dict[str, float]:
    """Build NameIndex from a file of pre-encoded rows (as a worker streams them from the database)."""
    gc.collect()
    idx0 = NameIndex()
    idx0.add("warm", "warm up", encode_name("warm up"))
    idx0.search("王小明 warm up")
    del idx0
    gc.collect()
    rss0 = _current_rss_mb()
    t = time.perf_counter()
    idx = NameIndex()
    with open(path, encoding="utf-8") as f:
        for line in f:
            ban_id, name, enc = line.rstrip("\n").split("\t")
            idx.add(ban_id, name, enc)
    idx.compact()
    build_s = time.perf_counter() - t
    gc.collect()
    steady = _current_rss_mb()
    peak = _rss_mb()
    threshold = MatchConfig().review_threshold
    times, hits, labelled = [], 0, 0
    for text, target in queries:
        t = time.perf_counter()
        res = idx.search(text, limit=5, min_score=threshold)
        times.append(time.perf_counter() - t)
        if target is not None:
            labelled += 1
            # Right when the target ban is named, or a ban whose name has the target's keys: those bans
            # share the name, and the check learns that the name is banned.
            hits += any(
                m.ban_id == _ban_id(target) or name_keys(m.matched) == name_keys(targets[target]) for m in res
            )
    p50, p99 = _percentiles(times)
    return {
        "build_s": build_s,
        "base": rss0,
        "steady": steady,
        "peak": peak,
        "p50": p50,
        "p99": p99,
        "recall": hits / max(labelled, 1),
        "entries": idx.entries,
    }


def run_index(names: list[str], queries: list[Query]) -> Result:
    """Build NameIndex in a fresh process from pre-encoded rows and time searches."""
    t = time.perf_counter()
    encoded = _encode_all(names)
    enc_s = time.perf_counter() - t
    print(f"  encode {len(names)} names: {enc_s:.1f}s (done once, at ban time, in production)")
    targets = {i: names[i] for _, i in queries if i is not None}
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".tsv", delete=False) as f:
        for i, (name, enc) in enumerate(zip(names, encoded, strict=True)):
            f.write(f"{_ban_id(i)}\t{name}\t{enc}\n")
    del encoded
    try:
        with get_context("spawn").Pool(1) as pool:
            r = pool.apply(_index_worker, (f.name, len(names), queries, targets))
    finally:
        os.unlink(f.name)
    print(
        f"  {r['entries']:.0f} distinct entries; worker RSS {r['base']:.0f} MB warmed up, "
        f"{r['steady']:.0f} MB after build and gc (index {r['steady'] - r['base']:.0f} MB), "
        f"peak {r['peak']:.0f} MB"
    )
    return Result(
        "NameIndex",
        len(names),
        r["build_s"],
        r["steady"] - r["base"],
        r["p50"],
        r["p99"],
        r["recall"],
        len(queries),
    )


def run_rapidfuzz_scan(names: list[str], queries: list[Query]) -> Result:
    """Score every name with rapidfuzz.process.extract on canonical forms (the brute-force baseline)."""
    t = time.perf_counter()
    rss0 = _rss_mb()
    choices = [canonical(n) for n in names]
    build_s = time.perf_counter() - t
    rss = _rss_mb() - rss0
    # A full scan of a million names takes ~0.1-1 s a query: time a handful only.
    qs = queries if len(names) <= 10_000 else queries[:20]
    times, hits, labelled = [], 0, 0
    for text, target in qs:
        t = time.perf_counter()
        res = process.extract(canonical(text), choices, scorer=fuzz.ratio, limit=5, score_cutoff=85)
        times.append(time.perf_counter() - t)
        if target is not None:
            labelled += 1
            hits += any(idx == target or choices[idx] == choices[target] for _, _, idx in res)
    p50, p99 = _percentiles(times)
    return Result("rapidfuzz scan", len(names), build_s, rss, p50, p99, hits / max(labelled, 1), len(qs))


CONTENDERS: list[Contender] = [run_index, run_rapidfuzz_scan]


def main() -> None:
    """Run every contender on a small and a large index and print a comparison."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000, help="size of the large index")
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    big = synthetic_names(args.n, args.seed)
    # The small index is the first names of the large one, so both answer the same labelled queries.
    queries = make_queries(big, args.small, args.queries, args.seed)
    results: list[Result] = []
    for size in (args.small, args.n):
        names = big[:size]
        for contender in CONTENDERS:
            print(f"running {contender.__name__} on {size} names", flush=True)
            results.append(contender(names, queries))
    head = ("contender", "n", "build s", "rss MB", "p50 ms", "p99 ms", "recall", "q")
    print("\n{:<16}{:>9}{:>9}{:>9}{:>9}{:>9}{:>8}{:>6}".format(*head))
    for r in results:
        print(
            f"{r.name:<16}{r.n:>9}{r.build_s:>9.2f}{r.rss_mb:>9.0f}{r.p50_ms:>9.3f}{r.p99_ms:>9.3f}"
            f"{r.recall:>8.1%}{r.queries:>6}"
        )
    for name in dict.fromkeys(r.name for r in results):
        small = next(r for r in results if r.name == name and r.n == args.small)
        large = next(r for r in results if r.name == name and r.n == args.n)
        print(f"{name}: p50 ratio {args.n}/{args.small} = {large.p50_ms / small.p50_ms:.2f}")


if __name__ == "__main__":
    main()
