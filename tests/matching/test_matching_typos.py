"""Tests of typo retrieval and pricing: every near key is found, slips cost what they should."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from registry.matching import MatchConfig, NameIndex, encode_name
from registry.matching.typos import (
    COST_OTHER,
    DeletionIndex,
    deletions,
    lookalike_variants,
    parts,
    typo_budget,
    typo_cost,
)

LETTERS = "abcdeghinoz"
keys_st = st.text(alphabet=LETTERS, min_size=5, max_size=14)


def _one_edit(key: str, data: st.DataObject) -> str:
    """Draw a string one insertion, deletion, substitution or adjacent swap away from key."""
    kind = data.draw(st.sampled_from(["ins", "del", "sub", "swap"]))
    i = data.draw(st.integers(0, len(key) - 1))
    c = data.draw(st.sampled_from(LETTERS))
    if kind == "ins":
        return key[:i] + c + key[i:]
    if kind == "del":
        return key[:i] + key[i + 1 :]
    if kind == "sub":
        return key[:i] + c + key[i + 1 :]
    j = min(i + 1, len(key) - 1)
    return key[:i] + key[j] + key[i] + key[j + 1 :] if j > i else key


@settings(max_examples=200, deadline=None)
@given(st.lists(keys_st, min_size=1, max_size=30, unique=True), st.data())
def test_every_key_one_edit_away_is_found(keys: list[str], data: st.DataObject) -> None:
    idx = DeletionIndex(min_len=5, two_len=11)
    for gid, k in enumerate(keys):
        idx.add(k, gid)
    gid = data.draw(st.integers(0, len(keys) - 1))
    query = _one_edit(keys[gid], data)
    assert gid in idx.candidates([query], cap=1 << 20)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=LETTERS, min_size=11, max_size=16), st.data())
def test_long_keys_are_found_two_edits_away(key: str, data: st.DataObject) -> None:
    idx = DeletionIndex(min_len=5, two_len=11)
    idx.add(key, 7)
    idx.add("zzzzzzzzzzzz", 8)
    query = _one_edit(_one_edit(key, data), data)
    found = idx.candidates([query], cap=1 << 20) | idx.candidates([query], cap=1 << 20, two=True)
    # Two edits in a row can make three in OSA terms (ca -> ac -> abc). The index gives candidates, a
    # superset that the caller confirms by distance: it must never lose a key two edits away, and may
    # keep one three away (abcaaaaaaaa / acabaaaaaaaa share a two-letter deletion).
    if OSA.distance(key, query) <= 2:
        assert 7 in found


def _deletions2(key: str) -> set[str]:
    """Return the strings made by leaving one or two characters out of key (the old index's postings)."""
    n = len(key)
    out = {key[:i] + key[i + 1 : j] + key[j + 1 :] for i in range(n) for j in range(i + 1, n)}
    return out | deletions(key)


def _old_tiers(key: str, query: str, two_len: int = 11) -> tuple[bool, bool]:
    """Tell whether the deletion-only index (before the partition filter) met key in each tier.

    It posted a long key's one- and two-letter deletions, looked the query and its one-letter
    deletions up in the first tier, and the query's two-letter deletions in the second. Per-lookup
    caps and hash collisions aside, which could only lose keys.
    """
    posted = {key} | (_deletions2(key) if len(key) >= two_len else deletions(key))
    first = {query} | deletions(query)
    second = _deletions2(query) - deletions(query) if len(query) >= two_len - 2 else set()
    return bool(first & posted), bool(second & posted)


def _slips(key: str, data: st.DataObject, k: int) -> str:
    """Apply k random slips, swaps across the partition filter's part boundaries among them."""
    out = key
    for _ in range(k):
        kind = data.draw(st.sampled_from(["ins", "del", "sub", "swap", "boundary"]))
        if kind != "boundary" or len(out) < 3:
            out = _one_edit(out, data) if kind != "boundary" else out
            continue
        # Swap the letters either side of a part boundary of this (possibly already slipped) string.
        cut = data.draw(st.sampled_from([start for start, _ in parts(len(out))[1:]]))
        cut = max(1, min(len(out) - 1, cut + data.draw(st.integers(-2, 2))))
        out = out[: cut - 1] + out[cut] + out[cut - 1] + out[cut + 1 :]
    return out


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.text(alphabet=LETTERS, min_size=9, max_size=18), min_size=1, max_size=25, unique=True),
    st.data(),
    st.booleans(),
)
def test_partition_filter_finds_what_two_letter_deletions_found(
    keys: list[str], data: st.DataObject, longer_first: bool
) -> None:
    # The index keeps groups within two OSA edits only (index._candidates drops the rest), so the
    # partition filter must reach, tier for tier, every such key the two-letter deletions reached
    # (the first tier's only with longer_first), and in fact every long key within two edits.
    idx = DeletionIndex(min_len=5, two_len=11, longer_first=longer_first)
    for gid, k in enumerate(keys):
        idx.add(k, gid)
    query = _slips(data.draw(st.sampled_from(keys)), data, data.draw(st.integers(0, 2)))
    first = idx.candidates([query], cap=1 << 20)
    second = idx.candidates([query], cap=1 << 20, two=True)
    for gid, k in enumerate(keys):
        if OSA.distance(k, query) > 2:
            continue
        old_first, old_second = _old_tiers(k, query)
        if old_first and longer_first:
            assert gid in first, (k, query)
        if old_second:
            assert gid in second, (k, query)
        if len(k) >= 11:
            assert gid in first or gid in second, (k, query)


