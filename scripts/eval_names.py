"""Measure disguised-name recall per trick and the false-positive rate on innocents, on synthetic data.

Usage: python scripts/eval_names.py [--seed 7] [--bans 2000] [--innocents 4000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import opencc
from pypinyin import Style, lazy_pinyin

from registry.matching import MatchConfig, NameIndex, canonical
from registry.matching.fold import _confusable_targets
from registry.matching.keys import (
    PART_MARK,
    _char_rank,
    compose_table,
    index_only_keys,
    name_keys,
    rotation_key,
    to_pinyin,
)

# Synthetic test data, not matching data: any plausible lists do.
SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉玲建国志宇浩然子轩梓涵一诺欣怡思远佳琪晨阳博文"
    "嘉怡雨欣天佑俊杰梦瑶婷婷雪晴睿泽瑞凯鑫宏海波春梅晓东亮斌飞峰宁凤琳琴丹晶颖慧倩蕾薇冰爽莉艺彤诗涵雅"
    "振宁德胜永福世昌荣贵忠礼义仁智信立新庆松柏林森江河山川云雷电风霖泉溪源清朗"
)
WORDS = (
    "dark knight shadow wolf tiger dragon star moon sun sky blue red black white silver golden night storm "
    "fire ice snow rain cloud river stone iron steel ghost ninja pirate hunter rider sniper wizard queen "
    "king "
    "prince lucky happy crazy little big super mega ultra cool smart brave quiet wild lonely sweet bitter "
    "panda kitty puppy bunny fox bear eagle hawk raven phoenix lotus rose lily maple cherry peach mango"
).split()
FIRST = (
    "mary john james linda robert susan michael karen david lisa daniel nancy kevin emma oliver sophia "
    "lucas mia henry amelia jack grace leo chloe ethan zoe ryan anna adam eva"
).split()
LAST = (
    "smith jones brown taylor wilson evans thomas johnson walker wright green baker hall allen young".split()
)

ZW = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\ufe0f"]
DECOR = ["★{}★", "〖{}〗", "~{}~", "_{}_", "【{}】", "{}♥", "✿{}", "·{}·"]
LEET_FOR = {"o": "0", "i": "1", "l": "1", "e": "3", "a": "4", "s": "5", "t": "7", "b": "8"}
_s2t = opencc.OpenCC("s2t")


@cache
def homoglyphs() -> dict[str, list[str]]:
    """Map each ASCII letter to the non-Latin look-alikes TR39 lists for it."""
    out: dict[str, list[str]] = defaultdict(list)
    for src, dst in _confusable_targets().items():
        if len(dst) == 1 and dst.isalpha() and dst.isascii() and src.isalpha() is not False:
            if canonical(src) == dst and src.isalpha():
                out[dst].append(src)
    return {k: sorted(v) for k, v in out.items()}


@cache
def homophones() -> dict[str, list[str]]:
    """Group the 3000 commonest characters by toneless pinyin."""
    out: dict[str, list[str]] = defaultdict(list)
    for ch, r in _char_rank().items():
        if r <= 3000 and canonical(ch) == ch and to_pinyin(ch) != ch:
            out[to_pinyin(ch)].append(ch)
    return out


@cache
def splits() -> dict[str, str]:
    """Map a character to a two-character split of it."""
    rev: dict[str, str] = {}
    for pair, ch in sorted(compose_table().items()):
        rev.setdefault(ch, pair)
    return rev


def han_name(rng: random.Random) -> str:
    """Make a Chinese name: surname plus one or two given characters."""
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2, 2))))


def pinyin_handle(rng: random.Random) -> str:
    """Make a pinyin username such as zhangsan_88 or xiaoming.wang."""
    name = han_name(rng)
    sur, given = lazy_pinyin(name[0])[0], "".join(lazy_pinyin(name[1:]))
    form = rng.choice(("{s}{g}", "{s}_{g}", "{g}.{s}", "{s}{g}{n}", "{s}_{g}_{n}", "{g}{s}{n}"))
    return form.format(s=sur, g=given, n=rng.choice(("88", "666", "1990", "2008", "007", "520", "99")))


def english_handle(rng: random.Random) -> str:
    """Make an English-style handle such as mary_jones or darkwolf77."""
    if rng.random() < 0.5:
        a, b = rng.choice(FIRST), rng.choice(LAST)
    else:
        a, b = rng.sample(WORDS, 2)
    sep = rng.choice(("", "_", ".", ""))
    suffix = rng.choice(("", "", "7", "77", "123", "2024"))
    return f"{a}{sep}{b}{suffix}"


def _latin_letters(s: str) -> list[int]:
    return [i for i, c in enumerate(s) if c.isascii() and c.isalpha()]


def _parts(name: str) -> tuple[str, str]:
    return name[0], name[1:]


Trick = Callable[[str, random.Random], str | None]


def t_fullwidth(n: str, r: random.Random) -> str | None:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in n) if n.isascii() else None


def t_case(n: str, r: random.Random) -> str | None:
    return "".join(c.upper() if r.random() < 0.5 else c for c in n) if n.isascii() else None


def t_invisible(n: str, r: random.Random) -> str | None:
    out = list(n)
    for _ in range(r.randint(1, 3)):
        out.insert(r.randint(0, len(out)), r.choice(ZW))
    return "".join(out)


def t_confusable(n: str, r: random.Random) -> str | None:
    table = homoglyphs()
    idx = [i for i in _latin_letters(n) if n[i] in table]
    if not idx:
        return None
    out = list(n)
    for i in r.sample(idx, min(len(idx), r.randint(1, 3))):
        out[i] = r.choice(table[n[i]])
    return "".join(out)


def t_leet(n: str, r: random.Random) -> str | None:
    idx = [i for i in _latin_letters(n) if n[i] in LEET_FOR and 0 < i < len(n) - 1]
    idx = [i for i in idx if n[i - 1].isalpha() and n[i + 1].isalpha()]
    if not idx:
        return None
    out = list(n)
    for i in r.sample(idx, min(len(idx), r.randint(1, 2))):
        out[i] = LEET_FOR[n[i]]
    return "".join(out)


def t_decorate(n: str, r: random.Random) -> str | None:
    out = list(n)
    if len(n) > 2:
        out.insert(r.randint(1, len(n) - 1), r.choice(("_", ".", "-", " ", "~", "·")))
    return r.choice(DECOR).format("".join(out))


def t_number_suffix(n: str, r: random.Random) -> str | None:
    if not n.isascii():
        return None
    stem = n.rstrip("0123456789").rstrip("_")
    return f"{stem}{r.choice(('', '_'))}{r.choice(('2024', '13', '9', '1314', '0'))}"


def t_affix(n: str, r: random.Random) -> str | None:
    if n.isascii():
        return r.choice(("real_{}", "the{}", "iam{}", "official_{}", "{}_cn", "{}official", "Real{}")).format(
            n
        )
    return r.choice(("官方{}", "{}本人", "真{}", "{}官方")).format(n)


# What an evader's slips look like, as (kind, weight). Deliberate typos keep the name readable: a
# doubled or dropped letter, two letters swapped, the key next door, one vowel for another, or glyphs
# that render alike (rn for m, vv for w, cl for d, I for l). A share of substitutions by any letter
# stays in as the weak, accidental model, so a matcher tuned only to the cheap slips still shows.
TYPO_KINDS: tuple[tuple[str, float], ...] = (
    ("double", 0.20),
    ("drop", 0.15),
    ("swap", 0.15),
    ("neighbour", 0.15),
    ("vowel", 0.10),
    ("lookalike", 0.10),
    ("random", 0.15),
)
_KEYROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_LOOKALIKE_FOR = {"m": "rn", "w": "vv", "d": "cl", "l": "I", "i": "l"}


def _keyboard_neighbours(c: str) -> list[str]:
    for r, row in enumerate(_KEYROWS):
        if c in row:
            i = row.index(c)
            out = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            for rr in (r - 1, r + 1):
                if 0 <= rr < len(_KEYROWS):
                    out += [_KEYROWS[rr][j] for j in (i - 1, i, i + 1) if 0 <= j < len(_KEYROWS[rr])]
            return out
    return []


def _slip(out: list[str], i: int, kind: str, r: random.Random) -> bool:
    """Apply one slip of the given kind at position i; False when it does not apply there."""
    c = out[i].lower()
    if kind == "double":
        out.insert(i, out[i])
    elif kind == "drop":
        del out[i]
    elif kind == "swap":
        if i + 1 >= len(out) or not out[i + 1].isalpha() or out[i] == out[i + 1]:
            return False
        out[i], out[i + 1] = out[i + 1], out[i]
    elif kind == "neighbour":
        near = _keyboard_neighbours(c)
        if not near:
            return False
        out[i] = r.choice(near)
    elif kind == "vowel":
        if c not in "aeiou":
            return False
        out[i] = r.choice("aeiou".replace(c, ""))
    elif kind == "lookalike":
        if c not in _LOOKALIKE_FOR:
            return False
        out[i : i + 1] = list(_LOOKALIKE_FOR[c])
    else:
        out[i] = r.choice("abcdefghijklmnopqrstuvwxyz".replace(c, ""))
    return True


def t_typo(n: str, r: random.Random) -> str | None:
    letters = [i for i in _latin_letters(n) if 0 < i < len(n) - 1]
    if len(letters) < 6:
        return None
    out = list(n)
    edits = 2 if len(letters) >= 10 and r.random() < 0.5 else 1
    kinds, weights = zip(*TYPO_KINDS, strict=True)
    done = 0
    for _ in range(20):
        if done == edits:
            break
        i = r.choice([j for j in range(1, len(out) - 1) if out[j].isascii() and out[j].isalpha()])
        done += _slip(out, i, r.choices(kinds, weights)[0], r)
    return "".join(out)


def t_typo_random(n: str, r: random.Random) -> str | None:
    """The earlier, accidental typo model: any letter substituted, dropped, inserted, or a swap."""
    letters = [i for i in _latin_letters(n) if 0 < i < len(n) - 1]
    if len(letters) < 6:
        return None
    out = list(n)
    edits = 2 if len(letters) >= 10 and r.random() < 0.5 else 1
    for _ in range(edits):
        i = r.choice([j for j in range(1, len(out) - 1) if out[j].isalpha()])
        kind = r.choice(("sub", "del", "ins", "swap"))
        if kind == "sub":
            out[i] = r.choice("abcdefghijklmnopqrstuvwxyz".replace(out[i], ""))
        elif kind == "del":
            del out[i]
        elif kind == "ins":
            out.insert(i, r.choice("abcdefghijklmnopqrstuvwxyz"))
        elif out[i] != out[i + 1]:
            out[i], out[i + 1] = out[i + 1], out[i]
    return "".join(out)


def t_reorder(n: str, r: random.Random) -> str | None:
    if not n.isascii():
        sur, given = _parts(n)
        py = lazy_pinyin(n)
        return r.choice((given + sur, "".join(py[1:]) + r.choice(("", ".", "_")) + py[0]))
    for sep in "._":
        if sep in n:
            a, _, b = n.partition(sep)
            return f"{b}{r.choice('._')}{a}"
    return None


def t_traditional(n: str, r: random.Random) -> str | None:
    t = _s2t.convert(n)
    return t if not n.isascii() and t != n else None


def t_pinyin(n: str, r: random.Random) -> str | None:
    if n.isascii():
        return None
    py = lazy_pinyin(n)
    return r.choice(("", "_", ".", " ")).join(py) if r.random() < 0.5 else "".join(py).capitalize()


def t_tone_pinyin(n: str, r: random.Random) -> str | None:
    return None if n.isascii() else "".join(lazy_pinyin(n, style=Style.TONE))


def t_homophone(n: str, r: random.Random) -> str | None:
    if n.isascii():
        return None
    hp = homophones()
    idx = [i for i in range(1, len(n)) if len(hp.get(to_pinyin(n[i]), [])) > 1]
    if not idx:
        return None
    i = r.choice(idx)
    alts = [c for c in hp[to_pinyin(n[i])] if c != n[i]]
    return n[:i] + r.choice(alts) + n[i + 1 :]


def t_split(n: str, r: random.Random) -> str | None:
    if n.isascii():
        return None
    sp = splits()
    idx = [i for i, c in enumerate(n) if c in sp]
    if not idx:
        return None
    i = r.choice(idx)
    return n[:i] + sp[n[i]] + n[i + 1 :]


def t_mixed(n: str, r: random.Random) -> str | None:
    if n.isascii():
        return None
    sur, given = _parts(n)
    return sur + "".join(lazy_pinyin(given)) if r.random() < 0.5 else lazy_pinyin(sur)[0] + given


TRICKS: dict[str, Trick] = {
    "fullwidth": t_fullwidth,
    "case": t_case,
    "invisible": t_invisible,
    "confusable": t_confusable,
    "leet": t_leet,
    "decorate": t_decorate,
    "number_suffix": t_number_suffix,
    "affix": t_affix,
    "typo": t_typo,
    "typo_random": t_typo_random,
    "reorder": t_reorder,
    "traditional": t_traditional,
    "pinyin": t_pinyin,
    "tone_pinyin": t_tone_pinyin,
    "homophone": t_homophone,
    "split": t_split,
    "mixed": t_mixed,
}


def banned_names(n: int, rng: random.Random) -> list[str]:
    """Make n banned names with distinct match keys: Chinese names, pinyin handles, English handles."""
    out: list[str] = []
    seen: set[str] = set()
    makers = (han_name, han_name, pinyin_handle, english_handle)
    while len(out) < n:
        name = rng.choice(makers)(rng)
        k = name_keys(name)
        if k.pinyin in seen or k.base in seen or len(k.base) < 3 and name.isascii():
            continue
        seen.update(k.distinct())
        out.append(name)
    return out


def innocents(n: int, bans: list[str], rng: random.Random) -> list[str]:
    """Make names of other people: same surnames and given characters, other handles, none the same name."""
    banned_keys: set[str] = set()
    for b in bans:
        keys = name_keys(b)
        # The index-only keys too (a handle's parts rotated, a part left out): equal through them is
        # the same name as equal through a stored reorder key ("raven_crazy" / "crazy_raven" already was).
        banned_keys |= keys.distinct() | set(index_only_keys(b, keys))
    out: list[str] = []
    makers: tuple[Callable[[random.Random], str], ...] = (han_name, han_name, pinyin_handle, english_handle)
    while len(out) < n:
        name = rng.choice(makers)(rng)
        # A name whose keys equal a banned name's is that name (a homonym), not an innocent near miss.
        keys = name_keys(name)
        own = keys.distinct() | {rotation_key(keys.base), PART_MARK + keys.canonical}
        if own & banned_keys:
            continue
        out.append(name)
    return out


def variants(bans: list[str], rng: random.Random) -> Iterator[tuple[str, int, str]]:
    """Yield (trick, ban index, disguised name)."""
    for trick, fn in TRICKS.items():
        for i, name in enumerate(bans):
            v = fn(name, rng)
            if v is not None and v != name:
                yield trick, i, v


def build_index(bans: list[str]) -> NameIndex:
    """Index the banned names under ids b0, b1, ..."""
    idx = NameIndex()
    for i, name in enumerate(bans):
        idx.add(f"b{i}", name)
    idx.compact()
    return idx


def main() -> None:
    """Print recall per trick and the innocent false-positive rate."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bans", type=int, default=2000)
    ap.add_argument("--innocents", type=int, default=4000)
    ap.add_argument("--show", type=int, default=0, help="print this many misses per trick")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    bans = banned_names(args.bans, rng)
    idx = build_index(bans)
    threshold = MatchConfig().review_threshold
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses: dict[str, list[str]] = defaultdict(list)
    for trick, i, v in variants(bans, rng):
        res = idx.search(v, limit=5, min_score=threshold)
        ok = any(m.ban_id == f"b{i}" for m in res)
        hits[trick][0] += ok
        hits[trick][1] += 1
        if not ok:
            misses[trick].append(f"{bans[i]!r} <- {v!r}: {res[:1]}")
    inn = innocents(args.innocents, bans, rng)
    flagged = [(n, r[0]) for n in inn if (r := idx.search(n, limit=1, min_score=threshold))]
    print(f"bans={len(bans)} seed={args.seed} review_threshold={threshold}")
    print(f"{'trick':<15}{'n':>6}{'recall':>9}")
    for trick in TRICKS:
        ok, total = hits[trick]
        print(f"{trick:<15}{total:>6}{(ok / total if total else 0):>9.1%}")
        for line in misses[trick][: args.show]:
            print("    miss", line)
    allowed = 1 - len(flagged) / len(inn)
    print(f"{'innocents':<15}{len(inn):>6}{allowed:>9.1%} allowed ({len(flagged)} flagged)")
    by_via: dict[str, int] = defaultdict(int)
    for _, m in flagged:
        by_via[m.via] += 1
    print("    flagged by via:", dict(sorted(by_via.items())))
    for name, m in flagged[: max(args.show, 0)]:
        print(f"    flagged {name!r} -> {m}")
    print(f"elapsed {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
