"""How common a match key is among accounts in good standing, and which tricks a match took.

Counts are keyed by a stable 64-bit digest of the key (BLAKE2b), never by Python's per-process string
hash, so the same numbers mean the same keys in every worker, in the database and in a snapshot.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from registry.matching.fold import _LEET_RUN, HAN, _t2s, canonical, has_han, is_han
from registry.matching.keys import char_frequencies, name_keys, name_parts, segment_pinyin, strip_affixes

# Account statuses in good standing: their names count as "held by someone who is not banned".
GOOD_STANDING = ("active", "dormant", "suspended")


def key_hash(key: str) -> int:
    """Return the stable signed 64-bit digest a match key is counted under."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


def account_keys(*names: str | None) -> set[str]:
    """Return the distinct match keys an account's names hold (each key counts once per account)."""
    out: set[str] = set()
    for name in names:
        if name:
            out |= {k[:256] for k in name_keys(name).distinct()}
    if names:
        out |= stat_keys(names[0], names[1] if len(names) > 1 else None)
    return out


def key_deltas(old: Iterable[str], new: Iterable[str]) -> Counter[int]:
    """Return the per-digest change when an account's keys go from old to new."""
    delta: Counter[int] = Counter()
    old_s, new_s = set(old), set(new)
    for k in new_s - old_s:
        delta[key_hash(k)] += 1
    for k in old_s - new_s:
        delta[key_hash(k)] -= 1
    return delta


