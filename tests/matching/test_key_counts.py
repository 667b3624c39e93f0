"""The name key counts' two layers (a flat probing table and the values set since) answer as one dict."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from registry.matching.commonness import KeyCounts, _probe_table, key_hash

KEYS = [f"key{i}" for i in range(40)]

# One step: set these (key, count) pairs, then maybe compact, then maybe round-trip through pickle.
step = st.tuples(
    st.lists(st.tuples(st.sampled_from(KEYS), st.integers(-2, 5)), max_size=12),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=8))
def test_counts_answer_as_the_dict_of_their_last_values(steps: list) -> None:
    counts = KeyCounts()
    expected: dict[str, int] = {}
    for pairs, compact, round_trip in steps:
        counts.set_many((key_hash(k), v) for k, v in pairs)
        for k, v in pairs:
            expected[k] = max(v, 0)
        if compact:
            counts.compact()
        if round_trip:
            counts = pickle.loads(pickle.dumps(counts, protocol=5))
        assert {k: counts.get(k) for k in KEYS} == {k: expected.get(k, 0) for k in KEYS}
        assert len(counts) == sum(1 for v in expected.values() if v > 0)


def test_compact_leaves_nothing_in_the_dict_layer_and_the_table_at_most_70_percent_full() -> None:
    counts = KeyCounts()
    counts.set_many((key_hash(f"n{i}"), i + 1) for i in range(5000))
    counts.compact()
    keys, vals, mask = counts._table
    assert counts._n == {} and len(keys) == mask + 1 >= 5000 / 0.7
    assert all(counts.get(f"n{i}") == i + 1 for i in range(5000))
    assert counts.get("never counted") == 0 and counts.get("") == 0


def test_a_digest_of_zero_stays_countable() -> None:
    counts = KeyCounts()
    counts.set_many([(0, 3), (key_hash("a"), 2)])
    counts.compact()
    assert counts._n == {0: 3}
    assert counts._table_get(0) == 0 and len(counts) == 2


@settings(max_examples=60, deadline=None)
@given(st.sets(st.integers(-(2**63), 2**63 - 1).filter(bool), max_size=300))
def test_every_placed_digest_is_found_by_its_probe_walk(digests: set[int]) -> None:
    import numpy as np

    # Crowd the low bits so that many digests share a home slot and probe runs are long: on the
    # first slot, and on the last (their run wraps round to the table's start).
    crowded = {d & ~0xFF for d in digests if d & ~0xFF} | {d | 0xFF for d in digests}
    keys = np.array(sorted(crowded), dtype=np.int64)
    table_k, table_v, mask = _probe_table(keys, np.arange(1, len(keys) + 1, dtype=np.uint32))
    counts = KeyCounts()
    counts._table = (table_k, table_v, mask)
    assert [counts._table_get(int(k)) for k in keys] == list(range(1, len(keys) + 1))
    assert counts._table_get(12345) == 0
