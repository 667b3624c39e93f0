"""Weigh a signup check's evidence per ban and decide: pure logic, no Flask, no database.

The service gathers facts (a name matched ban B through these tricks, its key is held by n accounts in
good standing and m bans; an identifier equals one of ban C's) and hands them here. Each fact becomes a
weight in bits, a log-odds in the spirit of Fellegi-Sunter record linkage: agreeing on a value that one
person in a million holds is worth far more than agreeing on one that thousands hold (an IDF).

    name bits = min(rarity, information) + sum(trick bits) + closeness bits
      rarity      = unique_name_bits - bits_per_doubling * log2(max(own + min(other bans, own), 1/64))
      own         = max(accounts holding the searched name's own keys, expected by ClassModel)
      information = bits_per_han * Han characters + bits_per_letter * Latin letters
      trick bits  = TRICK_BITS (positive for disguises innocents do not produce, negative for natural ones);
                    a homophone also costs log2 of its syllables' fan-out beyond the table's eight
      closeness   = -(95 - matcher score) * closeness_bits_per_point, for typos and fuzzy matches only
    ban bits  = best field + second_field_share * other field (username and display name at one ban,
                when independent: a handle spelling the display name is the same observation, one field)
    ban score = 100 * ban bits / full_bits, clamped to 0..100 (monotone in every input)

DECISION_TABLE then maps the strongest evidence to a decision. A new kind of evidence (an avatar
near-duplicate, ...) is one more Evidence subclass with its bits and one more row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Tricks and their weight in bits (how much less a match through them says than an equal name).
TRICK_BITS: dict[str, float] = {
    "case": 0.0,
    "folded": 0.0,
    "separator": 0.0,
    # real_, the, iam, xx, _official, 我是, 官方: a few people put one on their own name, a returner puts
    # one on the banned name about as often as the bare name comes back: as strong as the bare name.
    "affix": 0.0,
    # Disguises innocent people do not produce when typing their own name (none of 1,200 innocent
    # signups of the population benchmark shows one; a returner does it to defeat exact matching):
    # the pattern itself is evidence for the match, log2(P(pattern | evader) / P(pattern | innocent)),
    # taken conservatively as a few bits rather than the unbounded ratio the sample would suggest.
    "fullwidth": 4.0,
    "invisible": 4.0,
    "confusable": 4.0,
    "tone_marks": 4.0,
    "han_separator": 4.0,
    "decorated": 4.0,
    "odd_case": 4.0,
    "traditional": 3.0,
    "split_char": 3.0,
    "leet": 3.0,
    # Tricks innocents produce naturally (another person's name that sounds, reads or is typed alike):
    # log2 of P(this exact form | the banned person used the trick), the share of the trick's outputs
    # the searched form is: a homophone swaps one of ~8 same-sounding characters (-3), a reordering
    # is one of a few orders (-3 for a Han name's surname moved), a typo one of dozens of slips (-5).
    "digits_changed": -1.5,
    "extra_part": -0.5,
    # A middle initial put in or left out ("Xiong C. Lei"): few people write one, a returner does to
    # get past an exact match, so the form says a little more than the bare name (the part -0.5, +1.5).
    "initial": 1.5,
    "pinyin": -1.5,
    "reordered": -3.0,
    "homophone": -3.0,
    "typo": -5.0,
    "fuzzy": -6.0,
}
# Tricks that leave the name equal after folding: strong enough to deny on a username.
FOLD_TRICKS = frozenset(
    {
        "case",
        "folded",
        "fullwidth",
        "invisible",
        "traditional",
        "separator",
        "confusable",
        "odd_case",
        "tone_marks",
        "han_separator",
        "decorated",
        "leet",
    }
)
NEAR_TRICKS = frozenset({"typo", "fuzzy"})


@dataclass(frozen=True)
class Weights:
    """Thresholds and weights of the model; the service fills them from settings."""

    review_score: float = 60.0
    deny_score: float = 85.0
    # A name held by at least this many accounts in good standing is common: alone, it allows.
    common_accounts: int = 20
    # Bits of a name one account is expected to write: log2 of P(name | the banned person) over
    # P(name | someone else) = 1 / share, less the log2 of how many bans a chance match could hit.
    unique_name_bits: float = 12.0
    # Bits each doubling of the expected holders takes off (1: a likelihood ratio, not a heuristic).
    bits_per_doubling: float = 1.0
    # Below this many expected holders a name is no rarer to the model (its estimates end there).
    min_expected: float = 1.0 / 64
    full_bits: float = 18.0
    bits_per_han: float = 8.0
    bits_per_letter: float = 3.5
    closeness_bits_per_point: float = 0.25
    # A typo or fuzzy match this close (matcher score) loses nothing beyond its trick's bits.
    near_full_score: float = 95.0
    second_field_share: float = 0.5
    ip_bits: float = 4.0
    # A near-duplicate avatar: alone it opens a review (people reuse stock pictures); with a name
    # pointing at the same ban, the two together can reach the deny score.
    avatar_bits: float = 12.0
    max_bans: int = 3


@dataclass(frozen=True)
class Evidence:
    """One fact about one ban; subclasses say how many bits it is worth."""

    ban_id: str
    field: str

    @property
    def kind(self) -> str:
        """What sort of fact this is (a subclass names it, as a class attribute or a property)."""
        return "evidence"

    def bits(self, w: Weights) -> float:
        """Return this fact's weight in bits."""
        raise NotImplementedError


