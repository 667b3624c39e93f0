"""Corroboration, sound classes and homophone fan-out in the evidence model: pure, no app, no database."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from registry.check.evidence import NameEvidence, Weights, judge, mark_echoes
from registry.matching.commonness import homophone_bits, same_name, spellings

W = Weights()


def fact(field: str, **kw: object) -> NameEvidence:
    base = {"ban_id": "b1", "field": field, "matched": "m", "closeness": 100.0, "han": 0, "letters": 8}
    base.update(kw)
    return NameEvidence(**base)  # type: ignore[arg-type]


def test_a_handle_built_from_ones_own_name_spells_it():
    for username, display in [
        ("mayuwei6656", "马宇玮"),
        ("wang.ct", "王晨婷"),
        ("kan_tian78", "田堪"),
        ("jiwei_zhang_123", "张继伟"),
        ("pengli2000", "Peng P. Li"),
        ("zd168", "朱锭"),
    ]:
        assert same_name(username, display), (username, display)
    for username, display in [
        ("max_sky1986", "唐鹂"),
        ("oceanlove520", "Susan Fang"),
        ("wdxxcwq168", "王宇莉"),
    ]:
        assert not same_name(username, display), (username, display)
    assert "chentingwang" in spellings("王晨婷") and "wct" in spellings("王晨婷")


def test_two_fields_spelling_one_name_are_one_observation_not_corroboration():
    u = fact("username", tricks=("digits_changed",), own_holders=1)
    d = fact("display_name", tricks=("pinyin",), own_holders=0, han=3, letters=0)
    independent = judge("b1", [u, d], W).score
    body = {"username": "mayuwei6656", "display_name": "马宇玮"}
    echoed = mark_echoes([u, d], body)
    assert all(e.echo for e in echoed)
    one = judge("b1", echoed, W).score
    assert one == max(judge("b1", [u], W).score, judge("b1", [d], W).score) < independent
    # A new handle that says nothing of the display name still corroborates it.
    assert not any(e.echo for e in mark_echoes([u, d], {"username": "sunny_cat9", "display_name": "马宇玮"}))


@given(st.integers(0, 50), st.integers(0, 50), st.sampled_from(((), ("pinyin",), ("homophone",))))
def test_marking_echoes_never_raises_a_score(h1, h2, tricks):
    facts = [fact("username", own_holders=h1), fact("display_name", own_holders=h2, tricks=tricks, han=2)]
    assert judge("b1", [replace(e, echo=True) for e in facts], W).score <= judge("b1", facts, W).score


def test_a_match_made_on_sound_alone_is_as_common_as_the_sound():
    # 王倾宇 searched, banned handle "wangqingyu": everyone whose name sounds wang-qing-yu writes it.
    rare_spelling = fact("display_name", tricks=("pinyin",), own_holders=0, expected=0.1, han=3, letters=0)
    crowded = replace(rare_spelling, sound=40.0)
    assert crowded.own == 40.0
    assert judge("b1", [crowded], W).score < judge("b1", [rare_spelling], W).score
    # Without the pinyin step the spelling itself is what is compared: the sound class does not count.
    same_chars = replace(crowded, tricks=())
    assert same_chars.own == 0.1


def test_a_homophone_on_a_crowded_syllable_weighs_less_than_on_a_sparse_one():
    assert homophone_bits("姜芋", "蒋玉") > homophone_bits("田堪", "田砍") > 0
    assert homophone_bits("李伟", "李伟") == 0
    sparse = fact("display_name", tricks=("homophone",), own_holders=0, han=2, letters=0, spellings_bits=3.0)
    crowded = replace(sparse, spellings_bits=9.0)
    assert judge("b1", [crowded], W).score < judge("b1", [sparse], W).score


@given(st.floats(0, 20), st.floats(0, 20))
def test_more_spellings_never_raise_a_homophones_score(a, b):
    f = fact("display_name", tricks=("homophone",), han=2, letters=0, spellings_bits=min(a, b))
    assert judge("b1", [replace(f, spellings_bits=max(a, b))], W).score <= judge("b1", [f], W).score
