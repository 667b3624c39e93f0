"""Time crafted names (split-character chains, long repeats) against ordinary ones on one name index.

Usage: python scripts/bench_crafted_matching.py [--bans 20000] [--rounds 20]

A name such as "弓长" * 64 makes every adjacent pair a split-character candidate; without bounds the
variants (and the candidates they retrieve) multiply. Prints the median cost of an ordinary check's name
search and of each crafted one, and their ratio (goal: the worst crafted <= 5x ordinary).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_names import english_handle, han_name, pinyin_handle

from registry.matching import MatchConfig, NameIndex

CRAFTED = {
    "弓长 x6": "弓长" * 6,
    "弓长 x16": "弓长" * 16,
    "弓长 x24": "弓长" * 24,
    "弓长 x64": "弓长" * 64,
    "木子 x64": "木子" * 64,
    "耳东弓长 x32": "耳东弓长" * 32,
    "口天 x64 display": "口天" * 128,
    "a x128": "a" * 128,
    "zhangsan x16": "zhangsan" * 16,
    "z.h.a.n.g x25": "z.h.a.n.g." * 12,
    "1l1l x32": "1l1l" * 32,
    "pinyin syllables": "wangxiaoming" * 10,
}


def median_us(index: NameIndex, names: list[str], rounds: int) -> float:
    """Return the median microseconds of one search over the names."""
    times = []
    for _ in range(rounds):
        for n in names:
            t0 = time.perf_counter()
            index.search(n, limit=10, min_score=85.0)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main() -> None:
    """Print ordinary vs crafted search cost."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bans", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    rng = random.Random(5)
    makers = (han_name, han_name, pinyin_handle, english_handle)
    index = NameIndex(MatchConfig())
    for i in range(args.bans):
        index.add(f"b{i}", rng.choice(makers)(rng))
    # Names the crafted ones could reach: bans made of the same pieces.
    for i, n in enumerate(("张三", "李四", "陈张", "吴张", "张张张")):
        index.add(f"c{i}", n)
    index.compact()
    ordinary = [rng.choice(makers)(rng) for _ in range(300)]
    base = median_us(index, ordinary, max(1, args.rounds // 10))
    print(f"{args.bans} bans; ordinary name search p50 {base:.0f} us")
    worst = 0.0
    for label, name in CRAFTED.items():
        us = median_us(index, [name], args.rounds)
        worst = max(worst, us / base)
        print(f"  {label:<20} {us:>9.0f} us  {us / base:>6.2f}x ordinary")
    print(f"worst crafted / ordinary: {worst:.2f}x (goal <= 5x)")


if __name__ == "__main__":
    main()
