"""One definition of a Han ideograph (registry.matching.fold.HAN) for folding, keys, commonness and names."""

from __future__ import annotations

import sys
import unicodedata

from registry.matching.fold import has_han, is_han

IDEOGRAPH_NAMES = ("CJK UNIFIED IDEOGRAPH-", "CJK COMPATIBILITY IDEOGRAPH-")


def test_every_ideograph_unicode_names_is_han():
    missed = [
        f"U+{cp:04X}"
        for cp in range(sys.maxunicode + 1)
        if unicodedata.name(chr(cp), "").startswith(IDEOGRAPH_NAMES) and not is_han(chr(cp))
    ]
    assert missed == []


def test_nothing_outside_the_ideograph_blocks_is_han():
    wrongly = [
        f"U+{cp:04X}"
        for cp in range(sys.maxunicode + 1)
        if is_han(chr(cp))
        and unicodedata.category(chr(cp)) != "Cn"
        and not unicodedata.name(chr(cp), "").startswith(IDEOGRAPH_NAMES)
    ]
    assert wrongly == []


def test_the_neighbours_of_han_are_not_han():
    # Yijing hexagrams (after Extension A), radicals, kana, hangul, ideographic space and zero, fullwidth A.
    for ch in "䷀⺀⼀あア가\u3000〇Ａa1":
        assert not is_han(ch), ch
    # Extension A, the basic block, a compatibility ideograph NFKC keeps, Extensions B and G.
    for ch in "㐀中﨎\U00020000\U00030000":
        assert is_han(ch), ch
    assert has_han("li 李") and not has_han("lee")