@dataclass(frozen=True)
class IdentifierEvidence(Evidence):
    """An email, phone, ID number or device equal to one of the ban's (decisive), or an IP (weak)."""

    @property
    def kind(self) -> str:
        return "ip" if self.field == "ip" else "identifier"

    def bits(self, w: Weights) -> float:
        """Return ip_bits for an address, full weight for the rest."""
        return w.ip_bits if self.field == "ip" else w.full_bits


@dataclass(frozen=True)
class AvatarEvidence(Evidence):
    """An avatar within ``distance`` bits (of 256, PDQ) of one of the ban's avatars."""

    distance: int = 0
    max_distance: int = 31

    kind = "avatar"

    def bits(self, w: Weights) -> float:
        """Return avatar_bits at distance 0, falling linearly to half of it at the match threshold."""
        reach = max(1, self.max_distance)
        return w.avatar_bits * (1.0 - 0.5 * min(self.distance, reach) / reach)


@dataclass(frozen=True)
class NameEvidence(Evidence):
    """A username or display name that matched a banned name through some tricks."""

    matched: str
    closeness: float
    tricks: tuple[str, ...] = ()
    holders: int = 0
    bans: int = 1
    han: int = 0
    letters: int = 0
    # Expected holders from name-frequency priors (young platforms); the larger of it and holders counts.
    prior_holders: float = 0.0
    # How many accounts would write the searched name itself: observed (its folded key and its core)
    # and expected from the smoothed character / syllable / token model (ClassModel). -1: not known.
    own_holders: int = -1
    expected: float = 0.0
    # The check's other name field spells the same name (a handle built from the display name): the two
    # fields are one observation, so agreeing at one ban is no corroboration (see mark_echoes).
    echo: bool = False
    # Expected accounts whose name sounds like the searched one (toneless syllables, either order for
    # a reordering): who else writes this match when it was made on sound alone (see own).
    sound: float = 0.0
    # log2 of the spellings a homophone swap chose among (commonness.homophone_bits); the trick's
    # table weight stands for the first eight of them, the rest costs one bit per doubling.
    spellings_bits: float = 0.0

    kind = "name"

    @property
    def commonness(self) -> float:
        """Return how many other people hold the matched key: accounts (observed, or the prior) and bans."""
        held = self.own
        # Other bans holding the key are a sample of the same population, but only as far as people in
        # good standing hold it too: a name a dozen bans share and nobody else holds is a ring's name.
        return held + min(float(max(0, self.bans - 1)), held)

    @property
    def own(self) -> float:
        """Return how many people would write the searched name (the class's holders if not known)."""
        # The likelihood ratio of a match is P(this name | the banned person, disguised by the tricks)
        # over P(this name | someone else): the denominator is the searched name's own share, not its
        # class's. A homophone spelled as nobody spells a name (李尾 for 李伟) says much; the dominant
        # spelling of a common sound says little, however common the sound.
        if self.own_holders < 0:
            own = max(float(self.holders), self.prior_holders, self.expected)
        else:
            own = max(float(self.own_holders), self.prior_holders, self.expected)
        if self.by_sound:
            # A Han name matched to a pinyin spelling (or the other way round) says only how it sounds:
            # everyone whose name sounds so would write this match, whatever their characters.
            own = max(own, float(self.holders), self.sound)
        return own

    @property
    def by_sound(self) -> bool:
        """Tell whether the match crosses between Han characters and pinyin (made on sound alone)."""
        return "pinyin" in self.tricks

    @property
    def strong(self) -> bool:
        """Tell whether the name is equal to the banned one after folding."""
        return all(t in FOLD_TRICKS for t in self.tricks)

    def bits(self, w: Weights) -> float:
        """Return the weight: rarity capped by information, less the tricks and the distance."""
        # -log2 of the expected holders: a name one account in 64 would be expected to hold is worth
        # six bits more than one that one account holds (floored: the model is not that sure).
        rarity = w.unique_name_bits - w.bits_per_doubling * math.log2(max(self.commonness, w.min_expected))
        info = w.bits_per_han * self.han + w.bits_per_letter * self.letters
        b = min(rarity, info) + sum(TRICK_BITS.get(t, -6.0) for t in self.tricks)
        if "homophone" in self.tricks:
            b -= max(0.0, self.spellings_bits + TRICK_BITS["homophone"])
        if any(t in NEAR_TRICKS for t in self.tricks):
            b -= max(0.0, w.near_full_score - self.closeness) * w.closeness_bits_per_point
        return b


