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
