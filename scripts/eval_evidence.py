"""Measure the evidence model in process on one population: innocents flagged, disguised returns caught.

Usage: python scripts/eval_evidence.py [--seed 1] [--accounts 200000] [--bans 100000] [--innocents 2000]
           [--returns 200] [--generator scripts/gen_population.py] [--show 5]

Accounts, bans, innocent signups and returns all come from ONE population (scripts/gen_population.py,
the precision benchmark's generator): the bans are indexed, the accounts counted into the name key
counts, and every signup is judged by the old rule (any name match >= 85 flags) and by the evidence
model (registry/check/evidence.py) side by side. Identifiers are left out: returns carry new ones, and
innocents' are their own, so only names decide here. Prints the confusion table, the per-trick table and
the in-process p50/p99 of one check's name work (search, facts, decision).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from registry.check import evidence  # noqa: E402
from registry.matching import MatchConfig, NameIndex  # noqa: E402
from registry.matching.commonness import KeyCounts, account_keys, key_hash  # noqa: E402

FIELDS = ("username", "display_name")


def load_generator(path: Path) -> Any:
    """Import the population generator from a file."""
    spec = importlib.util.spec_from_file_location("gen_population", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gen_population"] = mod
    spec.loader.exec_module(mod)
    return mod


class World:
    """The bans indexed and the accounts counted, as one worker's engine holds them."""

    def __init__(self, index: NameIndex, counts: KeyCounts, weights: evidence.Weights) -> None:
        self.index, self.counts, self.weights = index, counts, weights

    def facts(self, body: dict[str, Any]) -> list[evidence.Evidence]:
        """Return the name evidence of a check body."""
        facts: list[evidence.Evidence] = []
        for f in FIELDS:
            name = body.get(f)
            if name:
                matches = self.index.search(name, limit=10, min_score=85.0)
                facts += evidence.name_facts(f, name, matches, self.counts.get, self.index.key_bans)
        return evidence.mark_echoes(facts, body)

    def judge(self, body: dict[str, Any], old: bool = False) -> tuple[str, list[dict[str, Any]]]:
        """Return the decision and reasons for a check body (names only)."""
        facts: list[evidence.Evidence] = []
        flagged = "allow"
        for f in FIELDS:
            name = body.get(f)
            if not name:
                continue
            matches = self.index.search(name, limit=10, min_score=85.0)
            if old:
                if matches:
                    flagged = "deny" if any(m.exact and f == "username" for m in matches) else "review"
                continue
            facts += evidence.name_facts(f, name, matches, self.counts.get, self.index.key_bans)
        if old:
            return flagged, []
        out = evidence.decide(evidence.mark_echoes(facts, body), self.weights)
        return out.decision, out.reasons


def build(gen: Any, seed: int, n_accounts: int, n_bans: int) -> tuple[Any, World, list[str]]:
    """Draw the population, count the accounts' keys and index the bans."""
    pop = gen.Population(seed=seed)
    t0 = time.perf_counter()
    tally: Counter[int] = Counter()
    for p in pop.people(n_accounts):
        for k in account_keys(p.username, p.display_name):
            tally[key_hash(k)] += 1
    counts = KeyCounts()
    counts.set_many(tally.items())
    counts.compact()  # as the service's build leaves them
    t1 = time.perf_counter()
    index = NameIndex(MatchConfig())
    ban_names: list[str] = []
    start = pop.next_index
    for j, p in enumerate(pop.people(n_bans)):
        for name in pop.ban_body(p)["names"]:
            index.add(f"b{j:07d}", name)
        ban_names.append(p.username)
    pop.ban_range = (start, start + n_bans)
    index.compact()
    t2 = time.perf_counter()
    print(
        f"population seed={seed}: {n_accounts} accounts counted in {t1 - t0:.1f}s ({len(counts)} keys), "
        f"{n_bans} bans indexed in {t2 - t1:.1f}s"
    )
    return pop, World(index, counts, evidence.Weights()), ban_names


