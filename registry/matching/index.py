"""Index banned names compactly and find the ones a new name is a disguise of."""

from __future__ import annotations

import threading
from array import array
from dataclasses import dataclass, field

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from registry.matching.fold import has_han
from registry.matching.keys import (
    PART_MARK,
    SEP,
    NameKeys,
    decode_keys,
    encode_keys,
    index_only_keys,
    keys_for_canonical,
    leet_variants,
    name_keys,
    part_drop_variants,
    rotation_key,
    segment_pinyin,
    sorted_parts_key,
    split_variants,
)
from registry.matching.typos import (
    COST_OTHER,
    DeletionIndex,
    lookalike_variants,
    paired_values,
    stable_hash,
    sub_cost,
    typo_budget,
    typo_cost,
)

REVIEW_THRESHOLD = 85.0
# Work per search is bounded whatever the name (issue 10: "弓长" * 64 made split-character variants,
# each a pinyin pass over the whole name, multiply). Real names are short: a name split into characters
# doubles at most a few of them, and a typo is looked for in keys a person types, not in pages.
MAX_SPLIT_CHARS = 12
MAX_VARIANT_CHARS = 32
MAX_TYPO_CHARS = 40


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Scores and retrieval limits; the service may override any of them."""

    review_threshold: float = REVIEW_THRESHOLD
    score_canonical: float = 100.0
    score_split: float = 98.0
    score_leet: float = 98.0
    score_lookalike: float = 95.0
    score_affix: float = 95.0
    score_pinyin: float = 95.0
    score_reorder: float = 92.0
    score_reorder_same_parts: float = 93.0
    # A typo scores score_typo_1 for the cheapest slip, falling to score_typo_2 at the slip budget of
    # its length (typos.typo_budget: none under min_len_typo_1 letters, two edits' worth from
    # min_len_typo_2); slips beyond the budget are no typo.
    score_typo_1: float = 90.0
    score_typo_2: float = 86.0
    # Two different names that are both valid pinyin, one syllable swapped for another (xiaoming /
    # xiaoning), are more likely two people than a typo; this much comes off their typo score.
    valid_pinyin_penalty: float = 8.0
    min_len_typo_1: int = 5
    min_len_typo_2: int = 12
    fuzzy_weight: float = 0.8
    max_candidates: int = 50
    exact_cap: int = 50
    # Typo retrieval: groups taken per looked-up string, groups scored (nearest first), and entries
    # scored per group (a group is one distinct pinyin key; homophone names share it and score alike).
    typo_cap: int = 64
    typo_groups: int = 16
    typo_group_entries: int = 4
    # Keys this long are also cut into three parts (typos.DeletionIndex, PassJoin's partition filter),
    # so that they are found two edits away: three more postings each.
    typo_two_len: int = 11
    # Long keys two slips from a name and longer than it are looked for in the first tier, where the
    # two-letter deletions once found them: a name that reaches review on something else still lists
    # them. False leaves them to the second tier (run only when nothing reached review): quicker.
    typo_longer_first: bool = True
    # No longer read (the trigram step they bounded is gone); kept so existing overrides still load.
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
    # The banned entry's key the match was made on, and the searched name's key at the same level
    # (canonical, base, pinyin or reorder): what commonness is counted on.
    key: str = ""
    query_key: str = ""
    # The banned name's base key (affixes and edge digits off): how much information it carries.
    base: str = ""


_REC = "\x1d"
_NIL = -1


class _BucketMultiMap:
    """Multimap from a 64-bit key hash to ints, kept in hash-addressed buckets of flat arrays."""

    # A dict of a million int keys costs ~100 MB and a sorted array needs a full re-sort to take new
    # entries; 2^16 buckets of interleaved [hash, value, hash, value ...] int64 arrays cost 16 bytes an
    # entry plus ~5 MB of bucket headers, take inserts in O(1) and answer with a C-level array.index
    # scan of a few dozen slots.
    BITS = 16

    def __init__(self) -> None:
        self._mask = (1 << self.BITS) - 1
        self._buckets: list[array[int] | None] = [None] * (1 << self.BITS)

    def add(self, h: int, v: int) -> None:
        i = h & self._mask
        b = self._buckets[i]
        if b is None:
            self._buckets[i] = array("q", (h, v))
        else:
            b.append(h)
            b.append(v)

    def get(self, h: int, cap: int) -> list[int]:
        b = self._buckets[h & self._mask]
        return [] if b is None else paired_values(b, h, cap)

    def trim(self) -> None:
        """Drop the arrays' spare capacity after a bulk load."""
        for i, b in enumerate(self._buckets):
            if b is not None:
                self._buckets[i] = array("q", b)

    def __getstate__(self) -> dict[str, object]:
        # Pickled one array per bucket, 65,536 reconstructor calls cost seconds to load (the check
        # index snapshot); one flat array and the bucket lengths load in milliseconds.
        return _pack_buckets(self._buckets, "q", {"_mask": self._mask})

    def __setstate__(self, state: dict[str, object]) -> None:
        self._mask = state["_mask"]  # type: ignore[assignment]
        self._buckets = _unpack_buckets(state)


