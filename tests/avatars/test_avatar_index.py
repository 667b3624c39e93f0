"""The banned-avatar index: what a linear scan finds, with adds and removals while it serves."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.avatars import AvatarIndex


def flip(hex_hash: str, bits: list[int]) -> str:
    value = int(hex_hash, 16)
    for b in bits:
        value ^= 1 << b
    return f"{value:064x}"


def random_hashes(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [row.tobytes().hex() for row in rng.integers(0, 256, (n, 32), dtype=np.uint8)]


@settings(max_examples=30)
@given(
    seed=st.integers(0, 2**32 - 1),
    flips=st.lists(st.lists(st.integers(0, 255), max_size=40), min_size=1, max_size=6),
    removed=st.sets(st.integers(0, 59), max_size=10),
    max_distance=st.sampled_from([0, 10, 11, 21, 31, 40]),
    tail_max=st.sampled_from([0, 16, 1000]),
)
def test_search_finds_exactly_what_a_scan_finds(seed, flips, removed, max_distance, tail_max):
    hashes = random_hashes(60, seed)
    index = AvatarIndex(tail_max=tail_max)
    index.add_many([(f"ban_{i}", h) for i, h in enumerate(hashes[:40])])
    index.compact()
    for i, h in enumerate(hashes[40:], start=40):  # incremental adds land in the tail
        index.add(f"ban_{i}", h)
    index.remove_bans({f"ban_{i}" for i in removed})
    probes = [flip(hashes[(k * 7) % 60], bits) for k, bits in enumerate(flips)]
    for probe in probes:
        assert index.search([probe], max_distance) == index.scan([probe], max_distance)
    assert index.search(probes, max_distance) == index.scan(probes, max_distance)
    for probe, bits in zip(probes, flips, strict=True):
        if len(set(bits)) <= max_distance:
            source = f"ban_{(probes.index(probe) * 7) % 60}"
            found = {m.ban_id for m in index.search([probe], max_distance)}
            assert (source in found) == (int(source[4:]) not in removed)


def test_one_match_per_ban_nearest_first():
    index = AvatarIndex()
    base = random_hashes(1, 3)[0]
    index.add_many([("ban_a", flip(base, [1, 2, 3])), ("ban_a", base), ("ban_b", flip(base, [9]))])
    matches = index.search([base], 31)
    assert [(m.ban_id, m.distance) for m in matches] == [("ban_a", 0), ("ban_b", 1)]


def test_removing_a_ban_drops_all_its_hashes_and_compaction_keeps_the_rest():
    index = AvatarIndex(tail_max=4)
    hashes = random_hashes(20, 5)
    index.add_many([(f"ban_{i % 5}", h) for i, h in enumerate(hashes)])
    assert index.remove_bans(["ban_0"]) == 4
    assert len(index) == 16
    index.compact()
    assert len(index) == 16
    assert index.search([hashes[0]], 10) == []
    assert [m.ban_id for m in index.search([hashes[1]], 0)] == ["ban_1"]


def test_an_empty_index_finds_nothing():
    assert AvatarIndex().search(random_hashes(1, 1), 31) == []
