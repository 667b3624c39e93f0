"""Find keys a few typing slips apart in constant time, and price slips the way evaders make them."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from functools import cache

import xxhash
from rapidfuzz import process
from rapidfuzz.distance import OSA

# --- weighted edit distance -----------------------------------------------------------------------

# The slips evaders make on purpose are cheap; any other letter costs a full edit and a digit more.
COST_DOUBLE = 0.4  # a letter typed twice, or one of a doubled pair left out
COST_LOOKALIKE = 0.3  # rn for m, vv for w, cl for d, l for i (I), as one glyph group for another
COST_SWAP = 0.5  # two adjacent letters swapped
COST_NEIGHBOUR = 0.6  # a key next to the right one on a QWERTY keyboard
COST_VOWEL = 0.6  # one vowel for another
COST_DROP = 0.7  # a letter left out
COST_OTHER = 1.0  # any other letter put in or replaced
COST_DIGIT = 1.5  # a digit put in, left out or replaced: numbers are identity, not slips
# Evaders keep the first letter so the name still reads as the banned one; two people's names often
# differ right there (king / ting, emma / eva). Any change to the first letter costs this much more.
COST_FIRST = 0.5

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_VOWELS = frozenset("aeiou")
_LOOK_1 = frozenset({("l", "i"), ("i", "l"), ("1", "l"), ("1", "i"), ("0", "o"), ("o", "0")})
# Multi-glyph look-alikes, as (what the banned key has, what the query shows).
# "cI" folds to "ci", so both spellings of the d look-alike are listed.
_LOOK_N: tuple[tuple[str, str], ...] = (
    ("m", "rn"),
    ("w", "vv"),
    ("d", "cl"),
    ("d", "ci"),
    ("rn", "m"),
    ("vv", "w"),
)


def paired_values(bucket: array[int], key: int, cap: int) -> list[int]:
    """Return up to ``cap`` values stored after ``key`` in a bucket of (key, value) pairs laid out flat.

    A value slot can hold the same number as a key by chance: only even slots are keys.
    """
    out: list[int] = []
    i = -1
    while len(out) < cap:
        try:
            i = bucket.index(key, i + 1)
        except ValueError:
            break
        if not i & 1:
            out.append(bucket[i + 1])
    return out


def _neighbours() -> frozenset[tuple[str, str]]:
    pos = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    out: set[tuple[str, str]] = set()
    for a, (ra, ia) in pos.items():
        for b, (rb, ib) in pos.items():
            # Same row next door; rows are staggered right going down, so "d" touches "e", "r" above
            # and "x", "c" below.
            below = rb == ra + 1 and ib - ia in (-1, 0)
            above = rb == ra - 1 and ib - ia in (0, 1)
            if a != b and ((ra == rb and abs(ia - ib) == 1) or below or above):
                out.add((a, b))
    return frozenset(out)


_NEIGHBOURS = _neighbours()


def sub_cost(a: str, b: str) -> float:
    """Return the price of typing b where a belongs."""
    if a == b:
        return 0.0
    if (a, b) in _LOOK_1:
        return COST_LOOKALIKE
    if a.isdigit() or b.isdigit():
        return COST_DIGIT
    if a in _VOWELS and b in _VOWELS:
        return COST_VOWEL
    if (a, b) in _NEIGHBOURS:
        return COST_NEIGHBOUR
    return COST_OTHER


_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# sub_cost for every pair of ASCII letters and digits, looked up in the inner loop.
_SUB: dict[str, dict[str, float]] = {a: {b: sub_cost(a, b) for b in _ALPHABET} for a in _ALPHABET}


def typo_cost(key: str, query: str, limit: float) -> float | None:
    """Return the cheapest price of slips that turn key into query, or None when it exceeds limit."""
    n, m = len(key), len(query)
    extra = 0.0
    if n and m and key[0] != query[0] and not _same_start(key, query):
        extra = COST_FIRST
    limit -= extra
    if limit < 0 or abs(n - m) * COST_DOUBLE > limit:
        return None
    dels = [_del_cost(key, i) for i in range(n)]
    ins = [_ins_cost(query, j) for j in range(m)]
    looks = [(s, t) for s, t in _LOOK_N if s in key and t in query]
    # Weighted optimal-string-alignment table, a row at a time; keys are short (≤ 40 letters).
    prev2: list[float] = []
    prev = [0.0] * (m + 1)
    for j in range(1, m + 1):
        prev[j] = prev[j - 1] + ins[j - 1]
    prev_min = 0.0
    for i in range(1, n + 1):
        a = key[i - 1]
        subs = _SUB.get(a)
        d = dels[i - 1]
        cur = [prev[0] + d] + [0.0] * m
        row_min = cur[0]
        for j in range(1, m + 1):
            b = query[j - 1]
            best = (
                prev[j - 1] if a == b else prev[j - 1] + (subs.get(b, COST_OTHER) if subs else sub_cost(a, b))
            )
            v = prev[j] + d
            if v < best:
                best = v
            v = cur[j - 1] + ins[j - 1]
            if v < best:
                best = v
            if i > 1 and j > 1 and a != b and a == query[j - 2] and key[i - 2] == b:
                v = prev2[j - 2] + COST_SWAP
                if v < best:
                    best = v
            cur[j] = best
            if best < row_min:
                row_min = best
        if looks:
            row_min = min(row_min, _lookalikes(looks, key, query, i, prev, prev2, cur))
        # Swaps and two-letter look-alikes reach back two rows: give up after two rows over the limit.
        if row_min > limit and prev_min > limit:
            return None
        prev_min = row_min
        prev2, prev = prev, cur
    return prev[m] + extra if prev[m] <= limit else None


def _lookalikes(
    looks: list[tuple[str, str]],
    key: str,
    query: str,
    i: int,
    prev: list[float],
    prev2: list[float],
    cur: list[float],
) -> float:
    """Lower row i of typo_cost's table (``cur``) where a multi-glyph look-alike ends; return its minimum.

    A look-alike shows key[i-len(s):i] as query[j-len(t):j]; rows are short, and this runs once per row
    (not per cell), only for the pairs both strings contain.
    """
    m = len(query)
    for s, t in looks:
        ls, lt = len(s), len(t)
        if i < ls or key[i - ls : i] != s:
            continue
        back = prev if ls == 1 else prev2
        for j in range(lt, m + 1):
            if query[j - lt : j] == t and back[j - lt] + COST_LOOKALIKE < cur[j]:
                cur[j] = back[j - lt] + COST_LOOKALIKE
    return min(cur)


def _same_start(key: str, query: str) -> bool:
    """Tell whether the query starts like the key after all: swapped first two letters, or a look-alike."""
    if len(key) > 1 and len(query) > 1 and key[0] == query[1] and key[1] == query[0]:
        return True
    if (key[0], query[0]) in _LOOK_1:
        return True
    return any(key.startswith(s) and query.startswith(t) for s, t in _LOOK_N)


def _ins_cost(query: str, j: int) -> float:
    c = query[j]
    if c.isdigit():
        return COST_DIGIT
    if (j > 0 and query[j - 1] == c) or (j + 1 < len(query) and query[j + 1] == c):
        return COST_DOUBLE
    return COST_OTHER


def _del_cost(key: str, i: int) -> float:
    c = key[i]
    if c.isdigit():
        return COST_DIGIT
    if (i > 0 and key[i - 1] == c) or (i + 1 < len(key) and key[i + 1] == c):
        return COST_DOUBLE
    return COST_DROP


def typo_budget(length: int, min_len: int = 5, long_len: int = 12) -> float:
    """Return how much slip a key of this length may carry and still be the same name.

    One full edit from min_len letters; from 8, one edit plus a cheap slip's worth; from long_len,
    about two cheap slips plus a bit. Tuned on scripts/eval_names.py against its innocents.
    """
    if length < min_len:
        return 0.0
    if length < 8:
        return 1.0
    if length < long_len:
        return 1.2
    return 1.6


# --- query-side look-alike readings ---------------------------------------------------------------

# Glyph groups that render like one letter. They are read back only on the query side: folding them
# in canonical() would turn real names ("bernard", "clara") into others, and stored keys must not move.
LOOKALIKES: tuple[tuple[str, str], ...] = (("rn", "m"), ("vv", "w"), ("cl", "d"))


def lookalike_variants(canon: str) -> list[str]:
    """Return a Latin key with each look-alike group (rn, vv, cl) read as the letter it imitates."""
    if not any(a in canon for a, _ in LOOKALIKES):
        return []
    out: list[str] = []
    every = canon
    for a, b in LOOKALIKES:
        if a in canon:
            out.append(canon.replace(a, b))
            every = every.replace(a, b)
    out.append(every)
    return list(dict.fromkeys(v for v in out if v != canon))[:4]


# --- deletion-neighbourhood index and partition filter ---------------------------------------------


def stable_hash(s: str) -> int:
    """Return a 64-bit hash of s that is the same in every process (xxh3), signed like an int64."""
    # Python's own str hash is seeded per process: an index built with it could not be saved and
    # loaded elsewhere (the check index snapshot). xxh3 measured ~2x Python's hash, 2x faster than
    # an 8-byte BLAKE2b, on 1M short keys.
    return xxhash.xxh3_64_intdigest(s.encode("utf-8", "surrogatepass")) - (1 << 63)


PARTS = 3  # a long key is cut into this many parts: two slips leave one whole (_probe_plan needs 3)
MAX_SHIFT = 2  # two slips move a whole part at most this far


def deletions(key: str) -> set[str]:
    """Return the strings made by leaving one character out of key."""
    return {key[:i] + key[i + 1 :] for i in range(len(key))}


@cache
def parts(length: int) -> tuple[tuple[int, int], ...]:
    """Return the (start, length) of the PARTS near-equal parts a key of this length is cut into."""
    size, longer = divmod(length, PARTS)
    out: list[tuple[int, int]] = []
    start = 0
    for i in range(PARTS):
        # The last `longer` parts take the spare letters, as in PassJoin.
        n = size + (i >= PARTS - longer)
        out.append((start, n))
        start += n
    return tuple(out)


@cache
def _probe_plan(length: int, m: int) -> tuple[tuple[int, int, int, int], ...]:
    """Return (part, start, end, edge): where in an m-letter query a part of a key may show whole.

    Two slips (insertions, deletions, substitutions, adjacent swaps, none over another) leave a part
    whole unless a swap straddles a part boundary. With l slips before a whole part i and r after,
    l + r <= 2 and the part moves by a shift with |shift| <= l and |d - shift| <= r (d = m - length).
    Some whole part has l <= i and r <= 2 - i (PassJoin's multi-match-aware bound; with three parts:
    part 0 when whole, else part 2 when whole, else part 1 with one slip each side), so part i is
    looked for only at those shifts (edge 0).

    When no part is whole, a swap straddles a boundary and touches, alone, part 0's last letter
    (shift 0) or part 2's first (shift d): those parts are looked for with the letter swapped back
    (edge 1: last letter from the one after; edge -1: first letter from the one before).
    """
    d = m - length
    out: list[tuple[int, int, int, int]] = []
    for i, (start, n) in enumerate(parts(length)):
        for shift in range(-i, i + 1):
            if abs(d - shift) <= MAX_SHIFT - i and 0 <= start + shift and start + shift + n <= m:
                out.append((i, start + shift, start + shift + n, 0))
    (_, n0), _, (start2, n2) = parts(length)
    if n0 < m:
        out.append((0, 0, n0, 1))
    if start2 + d > 0 and start2 + d + n2 <= m:
        out.append((PARTS - 1, start2 + d, start2 + d + n2, -1))
    return tuple(out)


class DeletionIndex:
    """Find the groups (distinct keys) within one slip of a query, and within two of a long one.

    Every key and each key with one letter left out maps to its group: looking a query and its own
    one-letter deletions up finds every indexed key within one insertion, deletion, substitution or
    adjacent swap, and many keys two edits away, with len(query) + 1 lookups whatever the index size.
    Postings are 32-bit fingerprint/group pairs in 2^16 hash-addressed buckets of flat arrays: 8 bytes
    each, appended in O(1), scanned in C.

    Keys of two_len letters and more are also cut into three parts (PassJoin's partition filter):
    two slips leave one part whole, so a key two slips from a query has a part that shows in the query
    a little way from where it sits in the key. Each part maps (key length, part number, text) to the
    groups and their keys; the groups a query's probes reach are checked for distance in C. Three
    postings a long key, where its two-letter deletions took about sixty.
    """

    BITS = 16

    def __init__(
        self, min_len: int = 5, key_min_len: int = 4, two_len: int = 11, longer_first: bool = True
    ) -> None:
        self.min_len = min_len
        self.key_min_len = key_min_len
        # A key needs a letter in each part.
        self.two_len = max(two_len, PARTS)
        self.longer_first = longer_first
        self._mask = (1 << self.BITS) - 1
        self._buckets: list[array[int] | None] = [None] * (1 << self.BITS)
        # (key length, part number, part text) -> (groups, their keys); the keys are checked in C.
        self._parts: dict[tuple[int, int, str], tuple[array[int], list[str]]] = {}

    def add(self, key: str, gid: int) -> None:
        """Index a distinct key (of any length) under its group id, with its deletions when long enough."""
        n = len(key)
        if n >= self.min_len:
            strings = deletions(key)
            strings.add(key)
        else:
            strings = {key}
        # The hot loop of a bulk load: locals only, one extend per posting.
        buckets, mask, bits = self._buckets, self._mask, self.BITS
        for s in strings:
            h = stable_hash(s)
            b = buckets[h & mask]
            if b is None:
                buckets[h & mask] = array("I", ((h >> bits) & 0xFFFFFFFF, gid))
            else:
                b.extend(((h >> bits) & 0xFFFFFFFF, gid))
        if n >= self.two_len:
            table = self._parts
            for i, (start, size) in enumerate(parts(n)):
                slot = table.get((n, i, key[start : start + size]))
                if slot is None:
                    table[(n, i, key[start : start + size])] = (array("I", (gid,)), [key])
                else:
                    # Group before key: a search reading the pair unlocked never finds a key without one.
                    slot[0].append(gid)
                    slot[1].append(key)

    def get(self, s: str, cap: int) -> list[int]:
        """Return up to cap group ids posted under the string s (a key or a deletion)."""
        h = stable_hash(s)
        b = self._buckets[h & self._mask]
        return [] if b is None else paired_values(b, (h >> self.BITS) & 0xFFFFFFFF, cap)

    def lookups(self, query: str, two: bool = False) -> Iterator[str]:
        """Yield the strings to look a query up by: itself and its deletions, or (two) its double ones.

        The first tier meets every key within one edit (keys of min_len and more). The second meets
        the keys shorter than two_len that a query two_len - 2 to two_len + 1 letters long has two
        slips over: two letters put in, or one put in and one replaced. Longer queries need none,
        the partition filter (near) reaching every key two slips from them.
        """
        if not two:
            yield query
            if len(query) >= self.key_min_len:
                yield from deletions(query)
            return
        m = len(query)
        if self.two_len - MAX_SHIFT <= m <= self.two_len + 1:
            yield from {
                query[:i] + query[i + 1 : j] + query[j + 1 :] for i in range(m) for j in range(i + 1, m)
            }

    def near(self, query: str, longer: bool | None = None, limit: int = 2) -> dict[int, int]:
        """Return the groups of keys (two_len letters or more) within limit OSA edits of query.

        Finds every such key within two edits (the partition filter's promise): of any length, or only
        longer than the query (longer=True), or no longer (longer=False). limit only narrows.
        """
        found: dict[int, int] = {}
        m = len(query)
        lo = m + 1 if longer else m - MAX_SHIFT
        hi = m if longer is False else m + MAX_SHIFT
        table = self._parts
        seen: set[tuple[int, int, str]] = set()
        for length in range(max(self.two_len, lo), hi + 1):
            for i, a, b, edge in _probe_plan(length, m):
                if edge == 0:
                    text = query[a:b]
                elif edge > 0:
                    # The last letter was swapped with the one after it.
                    if query[b - 1] == query[b]:
                        continue
                    text = query[a : b - 1] + query[b]
                else:
                    # The first letter was swapped with the one before it.
                    if query[a - 1] == query[a]:
                        continue
                    text = query[a - 1] + query[a + 1 : b]
                probe = (length, i, text)
                if probe in seen:
                    continue
                seen.add(probe)
                slot = table.get(probe)
                if slot is None:
                    continue
                gids, keys = slot
                for _, dist, j in process.extract(
                    query, keys, scorer=OSA.distance, score_cutoff=limit, limit=None
                ):
                    gid = gids[j]
                    if dist < found.get(gid, limit + 1):
                        found[gid] = dist
        return found

    def candidates(self, queries: Iterable[str], cap: int, two: bool = False) -> dict[int, None]:
        """Return the groups a tier of lookups reaches from any query, in the order found.

        Each tier takes up to cap groups from each of its lookups, and the long keys within two edits
        the partition filter finds (already checked for distance): in the first tier, those longer than
        the query (when longer_first); in the second (two), the rest. The first tier reaches every key
        within one edit; both together, every key of two_len letters or more within two.
        """
        found: dict[int, None] = {}
        seen: set[str] = set()
        for q in queries:
            for s in self.lookups(q, two):
                if s in seen:
                    continue
                seen.add(s)
                for gid in self.get(s, cap):
                    found[gid] = None
            # The first tier met keys longer than the query through their two-letter deletions when
            # those were indexed: finding them there keeps the first tier's answers as they were.
            if self.longer_first:
                found.update(dict.fromkeys(self.near(q, longer=not two)))
            elif two:
                found.update(dict.fromkeys(self.near(q)))
        return found

    def __getstate__(self) -> dict[str, object]:
        # The buckets as one flat array (see index._pack_buckets: 65,536 small arrays load slowly).
        from registry.matching.index import _pack_buckets

        state = {k: v for k, v in self.__dict__.items() if k != "_buckets"}
        return _pack_buckets(self._buckets, "I", state)

    def __setstate__(self, state: dict[str, object]) -> None:
        from registry.matching.index import _unpack_buckets

        self._buckets = _unpack_buckets(state)
        self.__dict__.update({k: v for k, v in state.items() if k not in ("_flat", "_lengths")})

    def trim(self) -> None:
        """Drop the arrays' spare capacity after a bulk load."""
        for i, b in enumerate(self._buckets):
            if b is not None:
                self._buckets[i] = array("I", b)
        for k, (gids, keys) in self._parts.items():
            self._parts[k] = (array("I", gids), list(keys))