def cache_tag(args: argparse.Namespace) -> str:
    """Return the version tag of a cached world: what built it (sizes, seed, generator, matching code).

    The index and the counts are made by registry/matching (keys, statistics keys, index layout) and
    the generator; a change to any of them makes an old pickle describe another world, so it is rebuilt.
    """
    import hashlib

    h = hashlib.blake2b(digest_size=12)
    h.update(f"{args.seed}:{args.accounts}:{args.bans}:{sys.version_info[:2]}".encode())
    for path in [args.generator, *sorted((ROOT / "registry" / "matching").glob("*.py"))]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def load_cache(path: Path, tag: str) -> tuple[Any, NameIndex, KeyCounts] | None:
    """Return the cached (population, index, counts) if the file exists and carries this tag."""
    import pickle

    if not path.exists():
        return None
    try:
        with open(path, "rb") as fh:
            got = pickle.load(fh)
    except Exception as exc:  # noqa: BLE001 - an unreadable cache is rebuilt, whatever broke it
        print(f"cache {path}: unreadable ({type(exc).__name__}), rebuilding")
        return None
    if not (isinstance(got, tuple) and len(got) == 4 and got[0] == tag):
        print(f"cache {path}: stale (built by other code or sizes), rebuilding")
        return None
    print(f"cache {path}: version {tag}")
    return got[1], got[2], got[3]


