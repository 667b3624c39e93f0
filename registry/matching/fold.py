"""Fold a name to the form a disguise cannot escape: width, case, invisibles, look-alikes, script."""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from importlib import resources

import opencc

# Leet is only read as one or two digits inside a run of Latin letters: "zh4ngs4n" and "b00k" are
# disguises; "zhangsan88", "2024" and "bailong007official" carry numbers.
LEET: dict[str, str] = {
    "0": "o",
    "1": "l",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "@": "a",
    "$": "s",
}
_LEET_RUN = re.compile(r"(?<=[a-z])[0134578@$]{1,2}(?=[a-z])")
# At a run's edge only the symbols are read as letters ("$hank", "mari@"); a leading "@" is a handle prefix.
_EDGE_SYMBOL = re.compile(r"(?<=[a-z])@|\$(?=[a-z])|(?<=[a-z])\$")
_LEFTOVER = re.compile(r"[@$]")
# Han ideographs, the one definition every module uses: the unified blocks (Extension A, the basic
# block), the compatibility ideographs (twelve of them are unified ones that NFKC leaves alone), and the
# two ideographic planes (Extensions B to I and the compatibility supplement; nothing else lives there).
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af]")

_t2s = opencc.OpenCC("t2s")


def is_han(ch: str) -> bool:
    """Tell whether a character is a Han ideograph."""
    return bool(HAN.match(ch))


def has_han(text: str) -> bool:
    """Tell whether a text holds a Han ideograph."""
    return bool(HAN.search(text))


@cache
def _confusable_targets() -> dict[str, str]:
    """Load TR39 confusables pointing at ASCII letters/digits or at CJK ideographs."""
    # confusable-homoglyphs ships TR39's confusables.txt as a symmetric char -> partners map; its own API
    # answers "is this mixed-script?" but gives no skeleton, so the one-way table is derived here.
    raw = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    table: dict[str, str] = {}
    for src, partners in raw.items():
        if len(src) != 1 or src.isascii() or is_han(src):
            continue
        latin = sorted(
            {t.casefold() for p in partners if (t := p["c"]).isascii() and t.isalnum() and len(t) < 3},
            key=lambda t: (not t.isalpha(), len(t), t),
        )
        if latin:
            table[src] = latin[0]
            continue
        han = sorted(p["c"] for p in partners if len(p["c"]) == 1 and is_han(p["c"]))
        if han:
            table[src] = han[0]
    return table


def _fold_char(ch: str) -> str:
    """Fold one character: NFKC, look-alike, case, marks; drop anything that is not a letter or digit."""
    if ch in "@$":
        return ch
    out = unicodedata.normalize("NFKC", ch)
    confusables = _confusable_targets()
    parts: list[str] = []
    for c in out:
        if c in "@$":
            parts.append(c)
            continue
        c = confusables.get(c, c)
        for d in unicodedata.normalize("NFKD", c.casefold()):
            cat = unicodedata.category(d)
            if cat[0] == "L":
                parts.append(d)
            elif cat == "Nd":
                parts.append(str(unicodedata.decimal(d)))
            # marks (tones, accents), format chars (ZWJ, BOM, soft hyphen), separators, punctuation,
            # symbols and emoji all vanish.
    return "".join(parts)


class _FoldTable(dict[int, str]):
    """Per-code-point fold, filled lazily so start-up does not walk all of Unicode."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        folded = _fold_char(ch)
        # Folding must be a fixpoint so that canonical() is idempotent.
        for _ in range(3):
            again = "".join(_fold_char(c) for c in folded)
            if again == folded:
                break
            folded = again
        self[cp] = folded
        return folded


_TABLE = _FoldTable()


_ONE_AS_I = {**LEET, "1": "i"}


def canonical(text: str) -> str:
    """Fold a name to its canonical matching form."""
    return _fold(text, LEET)


def canonical_variants(text: str) -> list[str]:
    """Return the other plausible folds of a name: 1 read as i, and digits read as numbers."""
    main = _fold(text, LEET)
    out = [v for v in (_fold(text, _ONE_AS_I), _fold(text, None)) if v != main]
    return list(dict.fromkeys(out))


def _fold(text: str, leet: dict[str, str] | None) -> str:
    s = text.translate(_TABLE)
    if not s:
        return s
    if not s.isascii():
        if has_han(s):
            s = _t2s.convert(s)
    # Reading one run can put digits between letters for the next ("a@14a" -> "aa14a"), so repeat
    # until nothing changes: canonical() must be idempotent, or stored keys and queries drift apart.
    for _ in range(8):
        before = s
        if leet is not None:
            s = _LEET_RUN.sub(lambda m: "".join(leet[c] for c in m.group()), s)
        if "@" in s or "$" in s:
            s = _EDGE_SYMBOL.sub(lambda m: LEET[m.group()], s)
            s = _LEFTOVER.sub("", s)
        if s == before:
            break
    return s
