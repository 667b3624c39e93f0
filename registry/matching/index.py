"""Index banned names compactly and find the ones a new name is a disguise of."""

from __future__ import annotations

import heapq
import threading
from array import array
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Levenshtein

from registry.matching.keys import (
    NameKeys,
    decode_keys,
    encode_keys,
    keys_for_canonical,
    leet_variants,
    name_keys,
    segment_pinyin,
    split_variants,
)

REVIEW_THRESHOLD = 85.0


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Scores and retrieval limits; the service may override any of them."""

    review_threshold: float = REVIEW_THRESHOLD
    score_canonical: float = 100.0
    score_split: float = 98.0
    score_leet: float = 98.0
    score_affix: float = 95.0
    score_pinyin: float = 95.0
    score_reorder: float = 92.0
    score_typo_1: float = 90.0
    score_typo_2: float = 86.0
    # Two different names that are both valid pinyin one letter apart (xiaomin / xiaoming) are more
    # likely two people than a typo; this much comes off their typo score.
    valid_pinyin_penalty: float = 8.0
    min_len_typo_1: int = 5
    min_len_typo_2: int = 12
    fuzzy_weight: float = 0.8
    max_candidates: int = 50
    exact_cap: int = 50
    posting_cap: int = 50_000
    posting_budget: int = 6_000


@dataclass(frozen=True, slots=True)
class NameMatch:
    """One banned name a searched name resembles."""

    ban_id: str
    matched: str
    score: float
    exact: bool
    via: str


_REC = "\x1d"


class _HashMultiMap:
    """Multimap from a 64-bit key hash to record ids, kept as two sorted arrays plus a small delta."""

    # A dict of a million int keys costs ~100 MB; sorted array('q')/array('I') pairs cost 12 bytes an entry.
    DELTA_MAX = 4096

    def __init__(self) -> None:
        self._main: tuple[array[int], array[int]] = (array("q"), array("I"))
        self._pend_h: array[int] = array("q")
        self._pend_v: array[int] = array("I")
        self._delta: dict[int, list[int]] | None = {}

    def add(self, h: int, v: int) -> None:
        self._pend_h.append(h)
        self._pend_v.append(v)
        if self._delta is not None:
            if len(self._pend_h) > self.DELTA_MAX:
                self._delta = None
            else:
                self._delta.setdefault(h, []).append(v)

    @property
    def needs_merge(self) -> bool:
        return self._delta is None

    def merge(self) -> None:
        """Fold pending entries into the sorted arrays (caller holds the writer lock)."""
        if not self._pend_h:
            return
        mh, mv = self._main
        hs = mh + self._pend_h
        vs = mv + self._pend_v
        order = sorted(range(len(hs)), key=hs.__getitem__)
        self._main = (array("q", map(hs.__getitem__, order)), array("I", map(vs.__getitem__, order)))
        # Readers may briefly see an entry both in main and pending; they de-duplicate.
        self._pend_h = array("q")
        self._pend_v = array("I")
        self._delta = {}

    def get(self, h: int, cap: int) -> list[int]:
        mh, mv = self._main
        out: list[int] = []
        i = bisect_left(mh, h)
        n = len(mh)
        while i < n and mh[i] == h and len(out) < cap:
            out.append(mv[i])
            i += 1
        delta = self._delta
        if delta:
            out.extend(delta.get(h, ())[: max(0, cap - len(out))])
        return out


def _grams(key: str) -> set[str]:
    padded = f"^{key}$"
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


@dataclass(slots=True)
class _Query:
    keys: NameKeys
    variants: list[tuple[float, str, NameKeys]] = field(default_factory=list)
    is_latin: bool = True


class NameIndex:
    """In-memory index of banned names: exact-key lookups plus trigram retrieval, scored with rapidfuzz."""

    def __init__(self, config: MatchConfig | None = None) -> None:
        self.config = config or MatchConfig()
        self._lock = threading.Lock()
        # Records "ban_id \x1d name \x1d encoded" live UTF-8 encoded in one buffer: a million str objects
        # would cost five times as much.
        self._blob = bytearray()
        self._off: array[int] = array("Q")
        self._alive = bytearray()
        self._live = 0
        self._keys = _HashMultiMap()
        self._bans = _HashMultiMap()
        self._grams: dict[str, array[int]] = {}

    def __len__(self) -> int:
        return self._live

    def add(self, ban_id: str, name: str, encoded: str | None = None) -> None:
        """Index one name of a ban, using its stored encoding when given."""
        keys = decode_keys(encoded) if encoded else name_keys(name)
        enc = encoded or encode_keys(keys)
        rec = f"{ban_id}{_REC}{name}{_REC}{enc}".encode()
        with self._lock:
            nid = len(self._off)
            self._off.append(len(self._blob))
            self._blob += rec
            self._alive.append(1)
            self._live += 1
            for k in keys.distinct():
                self._keys.add(hash(k), nid)
            self._bans.add(hash(ban_id), nid)
            for g in _grams(keys.pinyin):
                post = self._grams.get(g)
                if post is None:
                    self._grams[g] = array("I", (nid,))
                else:
                    post.append(nid)

    def remove_ban(self, ban_id: str) -> None:
        """Drop every name of a ban from search results."""
        with self._lock:
            self._merge_locked()
            for nid in self._bans.get(hash(ban_id), cap=1 << 30):
                if self._alive[nid] and self._record(nid)[0] == ban_id:
                    self._alive[nid] = 0
                    self._live -= 1

    def compact(self) -> None:
        """Sort pending entries into the lookup arrays; call after a bulk load."""
        with self._lock:
            self._merge_locked()

    def _merge_locked(self) -> None:
        self._keys.merge()
        self._bans.merge()

    def _record(self, nid: int) -> tuple[str, str, str]:
        start = self._off[nid]
        end = self._off[nid + 1] if nid + 1 < len(self._off) else len(self._blob)
        ban_id, name, enc = self._blob[start:end].decode().split(_REC, 2)
        return ban_id, name, enc

    def _query(self, name: str) -> _Query:
        keys = name_keys(name)
        cfg = self.config
        q = _Query(keys, [(cfg.score_canonical, "canonical", keys)], keys.canonical.isascii())
        for v in leet_variants(name, keys.canonical):
            q.variants.append((cfg.score_leet, "leet", keys_for_canonical(v)))
        for v in split_variants(keys.canonical):
            q.variants.append((cfg.score_split, "split", keys_for_canonical(v)))
        return q

    def _candidates(self, q: _Query) -> list[int]:
        cfg = self.config
        found: dict[int, None] = {}
        lookup: set[str] = set()
        for _, _, k in q.variants:
            lookup |= k.distinct()
        for k in sorted(lookup):
            for nid in self._keys.get(hash(k), cfg.exact_cap):
                found[nid] = None
        grams: set[str] = set()
        for _, _, k in q.variants:
            grams |= _grams(k.pinyin)
        lists = sorted(
            (
                (len(p), g, p)
                for g in grams
                if (p := self._grams.get(g)) is not None and len(p) <= cfg.posting_cap
            ),
            key=lambda t: (t[0], t[1]),
        )
        counts: Counter[int] = Counter()
        used = 0
        for n, _, post in lists:
            # Rarest grams first; a common gram adds little evidence and much work.
            if used and used + n > cfg.posting_budget:
                break
            counts.update(post)
            used += n
        best = heapq.nsmallest(cfg.max_candidates, counts.items(), key=lambda kv: (-kv[1], kv[0]))
        for nid, _ in best:
            found[nid] = None
        return list(found)

    def _score(self, q: _Query, cand: NameKeys) -> tuple[float, str]:
        cfg = self.config
        best = (0.0, "fuzzy")

        def offer(score: float, how: str) -> None:
            # Strictly greater: among equal scores the first, most specific explanation stays.
            nonlocal best
            if score > best[0]:
                best = (score, how)

        for base_score, via, k in q.variants:
            if k.canonical == cand.canonical:
                offer(base_score, via)
                continue
            if k.base == cand.base:
                offer(min(base_score, cfg.score_affix), "affix" if via == "canonical" else via)
            if k.pinyin == cand.pinyin:
                offer(min(base_score, cfg.score_pinyin), "pinyin" if via == "canonical" else via)
            if k.reorder and k.reorder == cand.reorder:
                offer(min(base_score, cfg.score_reorder), "reorder" if via == "canonical" else via)
            if best[0] >= cfg.score_reorder:
                continue
            a, b = k.pinyin, cand.pinyin
            if q.is_latin:
                # Typos are a Latin-keyboard disguise; two Han names a character apart are two people.
                d = OSA.distance(a, b, score_cutoff=2)
                n = max(len(a), len(b))
                s = 0.0
                if d == 1 and n >= cfg.min_len_typo_1:
                    s = cfg.score_typo_1
                elif d == 2 and n >= cfg.min_len_typo_2:
                    s = cfg.score_typo_2
                # A transposition (OSA below Levenshtein) is a slip of the fingers, not another name.
                if s and _both_pinyin_names(a, b) and Levenshtein.distance(a, b, score_cutoff=2) == d:
                    s -= cfg.valid_pinyin_penalty
                if s:
                    offer(min(base_score, s), "typo")
                    continue
            offer(fuzz.ratio(a, b) * cfg.fuzzy_weight, "fuzzy")
        return best

    def search(self, name: str, *, limit: int = 5, min_score: float = 0) -> list[NameMatch]:
        """Return the banned names this name most resembles, best first."""
        if self._keys.needs_merge or self._bans.needs_merge:
            self.compact()
        q = self._query(name)
        if not q.keys.canonical:
            return []
        per_ban: dict[str, NameMatch] = {}
        for nid in self._candidates(q):
            if not self._alive[nid]:
                continue
            ban_id, matched, enc = self._record(nid)
            cand = decode_keys(enc)
            score, via = self._score(q, cand)
            score = round(score, 1)
            if score < min_score:
                continue
            m = NameMatch(ban_id, matched, score, q.keys.canonical == cand.canonical, via)
            prev = per_ban.get(ban_id)
            if prev is None or (m.score, m.exact) > (prev.score, prev.exact):
                per_ban[ban_id] = m
        return sorted(per_ban.values(), key=lambda m: (-m.score, m.ban_id))[:limit]


def _both_pinyin_names(a: str, b: str) -> bool:
    return a.isascii() and b.isascii() and segment_pinyin(a) is not None and segment_pinyin(b) is not None