def score_of(bits: float, w: Weights) -> float:
    """Map bits to the 0-100 score reasons show."""
    return round(max(0.0, min(100.0, 100.0 * bits / w.full_bits)), 1)


@dataclass
class BanVerdict:
    """Everything known about one ban, its score and the decision it implies."""

    ban_id: str
    evidence: list[Evidence] = field(default_factory=list)
    score: float = 0.0
    decision: str = "allow"
    row: str = ""

    def names(self, w: Weights) -> list[NameEvidence]:
        """Return the best name evidence per field (one reason per field and ban), strongest first."""
        best: dict[str, NameEvidence] = {}
        for e in self.evidence:
            if isinstance(e, NameEvidence) and (e.field not in best or e.bits(w) > best[e.field].bits(w)):
                best[e.field] = e
        return sorted(best.values(), key=lambda e: -e.bits(w))


def ban_bits(evidence: Sequence[Evidence], w: Weights) -> float:
    """Combine one ban's evidence: the best fact per field, the best field plus a share of the rest.

    Independent fields corroborate; a username and a display name spelling one name (echo) are one
    observation and count as one field, the better of the two.
    """
    per_field: dict[str, float] = {}
    ip = 0.0
    for e in evidence:
        b = e.bits(w)
        if e.kind == "ip":
            ip = max(ip, b)
            continue
        slot = "name" if isinstance(e, NameEvidence) and e.echo else e.field
        per_field[slot] = max(per_field.get(slot, -math.inf), b)
    if "name" in per_field:
        for f in ("username", "display_name"):
            if f in per_field:
                per_field["name"] = max(per_field["name"], per_field.pop(f))
    ranked = sorted((max(b, 0.0) for b in per_field.values()), reverse=True)
    total = ranked[0] if ranked else 0.0
    total += w.second_field_share * sum(ranked[1:])
    return total + ip


Predicate = Callable[[BanVerdict, Weights], bool]


def _has(kind: str) -> Predicate:
    return lambda v, w: any(e.kind == kind for e in v.evidence)


def _strong_username(v: BanVerdict, w: Weights) -> bool:
    return (
        v.score >= w.deny_score
        and not _common_name(v, w)
        and any(
            isinstance(e, NameEvidence)
            and e.field == "username"
            and e.strong
            and score_of(e.bits(w), w) >= w.deny_score
            for e in v.evidence
        )
    )


def _avatar_and_name(v: BanVerdict, w: Weights) -> bool:
    return (
        v.score >= w.deny_score
        and _has("avatar")(v, w)
        and any(isinstance(e, NameEvidence) for e in v.evidence)
        and not _common_name(v, w)
    )