def test_two_swaps_across_both_part_boundaries_are_found() -> None:
    # abcd|efgh|ijkl with d/e and h/i swapped: no part survives whole, each edge swap is put back.
    idx = DeletionIndex(min_len=5, two_len=11)
    idx.add("abcdefghijkl", 1)
    assert parts(12) == ((0, 4), (4, 4), (8, 4))
    assert 1 in idx.candidates(["abcedfgihjkl"], cap=64, two=True)
    assert idx.near("abcedfgihjkl") == {1: 2}
    assert idx.near("abcedfgihjkl", limit=1) == {}


@pytest.mark.parametrize("longer_first", [True, False])
def test_long_key_two_slips_longer_is_listed_beside_a_review_match(longer_first: bool) -> None:
    idx = NameIndex(MatchConfig(typo_longer_first=longer_first))
    for ban_id, name in {"a": "zhangxiaoming", "b": "zhanggxiaomingg", "c": "martin"}.items():
        idx.add(ban_id, name, encode_name(name))
    found = {m.ban_id: m.via for m in idx.search("zhangxiaoming", limit=5, min_score=85)}
    # The first tier already reaches review (ban a): only it can still list the doubled-letter ban b.
    assert found == ({"a": "canonical", "b": "typo"} if longer_first else {"a": "canonical"})
    # With nothing at review, the second tier finds b (two letters left out) either way.
    idx.remove_ban("a")
    assert [m.ban_id for m in idx.search("zhanggxiaomig", limit=5, min_score=85)] == ["b"]


def test_long_keys_post_parts_not_two_letter_deletions() -> None:
    idx = DeletionIndex(min_len=5, two_len=11)
    idx.add("zhangxiaoming", 0)
    postings = sum(len(b) for b in idx._buckets if b is not None) // 2
    assert postings == len(deletions("zhangxiaoming")) + 1
    assert sum(len(g) for g, _ in idx._parts.values()) == 3
    idx.trim()
    assert idx.near("zhangxiaomnig") == {0: 1}


def test_lookups_do_not_depend_on_index_size() -> None:
    small, big = DeletionIndex(), DeletionIndex()
    small.add("zhangxiaoming", 0)
    big.add("zhangxiaoming", 0)
    for i in range(20_000):
        big.add(f"name{i:06d}x", i + 1)
    q = "zhangxiaomnig"
    assert list(small.lookups(q)) == list(big.lookups(q))
    assert 0 in small.candidates([q], cap=64) and 0 in big.candidates([q], cap=64)