def main() -> None:  # noqa: C901 - an evaluation's script body
    """Print the confusion table, per-trick recall and p50/p99, old scoring beside the new."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--accounts", type=int, default=200_000)
    ap.add_argument("--bans", type=int, default=100_000)
    ap.add_argument("--innocents", type=int, default=2000)
    ap.add_argument("--returns", type=int, default=200, help="rare returns per trick")
    ap.add_argument("--generator", type=Path, default=ROOT / "scripts" / "gen_population.py")
    ap.add_argument("--show", type=int, default=0, help="print this many flagged innocents / misses")
    ap.add_argument(
        "--cache",
        type=Path,
        help="pickle of the built world, reused only while its version tag matches (PYTHONHASHSEED fixed)",
    )
    args = ap.parse_args()
    gen = load_generator(args.generator)
    tag = cache_tag(args)
    cached = load_cache(args.cache, tag) if args.cache else None
    if cached is not None:
        pop, index, counts = cached
        world = World(index, counts, evidence.Weights())
    else:
        pop, world, _ = build(gen, args.seed, args.accounts, args.bans)
        if args.cache:
            import pickle

            with open(args.cache, "wb") as fh:
                pickle.dump((tag, pop, world.index, world.counts), fh)

    signups = list(pop.innocents(args.innocents))
    for trick in gen.TRICKS:
        signups += pop.returns(trick, args.returns)
    signups += pop.common_returns(args.returns)

    table: dict[str, dict[str, Counter[str]]] = {"old": defaultdict(Counter), "new": defaultdict(Counter)}
    per_trick: dict[str, dict[str, list[int]]] = {
        "old": defaultdict(lambda: [0, 0]),
        "new": defaultdict(lambda: [0, 0]),
    }
    shown: dict[str, list[str]] = defaultdict(list)
    fp_why: Counter[str] = Counter()
    times: list[float] = []
    for s in signups:
        for model in ("old", "new"):
            t0 = time.perf_counter()
            decision, reasons = world.judge(s.body, old=model == "old")
            if model == "new":
                times.append(time.perf_counter() - t0)
            table[model][s.kind][decision] += 1
            flagged = decision != "allow"
            if s.kind == "rare":
                caught = (
                    flagged and any(r.get("ban_id") == f"b{s.ban_line:07d}" for r in reasons)
                    if model == "new"
                    else flagged
                )
                per_trick[model][s.trick][0] += caught
                per_trick[model][s.trick][1] += 1
                if model == "new" and not caught and len(shown["miss:" + s.trick]) < args.show:
                    shown["miss:" + s.trick].append(f"{s.source!r} <- {s.body.get(s.field)!r} {reasons[:1]}")
            if model == "new" and s.kind == "innocent" and flagged:
                top = next((r for r in reasons if r.get("code") == "similar_to_banned_name"), None)
                fp_why[",".join(top["tricks"]) or "equal" if top else "other"] += 1
            if model == "new" and s.kind == "innocent" and flagged and len(shown["fp"]) < args.show:
                shown["fp"].append(f"{s.body.get('username')!r}/{s.body.get('display_name')!r} {reasons[:2]}")

    print(f"\n{'':<10}{'kind':<10}{'n':>6}{'allow':>8}{'review':>8}{'deny':>8}{'flagged':>9}")
    for model in ("old", "new"):
        for kind in ("innocent", "rare", "common"):
            c = table[model][kind]
            n = sum(c.values())
            fl = (c["review"] + c["deny"]) / n if n else 0
            print(f"{model:<10}{kind:<10}{n:>6}{c['allow']:>8}{c['review']:>8}{c['deny']:>8}{fl:>9.1%}")
    print("\ninnocents flagged by the new model, by the tricks of their strongest name reason:")
    print("  " + ", ".join(f"{k or 'equal'} {v}" for k, v in fp_why.most_common()))
    print(f"\n{'trick':<16}{'n':>6}{'old':>9}{'new':>9}")
    tot = [0, 0]
    for trick in gen.TRICKS:
        ok_o, n = per_trick["old"][trick]
        ok_n, _ = per_trick["new"][trick]
        tot[0] += ok_n
        tot[1] += n
        print(f"{trick:<16}{n:>6}{(ok_o / n if n else 0):>9.1%}{(ok_n / n if n else 0):>9.1%}")
    print(f"{'all rare':<16}{tot[1]:>6}{'':>9}{(tot[0] / tot[1] if tot[1] else 0):>9.1%}")
    # The trade-off: innocents flagged and rare returns caught at other review thresholds.
    print(f"\n{'review score':<14}{'innocents flagged':>18}{'rare caught':>13}")
    kept = [(s, world.facts(s.body)) for s in signups if s.kind in ("innocent", "rare")]
    for t in (50, 55, 60, 65, 70, 75, 80, 85, 90, 95):
        w = evidence.Weights(review_score=float(t), deny_score=float(max(t, 85)))
        fl = ok = n_i = n_r = 0
        for s, facts in kept:
            out = evidence.decide(facts, w)
            if s.kind == "innocent":
                n_i += 1
                fl += out.decision != "allow"
            else:
                n_r += 1
                ok += out.decision != "allow" and any(
                    v.ban_id == f"b{s.ban_line:07d}" and v.decision != "allow" for v in out.verdicts
                )
        print(f"{t:<14}{fl / max(n_i, 1):>18.1%}{ok / max(n_r, 1):>13.1%}")

    # The floor no name model can go under: innocents whose own name (folded, or the handle's core) IS a
    # banned name that at most two people of the population hold, exactly what a rare return looks like.
    from registry.matching.keys import name_keys

    floor = 0
    n_inn = 0
    for s in signups:
        if s.kind != "innocent":
            continue
        n_inn += 1
        hit = False
        for f in FIELDS:
            name = s.body.get(f)
            if not name:
                continue
            k = name_keys(name)
            for key in {k.canonical, k.base}:
                b = world.index.key_bans(key)
                if b and world.counts.get(key) + b <= 2:
                    hit = True
        floor += hit
    print(
        f"\ninnocents whose own name equals a rare (<= 2 holders) banned name: {floor}/{n_inn} "
        f"= {floor / max(n_inn, 1):.1%} (flagging every rare return by name flags these too)"
    )
    times.sort()
    print(
        f"\nnew model, names of one check in process: p50 {statistics.median(times) * 1e3:.3f} ms, "
        f"p99 {times[int(len(times) * 0.99)] * 1e3:.3f} ms over {len(times)} checks"
    )
    for k, lines in shown.items():
        for line in lines:
            print(f"  {k}: {line}")


if __name__ == "__main__":
    main()
