"""The evidence model (registry/check/evidence.py), tested directly: pure logic, no app, no database."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from registry.check import evidence as ev
from registry.check.evidence import (
    DECISION_TABLE,
    SEVERITY,
    TRICK_BITS,
    IdentifierEvidence,
    NameEvidence,
    Weights,
    decide,
    judge,
)

W = Weights()
TRICKS = sorted(TRICK_BITS)


def name(
    field: str = "username",
    ban: str = "b1",
    tricks: tuple[str, ...] = (),
    holders: int = 0,
    bans: int = 1,
    han: int = 0,
    letters: int = 10,
    closeness: float = 100.0,
) -> NameEvidence:
    return NameEvidence(ban, field, "matched", closeness, tricks, holders, bans, han, letters)


names = st.builds(
    name,
    field=st.sampled_from(("username", "display_name")),
    ban=st.sampled_from(("b1", "b2", "b3", "b4", "b5")),
    tricks=st.lists(st.sampled_from(TRICKS), max_size=3, unique=True).map(tuple),
    holders=st.integers(0, 10_000),
    bans=st.integers(1, 50),
    han=st.integers(0, 4),
    letters=st.integers(0, 20),
    closeness=st.floats(85, 100),
)


def test_the_decision_table_is_data_with_known_decisions():
    rows = [row for row, _, _, _ in DECISION_TABLE]
    assert len(rows) == len(set(rows))
    assert {d for _, _, d, _ in DECISION_TABLE} <= set(SEVERITY)
    assert rows[0] == "identifier" and rows[-1] == "weak"


def test_an_identifier_is_decisive_and_an_ip_only_reviews():
    assert judge("b1", [IdentifierEvidence("b1", "phone")], W).decision == "deny"
    assert judge("b1", [IdentifierEvidence("b1", "ip")], W).decision == "review"
    common = name(holders=5000)
    assert judge("b1", [common, IdentifierEvidence("b1", "device_id")], W).decision == "deny"


def test_a_rare_name_equal_after_folding_denies_on_the_username_only():
    assert judge("b1", [name(tricks=("traditional",))], W).decision == "deny"
    assert judge("b1", [name(field="display_name")], W).decision == "review"
    assert judge("b1", [name(tricks=("typo",), closeness=88)], W).decision == "review"


def test_a_common_name_alone_allows_with_an_informational_reason():
    out = decide([name(field="display_name", holders=300, han=2, letters=0)], W)
    assert out.decision == "allow"
    assert out.reasons == [{"code": "common_name", "field": "display_name", "ban_id": "b1", "accounts": 300}]


def test_a_homophone_of_a_two_character_name_is_weaker_than_the_name():
    exact = judge("b1", [name(field="display_name", han=2, letters=0, holders=3)], W)
    homophone = judge(
        "b1", [name(field="display_name", han=2, letters=0, holders=3, tricks=("homophone",))], W
    )
    assert homophone.score < exact.score


def test_username_and_display_name_at_one_ban_are_stronger_than_either():
    u = name(field="username", tricks=("pinyin",), holders=8, letters=8)
    d = name(field="display_name", tricks=("homophone",), holders=8, han=2, letters=0)
    both = judge("b1", [u, d], W).score
    assert both > judge("b1", [u], W).score and both > judge("b1", [d], W).score


@given(st.lists(names, max_size=12))
def test_reasons_name_each_field_and_ban_once_and_at_most_max_bans(facts):
    out = decide(facts, W)
    keys = [(r["field"], r["ban_id"]) for r in out.reasons if r["code"] == "similar_to_banned_name"]
    assert len(keys) == len(set(keys))
    assert len({b for _, b in keys}) <= W.max_bans
    for r in out.reasons:
        if r["code"] == "similar_to_banned_name":
            assert 0 <= r["score"] <= 100 and isinstance(r["tricks"], list) and "accounts" in r["commonness"]
    assert out.decision == max((v.decision for v in out.verdicts), key=SEVERITY.__getitem__, default="allow")


@given(names, st.integers(1, 1000))
def test_more_holders_never_raise_the_score(fact, more):
    fewer = judge(fact.ban_id, [fact], W).score
    common = NameEvidence(**{**fact.__dict__, "holders": fact.holders + more})
    assert judge(fact.ban_id, [common], W).score <= fewer


NATURAL = sorted(t for t, b in ev.TRICK_BITS.items() if b <= 0)
EVASIVE = sorted(t for t, b in ev.TRICK_BITS.items() if b > 0)


@given(names, st.sampled_from(NATURAL))
def test_one_more_natural_trick_never_raises_the_score(fact, trick):
    before = judge(fact.ban_id, [fact], W).score
    tricks = tuple(dict.fromkeys((*fact.tricks, trick)))
    after = judge(fact.ban_id, [NameEvidence(**{**fact.__dict__, "tricks": tricks})], W).score
    assert after <= before


@given(names, st.sampled_from(EVASIVE))
def test_an_evasion_pattern_never_lowers_the_score(fact, trick):
    # Innocents do not write their own name in full-width, split or invisible characters: evidence for.
    before = judge(fact.ban_id, [fact], W).score
    tricks = tuple(dict.fromkeys((*fact.tricks, trick)))
    after = judge(fact.ban_id, [NameEvidence(**{**fact.__dict__, "tricks": tricks})], W).score
    assert after >= before


@given(names, st.floats(0, 1000))
def test_a_larger_expected_class_never_raises_the_score(fact, expected):
    small = judge(fact.ban_id, [fact], W).score
    large = NameEvidence(**{**fact.__dict__, "expected": fact.expected + expected})
    assert judge(fact.ban_id, [large], W).score <= small


def test_class_model_counts_a_common_surname_and_given_char_as_common():
    from collections import Counter

    from registry.matching.commonness import ClassModel, key_hash, stat_keys

    tally: Counter[int] = Counter()
    people = [("wenpeng88", "温鹏")] + [
        (f"u{i}", n) for i, n in enumerate(["温伟", "李鹏", "温鹏飞", "王鹏"] * 50)
    ]
    for u, d in people:
        for k in stat_keys(u, d):
            tally[key_hash(k)] += 1
    model = ClassModel(lambda k: tally[key_hash(k)])
    # Seen once, but 温 and 鹏 are each common: the model expects more holders than observed.
    assert model.han("温鹏") > 1.0
    assert model.han("温鹏") > model.han("温犇")
    assert model.han("文朋", by_sound=True) == model.han("温鹏", by_sound=True)
    assert model.han("鹏温", by_sound=True, any_order=True) >= model.han("温鹏", by_sound=True)


@given(names, st.floats(0, 15))
def test_a_closer_match_never_scores_lower(fact, closer):
    far = judge(fact.ban_id, [fact], W).score
    near = NameEvidence(**{**fact.__dict__, "closeness": min(100.0, fact.closeness + closer)})
    assert judge(fact.ban_id, [near], W).score >= far


@given(st.lists(names, min_size=1, max_size=6), names)
def test_more_evidence_at_a_ban_never_lowers_its_score(facts, extra):
    facts = [ev.NameEvidence(**{**f.__dict__, "ban_id": "b1"}) for f in facts]
    extra = ev.NameEvidence(**{**extra.__dict__, "ban_id": "b1"})
    assert judge("b1", [*facts, extra], W).score >= judge("b1", facts, W).score


@given(st.lists(names, max_size=8), st.sampled_from(("phone", "email", "id_number", "device_id")))
def test_an_identifier_match_always_denies(facts, field):
    out = decide([*facts, IdentifierEvidence("b9", field)], W)
    assert out.decision == "deny"
    assert {"code": "banned_identifier", "field": field, "ban_id": "b9"} in out.reasons


@given(st.lists(names, max_size=8))
def test_thresholds_from_settings_move_decisions_monotonically(facts):
    strict = Weights(review_score=40.0, deny_score=70.0)
    lenient = Weights(review_score=80.0, deny_score=95.0)
    assert SEVERITY[decide(facts, strict).decision] >= SEVERITY[decide(facts, lenient).decision]


def test_common_name_is_shown_once_per_check():
    facts = [name(field="display_name", ban=f"b{i}", holders=100) for i in range(5)]
    codes = Counter(r["code"] for r in decide(facts, W).reasons)
    assert codes == {"common_name": 1}
