"""Time the account-name rules on crafted worst-case names against a normal name (ratio, target <= 5x).

A crafted name is one an attacker writes to make the rules' patterns backtrack: long runs of spaces
after a contact keyword (``qq`` + 250 spaces), repeated keywords, separators between digits, dots.
Each crafted case is a (username, display_name) pair as a check sends it, both at their schema's
length caps (128 and 256 characters); the baseline is an ordinary pair, timed in the same run.

Run: python scripts/bench_crafted_names.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry.name_rules import NamePolicy

USERNAME_MAX, DISPLAY_MAX = 128, 256
NORMAL = ("zhangwei1988", "张伟的小店")
# Ordinary names as long as the schemas allow: linear work grows with length, so a crafted pair at the
# caps is also compared with an innocent pair at the caps (super-linear patterns show as a big ratio).
LONG_NORMAL = (
    ("zhangweililiwangfang" * 7)[:USERNAME_MAX],
    ("张伟的读书笔记，分享日常生活和旅行摄影。" * 13)[:DISPLAY_MAX],
)


def crafted() -> dict[str, tuple[str, str]]:
    """Return the crafted (username, display_name) pairs by label, each within the schemas' caps."""
    u, d = USERNAME_MAX, DISPLAY_MAX
    cases = {
        "split chars + qq and spaces (issue 10)": ("弓长" * 64, "qq" + " " * 250),
        "qq, spaces, no digits": ("qq" + " " * 126, "qq" + " " * 254),
        "qq号 repeated with spaces": (("qq号 " * 40)[:u], ("qq号 " * 80)[:d]),
        "qq: repeated with spaces": (("qq : " * 40)[:u], ("qq : " * 80)[:d]),
        "微信 + spaces + letters": (("微信 " + "a" * 4) * 16, ("微信" + " " * 120 + "号" + " " * 120)[:d]),
        "wechat spaces": ("wechat" + " " * 122, ("wechat " * 40)[:d]),
        "vx: repeated": (("vx:" * 60)[:u], ("vx : " * 60)[:d]),
        "vx spaces": ("vx" + " " * 126, "vx" + " " * 254),
        "+ and spaces": (("+ " * 64)[:u], ("+" + " " * 255)),
        "digits split by separators": (("1-" * 64)[:u], ("1 " * 128)[:d]),
        "long digit run": ("1" * u, "1" * d),
        "o/l digit look-alikes": (("1o" * 64)[:u], ("l0" * 128)[:d]),
        "dotted labels": (("a." * 64)[:u], ("a." * 128)[:d]),
        "dot words": (("a dot " * 30)[:u], ("a 点 " * 70)[:d]),
        "http and spaces": (("http" + " " * 124), ("http :" + " " * 250)),
        "www spaces": (("www " * 32)[:u], ("www" + " " * 253)),
        "hyphen labels": (("a-" * 64)[:u], ("a-" * 127 + "a.")[:d]),
    }
    for label, (name, display) in cases.items():
        assert len(name) <= u and len(display) <= d, label
    return cases


def time_pair(policy: NamePolicy, pair: tuple[str, str], repeat: int) -> float:
    """Return the median seconds one evaluation of both fields takes."""
    username, display = pair
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        policy.evaluate(username, field="username")
        policy.evaluate(display, field="display_name")
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    """Print each crafted case's cost as a ratio of the normal pair's."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--target", type=float, default=5.0)
    args = parser.parse_args()
    policy = NamePolicy.from_defaults()
    time_pair(policy, NORMAL, 5)  # warm caches (phonenumbers metadata, fold tables)
    base = time_pair(policy, NORMAL, args.repeat * 4)
    long_base = time_pair(policy, LONG_NORMAL, args.repeat * 2)
    print(f"normal pair {NORMAL!r}: {base * 1e6:.1f} us")
    print(f"ordinary pair at the length caps ({USERNAME_MAX}/{DISPLAY_MAX} chars): {long_base * 1e6:.1f} us")
    print(f"{'crafted pair':42} {'time':>12} {'/normal':>8} {'/capped':>8}")
    worst, worst_capped = 0.0, 0.0
    for label, pair in crafted().items():
        cost = time_pair(policy, pair, args.repeat)
        worst, worst_capped = max(worst, cost / base), max(worst_capped, cost / long_base)
        print(f"{label:42} {cost * 1e6:9.1f} us {cost / base:7.1f}x {cost / long_base:7.1f}x")
    print(f"worst crafted / normal pair: {worst:.1f}x")
    print(f"worst crafted / ordinary pair at the caps: {worst_capped:.1f}x (target <= {args.target:g}x)")
    return 0 if worst_capped <= args.target else 1


if __name__ == "__main__":
    raise SystemExit(main())
