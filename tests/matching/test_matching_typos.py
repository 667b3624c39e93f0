"""Tests of typo retrieval and pricing: every near key is found, slips cost what they should."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.matching import NameIndex, encode_name
from registry.matching.typos import (
    COST_OTHER,
    DeletionIndex,
    lookalike_variants,
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
    assert 7 in found


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