def _pack_buckets(buckets: list[array[int] | None], code: str, extra: dict[str, object]) -> dict[str, object]:
    """Return hash buckets as one flat array and per-bucket lengths (-1: no bucket), for pickling."""
    flat: array[int] = array(code)
    lengths: array[int] = array("q")
    for b in buckets:
        if b is None:
            lengths.append(-1)
        else:
            lengths.append(len(b))
            flat.extend(b)
    return {**extra, "_flat": flat, "_lengths": lengths}


def _unpack_buckets(state: dict[str, object]) -> list[array[int] | None]:
    """Rebuild the buckets _pack_buckets flattened."""
    flat: array[int] = state["_flat"]  # type: ignore[assignment]
    lengths: array[int] = state["_lengths"]  # type: ignore[assignment]
    out: list[array[int] | None] = []
    pos = 0
    for n in lengths:
        if n < 0:
            out.append(None)
        else:
            out.append(flat[pos : pos + n])
            pos += n
    return out


@dataclass(slots=True)
class _Query:
    keys: NameKeys
    variants: list[tuple[float, str, NameKeys]] = field(default_factory=list)
    is_latin: bool = True
    # (banned pinyin, query pinyin) -> typo score, shared by the homophone entries of a group.
    typo: dict[tuple[str, str], float] = field(default_factory=dict)
    # Index-only keys to look up: key -> (score, via), and the entries they found.
    extra: dict[str, tuple[float, str]] = field(default_factory=dict)
    hits: dict[int, tuple[float, str, str]] = field(default_factory=dict)


