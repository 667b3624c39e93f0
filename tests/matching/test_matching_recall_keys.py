"""Recall where a name is evidence (issue 9): other split tables, dropped parts, affixes, tricks named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.matching import NameIndex
from registry.matching.commonness import key_hash, tricks_of
from registry.matching.keys import split_variants


def index(*names: str) -> NameIndex:
    idx = NameIndex()
    for i, n in enumerate(names):
        idx.add(f"b{i}", n)
    idx.compact()
    return idx


@pytest.mark.parametrize(
    ("split", "name"),
    [
        ("一土锋漫", "王锋漫"),
        ("口口涛广", "吕涛广"),
        ("宋文一大", "宋文天"),
        ("刘丽日十", "刘丽早"),
        ("刘人匕飙", "刘仑飙"),
        # Spoken: a doubled part named by the word for a pair.
        ("杨今双木", "杨今林"),
        ("双口涛广", "吕涛广"),
    ],
)
def test_splits_from_other_decomposition_tables_are_put_back(split, name):
    assert name in split_variants(split)


@pytest.mark.parametrize(
    ("banned", "query", "trick"),
    [
        ("John Smith", "John A. Smith", "extra_part"),
        ("Coco Xu", "Tony Coco Xu", "extra_part"),
        ("lanliu520", "xxlanliu520", "affix"),
        ("陈晨霄", "我是陈晨霄", "affix"),
        ("lunxing.luo521", "xx_lunxing.luo521_xx", "affix"),
    ],
)
def test_added_parts_and_affixes_are_found_and_named(banned, query, trick):
    (m,) = index(banned).search(query, limit=1, min_score=85)
    assert trick in tricks_of(query, m.matched, m.via)


def test_tricks_are_named():
    assert tricks_of("王曉明", "王晓明", "canonical") == ["traditional"]
    assert tricks_of("wangxiaoming", "王小明", "pinyin") == ["pinyin"]
    assert tricks_of("zhangsan_99", "zhangsan_88", "affix")[0] == "digits_changed"
    assert tricks_of("zhаngsan_88", "zhangsan_88", "canonical") == ["confusable"]


def test_crafted_split_chains_are_bounded():
    assert len(split_variants("弓长" * 6)) <= 8
    (m,) = index("张三").search("弓长三", limit=1, min_score=85)
    assert m.matched == "张三"
    assert index("张三").search("弓长" * 64, limit=5, min_score=85) == []


@given(st.text(max_size=40))
def test_key_hash_is_a_stable_signed_64_bit_number(text):
    h = key_hash(text)
    assert -(1 << 63) <= h < (1 << 63) and h == key_hash(text)


def crowded_sound_index(banned: str, query: str) -> NameIndex:
    # 81 Han names of the sound cui-ming: the sound's reorder bucket overflows the lookup cap, and the
    # banned name, indexed last, is past it.
    crowd = [a + b for a in "崔翠脆萃粹催璀淬瘁" for b in "明鸣名铭茗冥溟暝螟"]
    return index(*(n for n in crowd if n != query), banned)


@pytest.mark.parametrize(
    ("banned", "query"),
    [
        ("cui_ming1990", "ming_cui1990"),
        ("cui_ming1990", "mingcui1990"),
    ],
)
def test_a_reordered_name_is_found_behind_a_crowd_of_its_sound(banned, query):
    idx = crowded_sound_index(banned, query)
    found = idx.search(query, limit=10, min_score=85)
    hit = [m for m in found if m.matched == banned]
    assert hit and hit[0].via == "reorder"
    assert "reordered" in tricks_of(query, hit[0].matched, hit[0].via)


def test_a_reordered_han_name_is_found_behind_a_crowd_of_its_sound():
    # 80 names sounding feng-jun (封君, 丰军 ...) share the reorder key of 冯峻 and of 峻冯.
    crowd = [a + b for a in "封丰风锋峰枫疯蜂" for b in "君军均钧菌骏俊郡竣浚"]
    idx = index(*crowd, "冯峻")
    hit = [m for m in idx.search("峻冯", limit=10, min_score=85) if m.matched == "冯峻"]
    assert hit and tricks_of("峻冯", hit[0].matched, hit[0].via) == ["reordered"]


def test_pinyin_cut_alike_on_both_sides_of_a_reordering():
    # wangao is wang-ao as aowang is ao-wang (the first split found would read wan-gao).
    (m,) = index("wangao").search("aowang", limit=1, min_score=85)
    assert m.matched == "wangao" and m.via == "reorder"