def _name_evidence(v: BanVerdict, w: Weights) -> bool:
    return v.score >= w.review_score and any(isinstance(e, NameEvidence) for e in v.evidence)


def _common_name(v: BanVerdict, w: Weights) -> bool:
    # Every name pointing at this ban is widely held: on names alone it cannot be told from them.
    names = [e for e in v.evidence if isinstance(e, NameEvidence)]
    return bool(names) and all(e.own >= w.common_accounts for e in names)


# The one table from evidence to decision, first row that applies wins (a test reads it).
# (row name, predicate over the ban's verdict, decision, reason code shown for name evidence)
DECISION_TABLE: tuple[tuple[str, Predicate, str, str], ...] = (
    ("identifier", _has("identifier"), "deny", "banned_identifier"),
    ("name_equal_username", _strong_username, "deny", "similar_to_banned_name"),
    ("avatar_and_name", _avatar_and_name, "deny", "similar_to_banned_avatar"),
    ("ip", _has("ip"), "review", "banned_identifier"),
    ("avatar", _has("avatar"), "review", "similar_to_banned_avatar"),
    ("common_name", _common_name, "allow", "common_name"),
    ("name", _name_evidence, "review", "similar_to_banned_name"),
    ("weak", lambda v, w: True, "allow", ""),
)
SEVERITY = {"allow": 0, "review": 1, "deny": 2}


def judge(ban_id: str, evidence: Sequence[Evidence], w: Weights) -> BanVerdict:
    """Score one ban's evidence and find its row of the decision table."""
    v = BanVerdict(ban_id, list(evidence))
    v.score = score_of(ban_bits(evidence, w), w)
    for row, applies, decision, _ in DECISION_TABLE:
        if applies(v, w):
            v.decision, v.row = decision, row
            break
    return v


@dataclass
class Outcome:
    """The decision over all bans and the reasons to show."""

    decision: str
    verdicts: list[BanVerdict]
    reasons: list[dict[str, Any]]


def decide(evidence: Iterable[Evidence], w: Weights) -> Outcome:
    """Judge every ban the evidence names; decide by the most severe; keep the strongest few bans' reasons."""
    by_ban: dict[str, list[Evidence]] = {}
    for e in evidence:
        by_ban.setdefault(e.ban_id, []).append(e)
    verdicts = [judge(b, ev, w) for b, ev in by_ban.items()]
    verdicts.sort(key=lambda v: (-SEVERITY[v.decision], -v.score, v.ban_id))
    decision = verdicts[0].decision if verdicts else "allow"
    reasons: list[dict[str, Any]] = []
    shown = 0
    common_shown = False
    for v in verdicts:
        for e in v.evidence:
            # Identifier facts are never capped away: each is decisive or opens a review by itself.
            if e.kind in ("identifier", "ip"):
                reasons.append({"code": "banned_identifier", "field": e.field, "ban_id": v.ban_id})
            elif isinstance(e, AvatarEvidence):
                reasons.append(
                    {
                        "code": "similar_to_banned_avatar",
                        "field": e.field,
                        "ban_id": v.ban_id,
                        "distance": e.distance,
                        "score": v.score,
                    }
                )
        if v.row == "weak":
            continue
        if v.row == "common_name":
            # Informational, once per check: the name is shared by many people in good standing.
            if not common_shown:
                common_shown = True
                e = max((n for n in v.names(w) if n.own >= w.common_accounts), key=lambda n: n.own)
                reasons.append(
                    {"code": "common_name", "field": e.field, "ban_id": v.ban_id, "accounts": round(e.own)}
                )
            continue
        if shown >= w.max_bans:
            continue
        shown += 1
        for n in v.names(w):
            reasons.append(
                {
                    "code": "similar_to_banned_name",
                    "field": n.field,
                    "ban_id": v.ban_id,
                    "score": v.score,
                    "matched": n.matched,
                    "tricks": list(n.tricks),
                    # The holders the fact was weighed with: of the searched name itself (observed, or
                    # expected by the smoothed model when that is larger).
                    "commonness": {"accounts": round(n.own), "bans": n.bans},
                }
            )
    return Outcome(decision, verdicts, reasons)


# --- turning name matches into evidence (pure: the counts come in as functions) ----------------------


