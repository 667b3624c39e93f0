"""The contact patterns were rewritten to run in linear time; they must find exactly what they found.

The old patterns (kept here as the reference) let several quantifiers share one run of spaces, so
``qq`` followed by 250 spaces cost about 0.2 s; the new ones match the same language with one
possessive quantifier per run. Speed is measured by ``scripts/bench_crafted_names.py``.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from registry.name_rules import policy as p

OLD_QQ = re.compile(r"(?:qq|扣扣|企鹅)\s*号?\s*[:：=]?\s*\d{5,11}(?!\d)")
OLD_WECHAT = re.compile(
    r"(?:微信|薇信|威信|徽信|v信|wechat|weixin)\s*号?\s*[:：=]?\s*[a-z][-_a-z0-9]{5,19}"
    r"|(?<![a-z])(?:vx|wx)\s*(?:号|[:：=])\s*[a-z0-9][-_a-z0-9]{4,19}"
)
OLD_PLUS = re.compile(r"\+\s*(v|vx|wx|q|qq|微信|薇信)(?![a-z])")
OLD_SCHEME = re.compile(r"https?\s*[:：]\s*/\s*/|(?<![a-z])www\s*\.")
OLD_SPOKEN_DOT = re.compile(
    rf"(?<=[a-z0-9])\s*(?:[.。｡]|点|\(dot\)|\[dot\]|dot)\s*(?=(?:{p._TLD_ALT})(?![a-z]))"
)

# Pieces the patterns are built from, so random strings actually exercise them.
PIECES = st.sampled_from(
    ["qq", "扣扣", "企鹅", "号", ":", "：", "=", " ", "  ", "\t", "1", "12345", "123456789012", "a",
     "abc_12", "微信", "wechat", "vx", "wx", "+", "v", "http", "https", "www", ".", "点", "dot", "com",
     "cn", "/", "x", "-"]
)  # fmt: skip
TEXT = st.lists(PIECES, max_size=14).map("".join)


def spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


@given(TEXT)
def test_rewritten_patterns_find_what_the_old_ones_found(text):
    assert spans(p._QQ, text) == spans(OLD_QQ, text)
    assert spans(p._WECHAT, text) == spans(OLD_WECHAT, text)
    assert spans(p._PLUS_CONTACT, text) == spans(OLD_PLUS, text)
    assert spans(p._SCHEME, text) == spans(OLD_SCHEME, text)
    assert OLD_SPOKEN_DOT.sub(".", text) == p._SPOKEN_DOT.sub(".", text)


def test_the_issue_10_name_still_finds_nothing_and_real_contacts_are_found():
    policy = p.NamePolicy.from_defaults()
    assert policy.evaluate("qq" + " " * 250, field="display_name") == []
    assert policy.evaluate("弓长" * 64, field="username") == []
    rules = {f.rule for f in policy.evaluate("qq" + " " * 200 + "号 : 12345678", field="display_name")}
    assert "qq" in rules