class KeyCounts:
    """Per-process map from a key digest to the number of accounts in good standing holding it.

    Two layers: a frozen open-addressing table in two flat arrays (digests and counts, linear probing,
    at most 70% full), made by ``compact`` after a build, and a dict of the absolute values set since
    (the sync path's ``set_many``; 0 there hides a digest the table still holds). A dict of millions
    of Python ints costs about 70 bytes a key, a second to unpickle and, read by a forked worker,
    copies the pages it touches (reference counts); the table is 17-34 bytes a key, pickles and loads
    at memory speed (the check index snapshot) and reading it writes nothing. No library offers a
    compact int-to-int table that stays a plain picklable buffer (numpy has none), so it is written here.
    """

    # An empty slot of the table. A digest that is 0 itself stays in the dict layer.
    _EMPTY = 0

    def __init__(self) -> None:
        self._n: dict[int, int] = {}
        # (digests, counts, mask): swapped as one, so a lookup never mixes two tables.
        self._table: tuple[array[int], array[int], int] = (array("q"), array("I"), -1)
        self._held = 0  # digests with a count in the table
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Return how many digests have a count above zero."""
        n = self._held
        for h, v in list(self._n.items()):
            n += (v > 0) - (self._table_get(h) > 0)
        return n

    def __getstate__(self) -> dict[str, object]:
        # The lock is per process; the arrays pickle as buffers (protocol 5).
        return {k: getattr(self, k) for k in self.__dict__ if k != "_lock"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def set_many(self, rows: Iterable[tuple[int, int]]) -> None:
        """Set absolute counts (the database's current values); 0 or less means nobody holds the key."""
        with self._lock:
            n = self._n
            for h, v in rows:
                if v > 0:
                    n[h] = v
                elif self._table_get(h):
                    n[h] = 0  # hides the table's count
                else:
                    n.pop(h, None)

    def get(self, key: str) -> int:
        """Return how many accounts in good standing hold this key."""
        if not key:
            return 0
        h = key_hash(key)
        v = self._n.get(h)
        return v if v is not None else self._table_get(h)

    def _table_get(self, h: int) -> int:
        keys, vals, mask = self._table
        if mask < 0:
            return 0
        i = h & mask
        while True:
            k = keys[i]
            if k == h:
                return vals[i]
            if k == 0:
                return 0
            i = (i + 1) & mask

    def compact(self) -> None:
        """Fold the dict layer into a new table (after a bulk load; seconds at millions of keys)."""
        import numpy as np

        with self._lock:
            items = self._n
            table_k, table_v, mask = self._table
            # Everything the table holds, overridden by the dict layer.
            live = np.frombuffer(table_k, dtype=np.int64) if mask >= 0 else np.zeros(0, np.int64)
            held = live != self._EMPTY
            old_k = live[held]
            old_v = np.frombuffer(table_v, dtype=np.uint32)[held] if mask >= 0 else np.zeros(0, np.uint32)
            new_k = np.fromiter(items.keys(), dtype=np.int64, count=len(items))
            new_v = np.fromiter(items.values(), dtype=np.int64, count=len(items))
            keep_old = ~_member(old_k, new_k)
            keys = np.concatenate([old_k[keep_old], new_k])
            vals = np.concatenate([old_v[keep_old].astype(np.int64), new_v])
            stay = (vals > 0) & (keys != self._EMPTY)
            zero_digest = {h: v for h, v in items.items() if h == self._EMPTY}
            keys, vals = keys[stay], np.minimum(vals[stay], 0xFFFFFFFF).astype(np.uint32)
            # The table first, then the dict: a lookup reads the dict first, so it never sees the
            # new dict beside the old table (values set since the last compact would vanish).
            self._table = _probe_table(keys, vals)
            self._held = len(keys)
            self._n = zero_digest


def _member(a: Any, b: Any) -> Any:
    """Return which of a's values are in b (np.isin, by binary search: isin took seconds here)."""
    import numpy as np

    if not a.size or not b.size:
        return np.zeros(a.size, dtype=bool)
    sb = np.sort(b)
    at = np.minimum(np.searchsorted(sb, a), sb.size - 1)
    return sb[at] == a


def _probe_table(keys: Any, vals: Any) -> tuple[array[int], array[int], int]:
    """Lay distinct nonzero digests out in a linear-probing table 35-70% full; return its arrays.

    Taken in order of home slot, a key lands on its home slot or just after the key before it,
    whichever is later: a running maximum, so the whole layout is a few numpy passes. Each key then
    sits past occupied slots only, which is what a lookup's probe walk assumes. The few that run past
    the table's end wrap to its start, placed one by one as a lookup would walk to them.
    """
    import numpy as np

    n = len(keys)
    # At most 70% full: a lookup walks about 2 slots for a held digest, 6 for an absent one.
    cap = 1 << max(4, (int(n / 0.7) + 1).bit_length())
    mask = cap - 1
    order = np.argsort(keys & mask, kind="stable")
    keys, vals = keys[order], vals[order]
    home = keys & mask
    at = np.arange(n, dtype=np.int64)
    pos = np.maximum.accumulate(home - at) + at if n else at
    inside = pos < cap
    table_k = np.zeros(cap, dtype=np.int64)
    table_v = np.zeros(cap, dtype=np.uint32)
    table_k[pos[inside]] = keys[inside]
    table_v[pos[inside]] = vals[inside]
    out_k: array[int] = array("q")
    out_k.frombytes(table_k.tobytes())
    out_v: array[int] = array("I")
    out_v.frombytes(table_v.tobytes())
    for k, v in zip(keys[~inside].tolist(), vals[~inside].tolist(), strict=True):
        i = k & mask
        while out_k[i]:
            i = (i + 1) & mask
        out_k[i], out_v[i] = k, v
    return out_k, out_v, mask


# --- priors for a young platform ------------------------------------------------------------------


@cache
def _char_share() -> dict[str, float]:
    """Return each Han character's share of running text (raw counts of the character frequency list)."""
    raw: dict[str, int] = {}
    for _rank, char, count in char_frequencies():
        if count is not None:
            raw.setdefault(char, count)
    total = float(sum(raw.values())) or 1.0
    return {c: n / total for c, n in raw.items()}


def han_prior_share(key: str) -> float:
    """Estimate the share of people whose Han name folds to this key, from character frequencies.

    Characters are taken as independent draws from running text, boosted for the 1-3 characters a name
    has (names reuse a small set of characters far more than text does). A rough floor for platforms
    with too few accounts to count; the observed counts replace it as soon as they are larger.
    """
    if not key or not all(is_han(c) for c in key):
        return 0.0
    share = _char_share()
    p = 1.0
    for c in key:
        # Name characters are ~30x more concentrated than text characters (a few thousand in use).
        p *= min(1.0, 30.0 * share.get(c, 1e-6))
    return p


# How many characters in common use share a toneless syllable: the fan-out of a homophone swap.
NAME_CHARS = 4000


@cache
def _syllable_fanout() -> dict[str, int]:
    """Return, per toneless syllable, how many of the NAME_CHARS most frequent characters read so."""
    share = _char_share()
    top = sorted(share, key=lambda c: -share[c])[:NAME_CHARS]
    out: Counter[str] = Counter()
    for c in top:
        if is_han(c):
            out[_syllable(c)] += 1
    return dict(out)


def homophone_bits(query: str, matched: str) -> float:
    """Return log2 of the spellings a homophone swap chose among: per character swapped, its syllable's
    fan-out (a swap for "yu" picks one of dozens of characters, one for "kan" one of a few)."""
    q, m = _han_name(query), _han_name(matched)
    if not q or not m or len(q) != len(m):
        return 0.0
    if sorted(q) != sorted(m) and [_syllable(c) for c in q] != [_syllable(c) for c in m]:
        # Reordered as well: compare the characters in the matched name's order of sounds.
        by_sound = {_syllable(c): c for c in m}
        pairs = [(c, by_sound.get(_syllable(c), c)) for c in q]
    else:
        pairs = list(zip(q, m, strict=True))
    fan = _syllable_fanout()
    return sum(math.log2(max(2, fan.get(_syllable(a), 2))) for a, b in pairs if a != b)


# --- tricks ---------------------------------------------------------------------------------------

_VIA_TRICK = {
    "leet": "leet",
    "split": "split_char",
    "lookalike": "confusable",
    "reorder": "reordered",
    "typo": "typo",
    "fuzzy": "fuzzy",
    "part": "extra_part",
}


def tricks_of(query: str, matched: str, via: str) -> list[str]:  # noqa: C901 - one line per trick
    """Name the disguises that turn the banned name into the searched one, most telling first."""
    tricks: list[str] = []
    q_han, m_han = has_han(query), has_han(matched)
    if via in _VIA_TRICK:
        tricks.append(_VIA_TRICK[via])
        if via == "part" and _initial_only(query, matched):
            tricks.append("initial")
    elif via == "pinyin":
        tricks.append("homophone" if q_han and m_han else "pinyin")
    elif via == "affix":
        cq, cm = canonical(query), canonical(matched)
        bare_q, bare_m = cq.strip("0123456789"), cm.strip("0123456789")
        if bare_q == bare_m or strip_affixes(cq) == bare_m or strip_affixes(cm) == bare_q:
            tricks.append("digits_changed" if bare_q == bare_m else "affix")
        else:
            tricks.append("affix")
    if q_han != m_han and "pinyin" not in tricks and via != "pinyin":
        tricks.append("pinyin")
    if via == "reorder" and q_han and m_han and sorted(canonical(query)) != sorted(canonical(matched)):
        # 温鹏 / 彭文: the parts reordered AND spelt with other characters of the same sound.
        tricks.append("homophone")
    if q_han and _t2s.convert(query) != query:
        tricks.append("traditional")
    if any(_confusable(c) for c in query):
        tricks.append("confusable")
    if any(unicodedata.category(c) == "Cf" for c in query):
        tricks.append("invisible")
    if not q_han and any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", query)):
        tricks.append("tone_marks")
    if q_han and _separators(query).strip() and len(HAN.findall(query)) >= 2:
        tricks.append("han_separator")
    if _irregular_case(query):
        tricks.append("odd_case")
    if any(0xFF01 <= ord(c) <= 0xFF5E for c in query):
        tricks.append("fullwidth")
    if (
        via in ("canonical", "affix")
        and _LEET_RUN.search(query.casefold())
        and not _LEET_RUN.search(matched.casefold())
    ):
        # "w4ng_xuw3n123", "amy1ucy": digits standing for letters inside a word (canonical folds them).
        tricks.append("leet")
    if _decorated(query) and not _decorated(matched):
        tricks.append("decorated")
    elif _separators(query) != _separators(matched) and via in ("canonical", "affix", "reorder"):
        tricks.append("separator")
    if via == "canonical" and not tricks and query != matched:
        tricks.append("case" if query.casefold() == matched.casefold() else "folded")
    return list(dict.fromkeys(tricks))


def _initial_only(query: str, matched: str) -> bool:
    """Tell whether the parts one name has and the other lacks are initials ("Feng K. Zhang")."""
    a, b = Counter(name_parts(query)), Counter(name_parts(matched))
    extra = list(((a - b) + (b - a)).elements())
    return bool(extra) and all(len(t) == 1 for t in extra)


def _irregular_case(s: str) -> bool:
    """Tell whether a word's letters change case where no word starts ("hU.PeNg", "jINwei", "LiU").

    People capitalise a word's first letter, and some write every word so ("XiaoMing", "DSF99"): a
    capital after a small letter that ends the word or runs into another capital ("NG" in "yaNGSHuaNg")
    starts no word, while a single capital before small letters may start one ("xiaoMing").
    """
    runs = _LETTER_RUN.findall(s)
    for run in runs:
        cuts = [0]
        for i in range(1, len(run)):
            c = run[i]
            if c.isupper() and run[i - 1].islower():
                if i + 1 == len(run) or run[i + 1].isupper():
                    return True
                cuts.append(i)
        # Words written together each capitalised: every piece a word or pinyin ("xiaoMing", not
        # "sUn", "qQc" or "ChaNg").
        pieces = [run[a:b].lower() for a, b in zip(cuts, [*cuts[1:], len(run)], strict=True)]
        if len(pieces) > 1 and any(len(p) < 3 and segment_pinyin(p) is None for p in pieces):
            return True
        if len(pieces) > 1 and any(len(p) < 2 for p in pieces):
            return True
    # A word in capitals beside words in small letters ("cui_YIN_1998"): not how a handle is typed.
    return any(r.isupper() and len(r) >= 2 for r in runs) and any(r.islower() for r in runs)


_LETTER_RUN = re.compile(r"[A-Za-z]+")
# Brackets and symbols around a name ("【zh-uji】", "〖shang·jing007〗", "_vincent.ji~1986_"): what
# nobody types into their own handle or name, and what a returner adds to get past exact matching.
_DECORATION = frozenset("【】〖〗「」『』《》〈〉［］｛｝()[]{}<>★☆✦✧♥❤♡✿❀~～*＊^|丨")


def _decorated(s: str) -> bool:
    t = s.strip()
    if any(c in _DECORATION for c in t):
        return True
    # Separators at both ends: "_vincent.ji_", ".lucy." (one at one end is a handle's own: "lucy_").
    return len(t) > 2 and not t[0].isalnum() and not t[-1].isalnum() and any(c.isalnum() for c in t)


def _confusable(c: str) -> bool:
    if c.isascii() or is_han(c) or not c.isalpha():
        return False
    folded = canonical(c)
    return bool(folded) and folded.isascii()


def _separators(s: str) -> str:
    return "".join(c for c in s if not c.isalnum())


# --- a smoothed model of how many people a name's equivalence class holds ---------------------------
#
# Observed key counts say how many accounts hold exactly this key; in a sample of a few hundred
# thousand most names are seen 0-2 times even when the population holds many (温鹏: a common surname
# and a common given character). So accounts also count *statistics keys*: the surname character, each
# given-name character, the given name's length, their toneless pinyin syllables, and the word tokens
# of a handle. They go through the same account_keys -> key_deltas -> name_key_counts path as the match
# keys, so they stay current as accounts are created, renamed, banned and purged. From them a name's
# expected holders is P(surname) x P(length) x product of P(given char), the same over syllables for a
# pinyin class, and the product of token shares for a handle core.

STAT = "\x01"
ALL_ACCOUNTS = STAT + "n"
HAN_NAMES = STAT + "hn"
HANDLES = STAT + "tn"
MAX_TOKEN = 12
# Longer cores are priced by their first MAX_CORE letters: bounded work per check whatever the input.
MAX_CORE = 24


def _han_name(name: str) -> str:
    """Return a 2-4 character Han name folded (Simplified, no separators), or ""."""
    c = canonical(name)
    return c if 2 <= len(c) <= 4 and all(is_han(ch) for ch in c) else ""


@cache
def _syllable(ch: str) -> str:
    from registry.matching.keys import to_pinyin

    return to_pinyin(ch)


def handle_tokens(name: str) -> list[str]:
    """Split a Latin name into word tokens: runs of letters, each run further into pinyin syllables."""
    from registry.matching.keys import segment_pinyin

    out: list[str] = []
    for piece in canonical_runs(name):
        seg = segment_pinyin(piece) if len(piece) <= 24 else None
        if seg and len(seg) > 1:
            out.extend(seg)
        elif piece:
            out.append(piece[:MAX_TOKEN])
    return out


def canonical_runs(name: str) -> list[str]:
    """Return the runs of ASCII letters of a name (case folded), split where anything else stands."""
    s = unicodedata.normalize("NFKC", name).casefold()
    runs: list[str] = []
    cur: list[str] = []
    for ch in s:
        if "a" <= ch <= "z":
            cur.append(ch)
        elif cur:
            runs.append("".join(cur))
            cur = []
    if cur:
        runs.append("".join(cur))
    return runs


def stat_keys(username: str | None, display_name: str | None) -> set[str]:
    """Return the statistics keys an account holds (see above); each counts once per account."""
    out = {ALL_ACCOUNTS}
    for name in (display_name, username):
        han = _han_name(name) if name else ""
        if han:
            out |= {
                HAN_NAMES,
                f"{STAT}s:{han[0]}",
                f"{STAT}gl:{len(han) - 1}",
                f"{STAT}ps:{_syllable(han[0])}",
            }
            out |= {f"{STAT}g:{c}" for c in han[1:]}
            out |= {f"{STAT}pg:{_syllable(c)}" for c in han[1:]}
            break
    toks: set[str] = set()
    for name in (username, display_name):
        if name and name.isascii():
            toks |= set(handle_tokens(name))
    if toks:
        out.add(HANDLES)
        out |= {f"{STAT}t:{t}" for t in toks}
    return out


class ClassModel:
    """Estimate the expected holders of a name's equivalence class from the statistics keys."""

    # Pseudo-counts: a character or token never seen among N accounts is given half a holder's share,
    # so an unseen piece makes a name rare, not impossible.
    UNSEEN = 0.5

    def __init__(self, get: Callable[[str], int]) -> None:
        self.get = get
        self._memo: dict[str, int] = {}

    def n(self, key: str) -> int:
        """Return a statistics key's count, once per check."""
        v = self._memo.get(key)
        if v is None:
            v = self._memo[key] = self.get(key)
        return v

    def _share(self, key: str, total: float) -> float:
        return max(self.n(key), self.UNSEEN) / max(total, 1.0)

    def han(self, name: str, *, by_sound: bool = False, any_order: bool = False) -> float:
        """Return the expected accounts whose Han name is this one (or its sound, or its parts reordered)."""
        han = _han_name(name)
        if not han:
            return 0.0
        if by_sound:
            return self.sound([_syllable(c) for c in han], any_order=any_order)
        return self._han_units(list(han), "s", "g", any_order)

    def sound(self, syllables: list[str], *, any_order: bool = False) -> float:
        """Return the expected accounts whose Han name sounds like these 2-4 toneless syllables."""
        if not 2 <= len(syllables) <= 4:
            return 0.0
        return self._han_units(syllables, "ps", "pg", any_order)

    def _han_units(self, han: list[str], sur: str, giv: str, any_order: bool) -> float:
        total = float(self.n(HAN_NAMES))
        if total < 1:
            return 0.0
        glen = len(han) - 1
        p_len = self._share(f"{STAT}gl:{glen}", total)

        def unit(c: str) -> str:
            return c

        # A given character's share per slot: accounts holding it over all given-name slots.
        slots = sum(k * self.n(f"{STAT}gl:{k}") for k in (1, 2, 3)) or total

        def one(order: list[str]) -> float:
            p = self._share(f"{STAT}{sur}:{unit(order[0])}", total) * p_len
            for c in order[1:]:
                p *= min(1.0, self._share(f"{STAT}{giv}:{unit(c)}", slots))
            return p

        p = one(han)
        if any_order:
            # Any character may be the surname; the given characters in either order.
            p = max(p, sum(one([han[i], *han[:i], *han[i + 1 :]]) for i in range(len(han))) * max(1, glen))
        return total * p

    def sound_of(self, name: str, *, any_order: bool = False) -> float:
        """Return the expected accounts whose Han name sounds as this name reads (Han or pinyin letters)."""
        if _han_name(name):
            return self.han(name, by_sound=True, any_order=any_order)
        from registry.matching.keys import segment_pinyin

        core = "".join(canonical_runs(name))
        if not core or len(core) > MAX_CORE or not name.isascii():
            return 0.0
        seg = segment_pinyin(core)
        return self.sound(seg, any_order=any_order) if seg else 0.0

    def handle(self, name: str, *, any_order: bool = False) -> float:
        """Expected accounts whose handle core (digits and separators off) is made of these tokens."""
        core = "".join(canonical_runs(name))[:MAX_CORE]
        total = float(self.n(HANDLES))
        if not core or total < 1:
            return 0.0
        n = len(core)
        # Best segmentation into counted tokens (max product of shares, in logs: products of small
        # shares would sink into subnormal floats, which cost ~100x); an uncounted piece is priced as an
        # unseen token per three letters, over 26, so random letters stay rare.
        log_total = math.log(total)
        unseen = math.log(self.UNSEEN) - log_total
        best = [-math.inf] * (n + 1)
        best[0] = 0.0
        pieces = [0] * (n + 1)
        for i in range(n):
            if best[i] == -math.inf:
                continue
            for j in range(i + 1, min(n, i + MAX_TOKEN) + 1):
                c = self.n(f"{STAT}t:{core[i:j]}") if j - i >= 2 else 0
                lp = math.log(c) - log_total if c else unseen * (j - i) / 3.0 - math.log(26.0)
                if best[i] + lp > best[j]:
                    best[j] = best[i] + lp
                    pieces[j] = pieces[i] + 1
        lp = best[n]
        if any_order:
            lp += math.log(math.factorial(min(4, pieces[n])))
        p = math.exp(max(lp, -700.0))
        return total * min(1.0, p)


# --- two fields spelling one name -------------------------------------------------------------------
#
# A username and a display name that spell the same name ("mayuwei6656" and 马宇玮, "wang.ct" and
# 王晨婷, "kan_tian78" and 田堪) are one observation of that name, not two: people build their handle
# from their own name. Agreement between them at one ban is corroboration only when they are not.

MAX_SPELLING_PARTS = 4


def _parts(name: str) -> list[str]:
    """Return a name's parts in toneless pinyin or Latin letters: syllables of a Han name, else words."""
    han = _han_name(name)
    if han:
        return [_syllable(c) for c in han]
    runs = canonical_runs(name)
    if len(runs) == 1:
        from registry.matching.keys import segment_pinyin

        seg = segment_pinyin(runs[0]) if len(runs[0]) <= 24 else None
        return seg or runs
    return runs


def spellings(name: str) -> set[str]:
    """Return the letter strings a person with this name would build a handle from.

    The parts joined in their order or rotated (given name first), the surname with the given name's
    initials or all initials (王晨婷: wangchenting, chentingwang, wangct, wct), and for a name of three
    or more words each with one word left out (a middle initial, an English name before the Chinese one).
    """
    parts = [p for p in _parts(name) if p][:MAX_SPELLING_PARTS]
    if not parts:
        return set()
    out: set[str] = set()
    variants = [parts]
    if len(parts) >= 3:
        variants += [parts[:i] + parts[i + 1 :] for i in range(len(parts))]
    for ps in variants:
        for i in range(len(ps)):
            rot = ps[i:] + ps[:i]
            out.add("".join(rot))
        if len(ps) >= 2:
            out.add(ps[0] + "".join(p[0] for p in ps[1:]))
            out.add("".join(p[0] for p in ps[1:]) + ps[0])
            out.add("".join(p[0] for p in ps))
    return {s for s in out if len(s) >= 2}


def same_name(username: str | None, display_name: str | None) -> bool:
    """Tell whether a username and a display name spell one person's name (see spellings)."""
    if not username or not display_name:
        return False
    core = "".join(canonical_runs(username))
    if len(core) < 2:
        return False
    return core in spellings(display_name) or bool(spellings(username) & spellings(display_name))
