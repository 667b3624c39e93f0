"""Disguise patterns the evidence model weighs as evasion, and the retrieval of crowded or reordered names.

Pure logic (registry/matching), no app and no database: trick naming, affix stripping, dropped parts, and
the index's answer when many bans share one core.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.matching import NameIndex, encode_name
from registry.matching.commonness import _irregular_case, tricks_of
from registry.matching.keys import part_drop_variants, strip_affixes


def index(*names: tuple[str, str]) -> NameIndex:
    idx = NameIndex()
    for ban_id, n in names:
        idx.add(ban_id, n, encode_name(n))
    idx.compact()
    return idx


@pytest.mark.parametrize(
    ("query", "banned", "via", "trick"),
    [
        ("w4ng_xuw3n123", "wang_xuwen123", "canonical", "leet"),
        ("amy1ucy2649", "amylucy2649", "canonical", "leet"),
        ("【zh-uji】", "zhuji", "canonical", "decorated"),
        ("〖shang·jing007〗", "shangjing007", "canonical", "decorated"),
        ("_vincent.ji~1986_", "vincent.ji1986", "canonical", "decorated"),
        ("hU.PeNg", "hu.peng", "canonical", "odd_case"),
        ("jINwei", "jinwei", "canonical", "odd_case"),
        ("cui_YIN_1998", "cui_yin_1998", "canonical", "odd_case"),
        ("Xiong C. Lei", "xiong_lei_520", "part", "initial"),
    ],
)
def test_evasion_patterns_are_named(query, banned, via, trick):
    assert trick in tricks_of(query, banned, via)


@pytest.mark.parametrize(
    "handle", ["XiaoMing", "xiaoMing", "ZhangSan88", "DSF99", "WANG Wei", "Lucy", "li_ming", "Wang Wei"]
)
def test_how_people_capitalise_their_own_names_is_not_odd(handle):
    assert not _irregular_case(handle)


@given(
    st.lists(
        st.sampled_from(["zhang", "wei", "xiao", "ming", "lucy", "chen", "tiger"]), min_size=1, max_size=4
    )
)
def test_words_each_capitalised_or_all_small_are_never_odd(words):
    assert not _irregular_case("".join(words))
    assert not _irregular_case("".join(w.capitalize() for w in words))
    assert not _irregular_case("_".join(words).upper())


def test_a_plain_separator_or_case_is_not_decoration():
    assert "decorated" not in tricks_of("wang.wei88", "wangwei88", "canonical")
    assert "decorated" not in tricks_of("lucy_", "lucy", "canonical")
    assert tricks_of("Wang_Wei", "wangwei", "canonical") == ["separator"]


@pytest.mark.parametrize(
    ("key", "base"),
    [
        ("zhangmc1975xx", "zhangmc"),
        ("fkoczwxx", "fkoczw"),
        ("thejdl1314", "jdl"),
        ("iamydg123", "ydg"),
        ("phoenixx", "phoenixx"),
        ("foxx", "foxx"),
        ("therese", "therese"),
    ],
)
def test_affixes_come_off_where_a_name_is_left(key, base):
    assert strip_affixes(key) == base


def test_an_english_given_name_that_spells_pinyin_can_be_left_out():
    assert "fengtingzhou" in part_drop_variants("Linda Fengting Zhou")
    assert "zhangshun" in part_drop_variants("Leo Zhang Shun")
    # A pinyin name spelt syllable by syllable loses no syllable: that would be another person's name.
    assert part_drop_variants("sun_wei_zhen") == []


def test_many_bans_of_one_core_leave_room_for_a_rarer_core_at_the_same_score():
    names = [(f"c{i:03d}", "Coco Wang") for i in range(30)] + [("target", "Wang Xinzhen")]
    found = {m.ban_id for m in index(*names).search("Coco Wang Xinzhen", limit=10, min_score=85)}
    assert "target" in found
    assert len(found) == 10
    # Alone, one core still fills the answer.
    only = index(*[(f"c{i:03d}", "Coco Wang") for i in range(30)])
    assert len(only.search("Coco Wang", limit=10, min_score=100)) == 10


def test_a_bans_name_in_the_searched_script_is_the_match_shown():
    idx = index(("b1", "jiao_man"), ("b1", "焦慢"))
    (m,) = idx.search("慢焦", limit=1, min_score=85)
    assert m.matched == "焦慢"
    assert "pinyin" not in tricks_of("慢焦", m.matched, m.via)