def name_facts(
    field_name: str,
    name: str,
    matches: Iterable[Any],
    accounts_of: Callable[[str], int],
    bans_of: Callable[[str], int],
    prior_population: int = 0,
) -> list[NameEvidence]:
    """Turn the matcher's NameMatch results for one field into NameEvidence (best per ban)."""
    from registry.matching.commonness import ClassModel, han_prior_share, homophone_bits, tricks_of
    from registry.matching.fold import is_han
    from registry.matching.keys import name_keys, name_parts

    matches = list(matches)
    if not matches:
        return []
    model = ClassModel(accounts_of)
    own_keys = name_keys(name)
    own_holders = (
        max(accounts_of(own_keys.canonical), accounts_of(own_keys.base)) if own_keys.canonical else 0
    )
    own_expected = own_name_expected(model, name, own_keys.base)
    own_sound: dict[bool, float] = {}

    out: dict[str, NameEvidence] = {}
    # Many matches share a key (one name, many bans): count each key once per check.
    accounts: dict[str, int] = {}
    banned: dict[str, int] = {}
    tricks_memo: dict[tuple[str, str], tuple[str, ...]] = {}
    for m in matches:
        if m.ban_id in out:
            continue
        key = m.key or m.matched
        base = m.base or key
        # Commonness is the matched key's, the searched name's at that level, and the banned name's
        # core (affixes, digits and separators off): "lucy_snow_888" is as common as "lucysnow".
        for k in (key, m.query_key, base):
            if k and k not in accounts:
                accounts[k] = accounts_of(k)
        for k in (key, base):
            if k not in banned:
                banned[k] = bans_of(k)
        holders = max(accounts[key], accounts.get(m.query_key, 0), accounts[base])
        han = sum(1 for c in base if is_han(c))
        letters = sum(1 for c in base if c.isascii() and c.isalpha())
        prior = han_prior_share(base) * prior_population if prior_population and han else 0.0
        # Bans sharing a banned spelling (10 bans of one "zhang.wei") take one reading of it.
        tricks = tricks_memo.get((m.matched, m.via))
        if tricks is None:
            tricks = tricks_memo[(m.matched, m.via)] = tuple(tricks_of(name, m.matched, m.via))
        held = own_holders
        if "extra_part" in tricks and len(name_parts(name)) > len(name_parts(m.matched)):
            # A part put in ("Coco Wang Xinzhen" for a banned "Coco Wang"): the rest is the banned name,
            # as common as that name is, however rare the whole searched name.
            held = max(held, holders)
        any_order = "reordered" in tricks
        if "pinyin" in tricks and any_order not in own_sound:
            own_sound[any_order] = float(model.sound_of(name, any_order=any_order))
        out[m.ban_id] = NameEvidence(
            ban_id=m.ban_id,
            field=field_name,
            matched=m.matched,
            closeness=float(m.score),
            tricks=tricks,
            holders=holders,
            bans=max(1, banned[key], banned[base]),
            han=han,
            letters=letters,
            prior_holders=prior,
            own_holders=held,
            expected=own_expected,
            sound=own_sound.get(any_order, 0.0) if "pinyin" in tricks else 0.0,
            spellings_bits=homophone_bits(name, m.matched) if "homophone" in tricks else 0.0,
        )
    return list(out.values())


def mark_echoes(facts: Iterable[Evidence], names: Any) -> list[Evidence]:
    """Mark the name facts of a check whose username and display name spell one name (pure).

    ``names`` maps field to the searched name (the check body). A handle built from one's own display
    name ("mayuwei6656" / 马宇玮) repeats it: the two fields at one ban are then one observation.
    """
    from dataclasses import replace

    from registry.matching.commonness import same_name

    facts = list(facts)
    fields = {e.field for e in facts if isinstance(e, NameEvidence)}
    if len(fields) < 2 or not same_name(names.get("username"), names.get("display_name")):
        return facts
    return [replace(e, echo=True) if isinstance(e, NameEvidence) else e for e in facts]


def own_name_expected(model: Any, query: str, base: str) -> float:
    """Return the expected accounts writing this name (its core for a handle) by the smoothed model."""
    if base and base.isascii():
        return float(model.handle(base))
    return float(model.han(query))
