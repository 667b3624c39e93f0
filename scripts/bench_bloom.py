"""Compare bloom-filter2 (pure Python) and rbloom (Rust) on HMAC hex digests, as the registry stores them.

Usage: python scripts/bench_bloom.py [--n 1000000] [--fp 0.001] [--slow-n 250000] [--probes 100000]

bloom-filter2 is measured at min(n, --slow-n) items and its load time extrapolated linearly to n
(per-item cost does not depend on the number of items), which the output says when it happens.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import rbloom
from bloom_filter2 import BloomFilter


def stable_hash(item: str) -> int:
    """Return the first 16 bytes of a hex digest as a signed 128-bit integer, as rbloom requires."""
    return int(item[:32], 16) - (1 << 127)


def make_digests(count: int, key: bytes, start: int = 0) -> list[str]:
    """Return count HMAC-SHA256 hex digests of distinct fake phone numbers."""
    return [
        hmac.new(key, f"phone\x00+86138{i:08d}".encode(), hashlib.sha256).hexdigest()
        for i in range(start, start + count)
    ]


@dataclass
class Result:
    name: str
    n_loaded: int
    load_s: float
    hit_us: float
    miss_us: float
    false_positive_rate: float
    memory_bytes: int
    extrapolated: bool


def _time_per_call(check: Callable[[str], bool], items: Sequence[str]) -> tuple[float, int]:
    start = time.perf_counter()
    positives = sum(1 for item in items if check(item))
    return (time.perf_counter() - start) / len(items) * 1e6, positives


def bench_rbloom(inserted: list[str], hits: list[str], misses: list[str], fp: float) -> Result:
    """Load and probe rbloom with a stable hash function."""
    start = time.perf_counter()
    bloom = rbloom.Bloom(len(inserted), fp, stable_hash)
    bloom.update(inserted)
    load_s = time.perf_counter() - start
    hit_us, hit_count = _time_per_call(bloom.__contains__, hits)
    assert hit_count == len(hits), "a Bloom filter must never miss an inserted item"
    miss_us, false_positives = _time_per_call(bloom.__contains__, misses)
    return Result(
        "rbloom",
        len(inserted),
        load_s,
        hit_us,
        miss_us,
        false_positives / len(misses),
        bloom.size_in_bits // 8,
        False,
    )


def bench_bloom_filter2(
    inserted: list[str], n_target: int, hits: list[str], misses: list[str], fp: float
) -> Result:
    """Load and probe bloom-filter2 sized for n_target, extrapolating load time if fewer were inserted."""
    # Sized for the full target so bit-array size and probe count match what n_target would need.
    bloom = BloomFilter(max_elements=n_target, error_rate=fp)
    start = time.perf_counter()
    for item in inserted:
        bloom.add(item)
    load_s = time.perf_counter() - start
    extrapolated = len(inserted) < n_target
    if extrapolated:
        load_s *= n_target / len(inserted)
    hit_us, hit_count = _time_per_call(bloom.__contains__, hits)
    assert hit_count == len(hits), "a Bloom filter must never miss an inserted item"
    miss_us, false_positives = _time_per_call(bloom.__contains__, misses)
    array = bloom.backend.array_
    memory = len(array) * array.itemsize
    # With fewer items than its capacity the filter is emptier, so its false-positive rate here
    # understates the one at full load; the column is only meaningful for rbloom in that case.
    return Result(
        "bloom-filter2",
        len(inserted),
        load_s,
        hit_us,
        miss_us,
        false_positives / len(misses),
        memory,
        extrapolated,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run both filters on the same digests and print a comparison table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="items to insert (default 1,000,000)")
    parser.add_argument("--fp", type=float, default=0.001, help="target false-positive rate (default 0.001)")
    parser.add_argument(
        "--slow-n",
        type=int,
        default=250_000,
        help="most items to insert into bloom-filter2 (default 250,000)",
    )
    parser.add_argument(
        "--probes", type=int, default=100_000, help="hit and miss probes each (default 100,000)"
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.slow_n < 1 or args.probes < 1 or not 0 < args.fp < 1:
        parser.error("--n, --slow-n and --probes must be positive and --fp between 0 and 1")

    key = os.urandom(32)
    start = time.perf_counter()
    inserted = make_digests(args.n, key)
    misses = make_digests(args.probes, key, start=args.n)
    elapsed = time.perf_counter() - start
    print(f"generated {args.n:,} + {args.probes:,} HMAC-SHA256 hex digests in {elapsed:.1f} s")

    slow_n = min(args.n, args.slow_n)
    slow_inserted = inserted[:slow_n]
    probes = min(args.probes, slow_n)
    fast = bench_rbloom(inserted, inserted[: args.probes], misses, args.fp)
    slow = bench_bloom_filter2(slow_inserted, args.n, slow_inserted[:probes], misses[:probes], args.fp)
    if slow.extrapolated:
        print(
            f"bloom-filter2: inserted {slow_n:,} of {args.n:,} items and scaled its load time by "
            f"{args.n / slow_n:g}; its probe times are measured on that partly filled filter"
        )

    columns = ("items", "load s", "hit µs", "miss µs", "fp rate", "memory MiB")
    widths = (10, 9, 8, 8, 9, 11)
    header = f"{'filter':<14} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    print(header)
    print("-" * len(header))
    for r in (slow, fast):
        load = f"{r.load_s:.2f}" + ("*" if r.extrapolated else "")
        print(
            f"{r.name:<14} {r.n_loaded:>10,} {load:>9} {r.hit_us:>8.2f} {r.miss_us:>8.2f} "
            f"{r.false_positive_rate:>9.5f} {r.memory_bytes / 2**20:>11.2f}"
        )
    if slow.extrapolated:
        print(f"* extrapolated to {args.n:,} items")
    print(
        f"rbloom/bloom-filter2 time ratio: load {fast.load_s / slow.load_s:.4f}, "
        f"hit {fast.hit_us / slow.hit_us:.4f}, miss {fast.miss_us / slow.miss_us:.4f}; "
        f"memory ratio {fast.memory_bytes / slow.memory_bytes:.2f}"
    )


if __name__ == "__main__":
    main()