class NameIndex:
    """In-memory index of banned names: exact-key lookups plus deletion-neighbourhood typo retrieval.

    Each distinct set of match keys (an "entry") is indexed and scored once, however many bans carry a
    name with those keys; behind an entry hangs the list of its (ban_id, name) records in insertion
    order. A search scores entries, then hands out the bans behind the best ones, so a million bans
    sharing a few popular names cost one entry per name and cannot crowd each other out of retrieval.

    Entries sharing a pinyin key form a group; each group's key and its one-letter deletions are in a
    DeletionIndex, so typo retrieval costs a fixed number of lookups at any index size.
    """

    def __init__(self, config: MatchConfig | None = None) -> None:
        self.config = config or MatchConfig()
        self._lock = threading.Lock()
        # Name records "ban_id \x1d name" live UTF-8 encoded in one buffer: a million str objects
        # would cost five times as much.
        self._nblob = bytearray()
        self._noff: array[int] = array("Q")
        self._neid: array[int] = array("i")
        self._nnext: array[int] = array("i")
        self._alive = bytearray()
        self._live = 0
        # Entries: the encoded keys, the head and tail of their record list, and their live count.
        self._eblob = bytearray()
        self._eoff: array[int] = array("Q")
        self._ehead: array[int] = array("i")
        self._etail: array[int] = array("i")
        self._elive: array[int] = array("I")
        self._keys = _BucketMultiMap()  # stable_hash(key) -> eid, for every distinct key of an entry
        self._bans = _BucketMultiMap()  # stable_hash(ban_id) -> nid
        # Groups: distinct pinyin keys (blob + offsets), the first/last entry of each, and a per-entry
        # link to the next entry of its group.
        self._gblob = bytearray()
        self._goff: array[int] = array("Q")
        self._ghead: array[int] = array("i")
        self._gtail: array[int] = array("i")
        self._enext: array[int] = array("i")
        cfg = self.config
        self._typo = DeletionIndex(
            min_len=cfg.min_len_typo_1, two_len=cfg.typo_two_len, longer_first=cfg.typo_longer_first
        )

    def __len__(self) -> int:
        return self._live

    def __getstate__(self) -> dict[str, object]:
        # Picklable for benchmarks' cached worlds; the lock is per process.
        return {k: getattr(self, k) for k in self.__dict__ if k != "_lock"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def entries(self) -> int:
        """Return the number of distinct key sets indexed (live or not)."""
        return len(self._eoff)

    def add(self, ban_id: str, name: str, encoded: str | None = None) -> None:
        """Index one name of a ban, using its stored encoding when given."""
        if encoded:
            keys = None
            # The canonical key is the encoding's second field; decode the rest only for a new entry.
            canon = encoded.split(SEP, 2)[1]
        else:
            keys = name_keys(name)
            encoded = encode_keys(keys)
            canon = keys.canonical
        enc = encoded.encode()
        rec = f"{ban_id}{_REC}{name}".encode()
        h_canon = stable_hash(canon)
        with self._lock:
            eid = self._find_entry(h_canon, enc)
            if eid < 0:
                if keys is None:
                    keys = decode_keys(encoded)
                eid = len(self._eoff)
                self._eoff.append(len(self._eblob))
                self._eblob += enc
                self._ehead.append(_NIL)
                self._etail.append(_NIL)
                self._elive.append(0)
                for k in keys.distinct() or ("",):
                    self._keys.add(stable_hash(k), eid)
                self._join_group(eid, keys.pinyin)
            # Index-only keys depend on the name's parts, which one entry's names may not share.
            for k in index_only_keys(name, keys if keys is not None else decode_keys(encoded)):
                h = stable_hash(k)
                if eid not in self._keys.get(h, 1 << 30):
                    self._keys.add(h, eid)
            nid = len(self._noff)
            self._noff.append(len(self._nblob))
            self._nblob += rec
            self._neid.append(eid)
            self._nnext.append(_NIL)
            self._alive.append(1)
            self._link(eid, nid, ban_id)
            self._elive[eid] += 1
            self._live += 1
            self._bans.add(stable_hash(ban_id), nid)

    def _join_group(self, eid: int, pinyin: str) -> None:
        """Append a new entry to the group of its pinyin key, making the group when it is new."""
        self._enext.append(_NIL)
        raw = pinyin.encode()
        # The deletion index posts every group's key itself: it doubles as the pinyin -> group map.
        for gid in self._typo.get(pinyin, 1 << 30):
            if self._group_raw(gid) == raw:
                self._enext[self._gtail[gid]] = eid
                self._gtail[gid] = eid
                return
        gid = len(self._goff)
        self._goff.append(len(self._gblob))
        self._gblob += raw
        self._ghead.append(eid)
        self._gtail.append(eid)
        self._typo.add(pinyin, gid)

    def _group_raw(self, gid: int) -> bytes:
        end = self._goff[gid + 1] if gid + 1 < len(self._goff) else len(self._gblob)
        return bytes(self._gblob[self._goff[gid] : end])

    def _group_entries(self, gid: int, limit: int) -> list[int]:
        """Return up to limit live entries of a group, lowest ids first."""
        out: list[int] = []
        eid = self._ghead[gid]
        while eid != _NIL and len(out) < limit:
            if self._elive[eid]:
                out.append(eid)
            eid = self._enext[eid]
        return out

    def _link(self, eid: int, nid: int, ban_id: str) -> None:
        """Put a record into its entry's list, kept in ban_id order so ties resolve the same everywhere."""
        tail = self._etail[eid]
        if tail == _NIL:
            self._ehead[eid] = self._etail[eid] = nid
            return
        # Workers load bans in id order and new ids are time-ordered: appending is the usual case.
        if self._record(tail)[0] <= ban_id:
            self._nnext[tail] = nid
            self._etail[eid] = nid
            return
        prev, cur = _NIL, self._ehead[eid]
        while cur != _NIL and self._record(cur)[0] <= ban_id:
            prev, cur = cur, self._nnext[cur]
        self._nnext[nid] = cur
        if prev == _NIL:
            self._ehead[eid] = nid
        else:
            self._nnext[prev] = nid

    def _find_entry(self, h_canon: int, enc: bytes) -> int:
        eoff, eblob, n = self._eoff, self._eblob, len(self._eoff)
        for eid in self._keys.get(h_canon, 1 << 30):
            end = eoff[eid + 1] if eid + 1 < n else len(eblob)
            if eblob[eoff[eid] : end] == enc:
                return eid
        return _NIL

    def key_bans(self, key: str, cap: int = 4096) -> int:
        """Return how many live banned names hold this key (as any of their keys), counting up to cap."""
        if not key:
            return 0
        # 64-bit stable key hashes: a collision is too rare to be worth decoding each entry to rule out.
        n = 0
        elive = self._elive
        for eid in self._keys.get(stable_hash(key), 64):
            n += elive[eid]
            if n >= cap:
                break
        return n

    def remove_ban(self, ban_id: str) -> None:
        """Drop every name of a ban from search results."""
        with self._lock:
            for nid in self._bans.get(stable_hash(ban_id), cap=1 << 30):
                if self._alive[nid] and self._record(nid)[0] == ban_id:
                    self._alive[nid] = 0
                    self._elive[self._neid[nid]] -= 1
                    self._live -= 1

    def compact(self) -> None:
        """Release spare capacity after a bulk load (searching never needs it)."""
        with self._lock:
            self._keys.trim()
            self._bans.trim()
            self._typo.trim()

    def _record(self, nid: int) -> tuple[str, str]:
        start = self._noff[nid]
        end = self._noff[nid + 1] if nid + 1 < len(self._noff) else len(self._nblob)
        ban_id, name = self._nblob[start:end].decode().split(_REC, 1)
        return ban_id, name

    def _entry_keys(self, eid: int) -> NameKeys:
        start = self._eoff[eid]
        end = self._eoff[eid + 1] if eid + 1 < len(self._eoff) else len(self._eblob)
        return decode_keys(self._eblob[start:end].decode())

    def _bans_of(self, eid: int, limit: int) -> list[tuple[str, str]]:
        """Return the live (ban_id, name) records of up to limit distinct bans of an entry, by ban_id."""
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        nid = self._ehead[eid]
        while nid != _NIL and len(seen) < limit:
            if self._alive[nid]:
                rec = self._record(nid)
                if rec[0] not in seen:
                    seen.add(rec[0])
                    out.append(rec)
            nid = self._nnext[nid]
        return out

    def _query(self, name: str) -> _Query:
        keys = name_keys(name)
        cfg = self.config
        q = _Query(keys, [(cfg.score_canonical, "canonical", keys)], keys.canonical.isascii())
        if len(keys.canonical) > MAX_VARIANT_CHARS:
            return q
        for v in leet_variants(name, keys.canonical):
            q.variants.append((cfg.score_leet, "leet", keys_for_canonical(v)))
        if len(keys.canonical) <= MAX_SPLIT_CHARS:
            for v in split_variants(keys.canonical):
                q.variants.append((cfg.score_split, "split", keys_for_canonical(v)))
        for v in lookalike_variants(keys.canonical):
            q.variants.append((cfg.score_lookalike, "lookalike", keys_for_canonical(v)))
        for v in part_drop_variants(name):
            # "John A. Smith", "Tony Coco Xu": a middle initial or an extra given name put in.
            q.variants.append((cfg.score_affix, "part", keys_for_canonical(v)))
        # A banned handle's parts swapped ("flowercloud" for "cloud_flower"), and a banned name with a
        # part the searched one leaves out ("Die Leng" for "John Die Leng"): index-only keys.
        rot = rotation_key(keys.base)
        if rot:
            q.extra[rot] = (cfg.score_reorder, "reorder")
        same_parts = sorted_parts_key(name, keys)
        if same_parts:
            # The same parts in another order outrank a reordering that also changed how they are
            # written (峻冯 is 冯峻 before it is 俊丰): among a common sound's crowd it is the one to keep.
            q.extra[same_parts] = (cfg.score_reorder_same_parts, "reorder")
        for _, via, k in q.variants:
            if via in ("canonical", "part") and k.canonical:
                q.extra.setdefault(PART_MARK + k.canonical, (cfg.score_affix, "part"))
        return q

    def _candidates(self, q: _Query, two: bool = False) -> list[int]:
        """Return entry ids worth scoring; the work is bounded by the config, not by the index size.

        The first tier is the exact keys and every pinyin key one edit away; the second (two) is the
        keys two edits away, looked up only when the first found nothing worth review.
        """
        cfg = self.config
        found: dict[int, None] = {}
        if not two:
            lookup: set[str] = set()
            for _, _, nk in q.variants:
                lookup |= nk.distinct()
            for key in sorted(lookup):
                for eid in self._keys.get(stable_hash(key), cfg.exact_cap):
                    found[eid] = None
            for key, (score, via) in sorted(q.extra.items()):
                for eid in self._keys.get(stable_hash(key), cfg.exact_cap):
                    found[eid] = None
                    if eid not in q.hits or q.hits[eid][0] < score:
                        q.hits[eid] = (score, via, key)
        pinyins = dict.fromkeys(
            k.pinyin for _, _, k in q.variants if k.pinyin and len(k.pinyin) <= MAX_TYPO_CHARS
        )
        groups = self._typo.candidates(pinyins, cfg.typo_cap, two)
        ranked: list[tuple[int, int]] = []
        for gid in groups:
            g = self._group_raw(gid).decode()
            d = min(OSA.distance(p, g, score_cutoff=3) for p in pinyins)
            if d <= 2:
                ranked.append((d, gid))
        ranked.sort()
        for _, gid in ranked[: cfg.typo_groups]:
            for eid in self._group_entries(gid, cfg.typo_group_entries):
                found[eid] = None
        return list(found)

    def _score(self, q: _Query, cand: NameKeys) -> tuple[float, str, str, str]:
        """Score a candidate; return (score, how, banned key, query key) of the best reading."""
        cfg = self.config
        best = (0.0, "fuzzy", cand.pinyin, q.keys.pinyin)

        def offer(score: float, how: str, key: str, qkey: str) -> None:
            # Strictly greater: among equal scores the first, most specific explanation stays.
            nonlocal best
            if score > best[0]:
                best = (score, how, key, qkey)

        for base_score, via, k in q.variants:
            if k.canonical == cand.canonical:
                offer(base_score, via, cand.canonical, k.canonical)
                continue
            if k.base == cand.base:
                offer(
                    min(base_score, cfg.score_affix), "affix" if via == "canonical" else via, k.base, k.base
                )
            if k.pinyin == cand.pinyin:
                offer(
                    min(base_score, cfg.score_pinyin),
                    "pinyin" if via == "canonical" else via,
                    k.pinyin,
                    k.pinyin,
                )
            if k.reorder and k.reorder == cand.reorder:
                offer(
                    min(base_score, cfg.score_reorder),
                    "reorder" if via == "canonical" else via,
                    k.reorder,
                    k.reorder,
                )
            if best[0] >= cfg.score_reorder:
                continue
            a, b = k.pinyin, cand.pinyin
            if q.is_latin:
                # Typos are a Latin-keyboard disguise; two Han names a character apart are two people.
                s = q.typo.get((b, a))
                if s is None:
                    s = q.typo[(b, a)] = self._typo_score(b, a)
                if s:
                    offer(min(base_score, s), "typo", b, a)
                    continue
            offer(fuzz.ratio(a, b) * cfg.fuzzy_weight, "fuzzy", b, a)
        return best

    def _typo_score(self, banned: str, query: str) -> float:
        """Score query as a slip of banned: cheap slips high, up to the length's budget; else 0."""
        cfg = self.config
        budget = typo_budget(max(len(banned), len(query)), cfg.min_len_typo_1, cfg.min_len_typo_2)
        if not budget or banned == query:
            return 0.0
        # Each slip moves at most two letters (a look-alike pair): a cheap C bound skips the table.
        if OSA.distance(banned, query, score_cutoff=5) > 4:
            return 0.0
        cost = typo_cost(banned, query, budget)
        if cost is None:
            return 0.0
        s = cfg.score_typo_1 - (cfg.score_typo_1 - cfg.score_typo_2) * cost / budget
        if _syllable_swap(banned, query):
            s -= cfg.valid_pinyin_penalty
        return s

    def _collect(
        self,
        scored: list[tuple[float, bool, str, int, str, str, str]],
        per_ban: dict[str, NameMatch],
        limit: int,
        per_core: int,
        q_latin: bool,
    ) -> None:
        """Add the bans of the scored entries to per_ban, best first, at most per_core per matched core."""
        floor: float | None = None
        q_han = not q_latin
        taken: dict[str, int] = {}
        for m in per_ban.values():
            taken[m.base] = taken.get(m.base, 0) + 1
        for score, exact, via, eid, key, qkey, base in scored:
            # Entries come best first: once `limit` bans are in hand, only an entry scoring as well as
            # the worst of them can still change the answer (through the ban_id tie-break).
            if floor is not None and score < floor:
                break
            room = per_core - taken.get(base, 0)
            if room <= 0:
                continue
            for ban_id, matched in self._bans_of(eid, limit):
                prev = per_ban.get(ban_id)
                if prev is None:
                    if room <= 0:
                        break
                    room -= 1
                    taken[base] = taken.get(base, 0) + 1
                m = NameMatch(ban_id, matched, score, exact, via, key, qkey, base)
                # Among a ban's names, the best match; at a tie the one in the searched name's script
                # (焦慢 for 慢焦, not the ban's "jiao_man"): what it says needs no reading aloud.
                if prev is None or (m.score, m.exact, has_han(matched) == q_han) > (
                    prev.score,
                    prev.exact,
                    has_han(prev.matched) == q_han,
                ):
                    per_ban[ban_id] = m
            if len(per_ban) >= limit:
                floor = sorted((m.score for m in per_ban.values()), reverse=True)[limit - 1]

    def search(self, name: str, *, limit: int = 5, min_score: float = 0) -> list[NameMatch]:
        """Return the banned names this name most resembles, best first."""
        q = self._query(name)
        if not q.keys.canonical or limit <= 0:
            return []
        scored: list[tuple[float, bool, str, int, str, str, str]] = []
        seen: set[int] = set()
        top = 0.0
        for two in (False, True):
            # Two-slip candidates are many and rarely needed: only when nothing reached review.
            if two and (top >= self.config.review_threshold or not q.is_latin):
                break
            for eid in self._candidates(q, two):
                if eid in seen or not self._elive[eid]:
                    continue
                seen.add(eid)
                cand = self._entry_keys(eid)
                score, via, key, qkey = self._score(q, cand)
                hit = q.hits.get(eid)
                if hit and hit[0] > score:
                    # Commonness is counted on the names' cores, which both sides have.
                    score, via, key, qkey = hit[0], hit[1], cand.base, q.keys.base
                score = round(score, 1)
                top = max(top, score)
                if score >= min_score:
                    scored.append((score, q.keys.canonical == cand.canonical, via, eid, key, qkey, cand.base))
        scored.sort(key=lambda t: (-t[0], not t[1], t[3]))
        per_ban: dict[str, NameMatch] = {}
        # Bans sharing one matched core carry the same evidence (26 bans of "lucy wang" say what one
        # does): first a few of them per core, so that a rarer core at the same score (the "guang wang"
        # of "Lucy Guang Wang") is not crowded out of the answer; then, if room is left, the rest.
        first: set[str] = set()
        for per_core in (max(2, limit // 4), limit):
            self._collect(scored, per_ban, limit, per_core, q.is_latin)
            if len(per_ban) >= limit:
                break
            first = first or set(per_ban)
        # Best first; among equals the first round's (one of each core) before the rest, then by ban id.
        ranked = sorted(
            per_ban.values(), key=lambda m: (-m.score, bool(first) and m.ban_id not in first, m.ban_id)
        )
        return ranked[:limit]


def _syllable_swap(a: str, b: str) -> bool:
    """Tell whether query b is banned key a with one syllable swapped for another: another person.

    Both must be valid pinyin with the same number of syllables, differing in exactly one. In
    two-syllable names (surname and one given character) the namespace is so dense that any change
    landing on a valid syllable is taken as another person (yangqing / yanqing, xiaoming / xiaoning).
    In longer names only an unlikely slip counts: a letter replaced by one that is neither a keyboard
    neighbour, another vowel nor a look-alike, or a letter put in that doubles none (tanlinyu /
    tanlinyou); a dropped, doubled or near-key letter there is scored as the slip it looks like. An
    adjacent swap, or a slip that leaves no valid pinyin ("luojioxia" read luo-ji-o-xia), never counts.
    """
    if not (a.isascii() and b.isascii()) or abs(len(a) - len(b)) > 2:
        return False
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y]
    if len(a) == len(b) and len(diff) == 2 and diff[1] == diff[0] + 1:
        if a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
            return False
    sa, sb = segment_pinyin(a), segment_pinyin(b)
    if sa is None or sb is None or len(sa) != len(sb):
        return False
    if sum(x != y for x, y in zip(sa, sb, strict=True)) != 1:
        return False
    if len(sa) <= 2:
        return True
    if len(a) == len(b):
        return not (len(diff) == 1 and sub_cost(a[diff[0]], b[diff[0]]) < COST_OTHER)
    if len(b) == len(a) + 1:
        i = diff[0] if diff else len(a)
        return not ((i > 0 and b[i - 1] == b[i]) or (i + 1 < len(b) and b[i + 1] == b[i]))
    return False
