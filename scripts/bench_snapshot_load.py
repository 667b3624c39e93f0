"""Time loading the check index snapshot in a fresh process at scale: this layout against the old one.

Usage: python scripts/bench_snapshot_load.py [--bans 1000000] [--accounts 2000000] [--cache FILE]
           [--repeat 3]

The world is the evidence evaluation's (scripts/eval_evidence.py: one population, the bans indexed, the
accounts' name keys counted; ``--cache`` reuses its pickle, PYTHONHASHSEED=0). A Bloom filter of three
identifiers per ban is added, and the payload ``registry/check/index/persist.py`` writes is saved with
``registry/check/snapshot.py`` twice:

- new: the name key counts compacted into their flat table (KeyCounts.compact, as a build leaves them);
- old: the same counts as a dict (as before the table), loaded with the collector running (as before).

Each file is then read by a fresh ``python`` process (``snapshot.read``: read, HMAC, unpickle), best of
--repeat, beside the floor any layout pays: reading the bytes and checking their HMAC. Issue 9's target
is a snapshot load within 3 s at 1M bans and 2M accounts; what a worker adds after the read (ranges and
policy from the database, the change log's catch-up) is measured by ``scripts/bench_scale.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from eval_evidence import build, cache_tag, load_cache, load_generator  # noqa: E402

from registry.check import snapshot as snap  # noqa: E402
from registry.identifiers.bloom import IdentifierFilter  # noqa: E402
from registry.matching.commonness import KeyCounts  # noqa: E402

KEY = b"bench-snapshot-load-key-not-a-secret"

READER = """
import gc, sys, time, hmac, hashlib
sys.path.insert(0, {root!r})
from registry.check import snapshot as snap
path, mode = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if mode == "floor":
    data = open(path, "rb").read()
    hmac.new({key!r}, data[:-32], hashlib.sha256).digest()
else:
    if mode == "old":
        class KeepCollecting:
            # As before: the collector left running through the unpickling.
            @staticmethod
            def isenabled():
                return False
            @staticmethod
            def disable():
                pass
        snap.gc = KeepCollecting
    header, payload = snap.read(path, {key!r})
    assert payload["counts"].get("never a key") == 0
print(time.perf_counter() - t)
"""


def dict_counts(counts: KeyCounts) -> KeyCounts:
    """Return the counts as the old layout held them: every digest in the dict."""
    old = KeyCounts()
    keys, vals, _ = counts._table
    old.set_many((k, v) for k, v in zip(keys, vals, strict=True) if k)
    old.set_many(counts._n.items())
    return old


def main() -> None:
    """Build (or load) the world, write both snapshots, read each in fresh processes, print the times."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--accounts", type=int, default=2_000_000)
    ap.add_argument("--bans", type=int, default=1_000_000)
    ap.add_argument("--generator", type=Path, default=ROOT / "scripts" / "gen_population.py")
    ap.add_argument("--cache", type=Path, help="the evaluation's world pickle (see eval_evidence.py)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    gen = load_generator(args.generator)
    cached = load_cache(args.cache, cache_tag(args)) if args.cache else None
    if cached is not None:
        _pop, names, counts = cached
    else:
        _pop, world, _ = build(gen, args.seed, args.accounts, args.bans)
        names, counts = world.index, world.counts
    counts.compact()
    n_idents = 3 * args.bans
    bloom = IdentifierFilter(max(1000, 2 * n_idents), 0.001)
    bloom.add_many(hashlib.sha256(b"%d" % i).hexdigest() for i in range(n_idents))
    # The accounts' phone, ID number and device digests.
    n_held = 3 * args.accounts
    held = IdentifierFilter(max(1000, 2 * n_held), 0.001)
    held.add_many(hashlib.sha256(b"a%d" % i).hexdigest() for i in range(n_held))

    def filter_doc(f: IdentifierFilter) -> dict[str, object]:
        # As registry/check/index/persist.py keeps a filter.
        return {"bits": f.to_bytes(), "capacity": f.capacity, "fp": f.false_positive_rate, "count": len(f)}

    header = snap.SnapshotHeader(
        format=snap.FORMAT_VERSION,
        low_water=1,
        event_subject="bench",
        event_at="2026-01-01T00:00:00",
        config=repr(names.config),
        pii_key_version=1,
        bans=args.bans,
        names=len(names),
        written_at="2026-01-01T00:00:00",
    )

    def payload(c: KeyCounts) -> dict[str, object]:
        return {
            "bloom": filter_doc(bloom),
            "names": names,
            "expiring": {},
            "ban_count": args.bans,
            "applied": [],
            "removed": 0,
            "name_count": len(names),
            "avatars": None,
            "counts": c,
            "held": filter_doc(held),
        }

    tmp = Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
    files = {"new": tmp / "new.snapshot", "old": tmp / "old.snapshot"}
    sizes = {
        "new": snap.write(files["new"], header, payload(counts), KEY),
        "old": snap.write(files["old"], header, payload(dict_counts(counts)), KEY),
    }
    script = tmp / "reader.py"
    script.write_text(READER.format(root=str(ROOT), key=KEY))
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for mode, path in (("floor", files["new"]), ("new", files["new"]), ("old", files["old"])):
            out = subprocess.run(
                [sys.executable, str(script), str(path), mode], capture_output=True, text=True, check=True
            )
            took = float(out.stdout.strip().splitlines()[-1])
            best[mode] = min(best.get(mode, took), took)
    print(
        f"{args.bans:,} bans, {args.accounts:,} accounts: {len(counts):,} counted keys, {len(names):,} names"
    )
    print(f"  new layout: {sizes['new'] / 1e6:,.0f} MB, loaded in {best['new']:.2f} s")
    print(f"  old layout: {sizes['old'] / 1e6:,.0f} MB, loaded in {best['old']:.2f} s")
    print(f"  floor (read + HMAC of the new file): {best['floor']:.2f} s")
    print(
        f"  new/old {best['new'] / best['old']:.2f}, new/floor {best['new'] / best['floor']:.2f}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for p in (*files.values(), script):
        p.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()
