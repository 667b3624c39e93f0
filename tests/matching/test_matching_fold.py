"""Tests of canonical(): each disguise folds away, and properties hold on arbitrary text."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.matching.fold import canonical
from registry.matching.keys import decode_keys, encode_name, name_keys

INVISIBLES = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\ufe0f"]


def test_folds_each_disguise() -> None:
    assert canonical("Ｚｈａｎｇ Ｓａｎ") == "zhangsan"
    assert canonical("zhang\u200bsan") == "zhangsan"
    assert canonical("ѕаnѕа") == "sansa"
    assert canonical("zh4ngs4n") == "zhangsan"
    assert canonical("★〖王小明〗★") == "王小明"
    assert canonical("王曉明") == "王晓明"
    assert canonical("wángxiǎomíng") == "wangxiaoming"


def test_numbers_are_not_leet() -> None:
    assert canonical("2024") == "2024"
    assert canonical("zhangsan_88") == "zhangsan88"
    assert canonical("bailong007official") == "bailong007official"


@given(st.text())
def test_never_raises_and_is_idempotent(text: str) -> None:
    once = canonical(text)
    assert canonical(once) == once


@given(st.text(alphabet=st.characters(categories=["L", "N"]), max_size=12), st.data())
def test_invisibles_do_not_matter(text: str, data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, len(text)))
    zw = data.draw(st.sampled_from(INVISIBLES))
    assert canonical(text[:pos] + zw + text[pos:]) == canonical(text)


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12))
def test_fullwidth_equals_halfwidth(text: str) -> None:
    assert canonical("".join(chr(ord(c) + 0xFEE0) for c in text)) == canonical(text)


# No deadline: the first pinyin lookups load dictionaries, and the machine may be busy.
@settings(deadline=None)
@given(st.text(max_size=20))
def test_encode_round_trips(text: str) -> None:
    assert decode_keys(encode_name(text)) == name_keys(text)


@pytest.mark.parametrize("text", ["a@14a", "aa$14a", "aa14$a", "m@r1@4a", "x$$1a"])
def test_reading_symbols_never_leaves_a_second_fold_to_do(text):
    once = canonical(text)
    assert canonical(once) == once