def test_slip_prices() -> None:
    # Evasion slips are cheap, other letters dear, digits dearest; the first letter costs extra.
    assert typo_cost("zhangsan", "zhangssan", 2) == pytest.approx(0.4)
    assert typo_cost("zhangsan", "zhnagsan", 2) == pytest.approx(0.5)
    assert typo_cost("martin", "rnartin", 2) == pytest.approx(0.3)
    assert typo_cost("wangwei", "vvangwei", 2) == pytest.approx(0.3)
    assert typo_cost("david", "clavid", 2) == pytest.approx(0.3)
    assert typo_cost("emily", "emiiy", 2) == pytest.approx(0.3)
    assert typo_cost("zhangsan", "zhangsen", 2) == pytest.approx(0.6)
    assert typo_cost("zhangsan", "zhangsam", 2) == pytest.approx(0.6)
    assert typo_cost("zhangsan", "zhangskn", 2) == pytest.approx(COST_OTHER)
    assert typo_cost("zhangsan", "zhangs4n", 2) == pytest.approx(1.5)
    assert typo_cost("kingsun", "tingsun", 2) == pytest.approx(1.5)
    assert typo_cost("zhangsan", "lisi", 1.6) is None


@given(keys_st, keys_st)
def test_cost_is_zero_only_for_equal_keys_and_respects_the_limit(a: str, b: str) -> None:
    c = typo_cost(a, b, 1.6)
    if a == b:
        assert c == 0
    elif c is not None:
        assert 0 < c <= 1.6


def test_budget_grows_with_length() -> None:
    assert typo_budget(4) == 0
    assert 0 < typo_budget(5) <= typo_budget(8) <= typo_budget(12)


def test_lookalike_readings() -> None:
    assert lookalike_variants("rnartin") == ["martin"]
    assert "wangwei" in lookalike_variants("vvangvvei")
    assert lookalike_variants("zhangsan") == []


@pytest.fixture(scope="module")
def index() -> NameIndex:
    idx = NameIndex()
    for ban_id, name in {
        "b1": "wangxiaoming",
        "b2": "martin_walker",
        "b3": "王晓东",
        "b4": "yangqing",
        "b5": "littlenight",
    }.items():
        idx.add(ban_id, name, encode_name(name))
    return idx


@pytest.mark.parametrize(
    ("query", "ban_id"),
    [
        ("wangxiaomign", "b1"),  # adjacent swap
        ("wangxiiaoming", "b1"),  # doubled letter
        ("wangxaoming", "b1"),  # dropped letter in a three-syllable name
        ("rnartin_walker", "b2"),  # look-alike
        ("martin_wakler", "b2"),
        ("wangxiapdong", "b3"),  # keyboard neighbour, pinyin of a Han ban
        ("littlenigth", "b5"),
        ("littlrnigth", "b5"),  # two slips in a long name
    ],
)
def test_evasion_typos_match(index: NameIndex, query: str, ban_id: str) -> None:
    assert ban_id in {m.ban_id for m in index.search(query, limit=5, min_score=85)}


@pytest.mark.parametrize(
    "query",
    [
        "wangxiaoting",  # a syllable swapped for another by a far letter: another person
        "yangjing",  # two-syllable name: any swapped syllable is another person
        "yanqing",  # two-syllable name, dropped letter lands on another name
        "wangxiaomingzhu",
        "wildnight",
    ],
)
def test_other_people_do_not_match(index: NameIndex, query: str) -> None:
    assert index.search(query, limit=5, min_score=85) == []


names_st = st.sampled_from(["zhangxiaoming", "zhangxiaomin", "张晓明", "章晓明", "martinwalker", "lisi_88"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([f"r{i}" for i in range(6)]), names_st), min_size=1, max_size=15),
    st.lists(st.sampled_from([f"r{i}" for i in range(6)]), max_size=3),
)
def test_typo_search_after_removal(entries: list[tuple[str, str]], removed: list[str]) -> None:
    idx = NameIndex()
    for ban_id, name in entries:
        idx.add(ban_id, name, encode_name(name))
    for ban_id in removed:
        idx.remove_ban(ban_id)
    live = {b for b, _ in entries if b not in removed}
    # Homophones share a typo group; a slip of their pinyin reaches every live ban behind any of them.
    found = {m.ban_id for m in idx.search("zhangxiaomign", limit=50, min_score=85)}
    assert not found & set(removed)
    expect = {b for b, n in entries if b in live and n in ("zhangxiaoming", "张晓明", "章晓明")}
    assert expect <= found
    for ban_id in removed:
        idx.add(ban_id, "martinwalker")
    found = {m.ban_id for m in idx.search("martinwakler", limit=50, min_score=85)}
    assert set(removed) <= found
