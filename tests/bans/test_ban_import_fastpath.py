"""The import's fast loader agrees with BanIn wherever it answers, and prepares lines identically."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from registry.bans import importer, prepare
from registry.bans.schemas import BanIn
from registry.identifiers import PiiHasher

FIELDS = ("email", "phone", "id_number", "device_id", "ip")
# Lengths on both sides of every bound BanIn checks.
EDGE_LENGTHS = (0, 1, 2, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1999, 2000, 2001)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, width=16),
    st.text(max_size=5),
    st.builds(lambda n, c: c * n, st.sampled_from(EDGE_LENGTHS), st.sampled_from("a王 ")),
)
strings = st.one_of(
    st.text(max_size=8),
    st.builds(lambda n, c: c * n, st.sampled_from(EDGE_LENGTHS), st.sampled_from("aé王 ")),
    st.sampled_from(["13812345678", "+86 138 1234 5678", "a@qq.com", "110101199003070000", "1.2.3.0/24"]),
)
# Lists around the 50-name and 100-identifier caps, sometimes holding a non-string.
lists = st.one_of(
    st.lists(strings, max_size=4),
    st.builds(lambda n: ["x"] * n, st.sampled_from((0, 49, 50, 51, 99, 100, 101))),
    st.lists(st.one_of(strings, scalars), max_size=3),
)
values = st.one_of(scalars, strings, lists, st.dictionaries(st.text(max_size=3), scalars, max_size=2))
identifiers = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), lists, max_size=5),
    st.dictionaries(st.sampled_from((*FIELDS, "username", "Phone")), st.one_of(lists, values), max_size=3),
    values,
)
good = st.text(min_size=1, max_size=10)
stamps = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(["2039-01-01T00:00:00+08:00", "2039-02-30T00:00:00Z", "2039-01-01", "", "soon"]),
)
good_lists = st.lists(good, max_size=3)
near_identifiers = st.dictionaries(
    st.sampled_from(FIELDS), st.one_of(good_lists, good_lists, lists), max_size=5
)
# Mostly well-formed documents with one or two things wrong, so both answers are common.
documents = st.one_of(
    st.fixed_dictionaries(
        {"reason": good, "rule": good},
        optional={
            "account_id": st.one_of(st.none(), good),
            "identifiers": st.dictionaries(st.sampled_from(FIELDS), good_lists, max_size=5),
            "names": good_lists,
            "expires_at": st.one_of(st.none(), stamps),
        },
    ),
    st.fixed_dictionaries(
        {"reason": st.one_of(good, good, strings, values), "rule": st.one_of(good, good, strings, values)},
        optional={
            "account_id": st.one_of(st.none(), good, strings, values),
            "identifiers": st.one_of(near_identifiers, near_identifiers, identifiers),
            "names": st.one_of(good_lists, good_lists, lists, values),
            "expires_at": st.one_of(st.none(), st.none(), st.just("2039-01-01T00:00:00Z"), values),
            "extra": values,
        },
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "account_id": st.one_of(st.none(), strings, values),
            "identifiers": identifiers,
            "names": st.one_of(lists, values),
            "reason": st.one_of(strings, values),
            "rule": st.one_of(strings, values),
            "expires_at": st.one_of(st.none(), st.just("2039-01-01T00:00:00Z"), values),
            "extra": values,
        },
    ),
    values,
)


def _schema(doc: Any) -> tuple[bool, Any]:
    try:
        return True, BanIn().load(doc)
    except ValidationError as exc:
        return False, exc.messages


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents)
def test_fast_load_agrees_with_the_schema(doc: Any) -> None:
    fast = importer.fast_load(doc)
    ok, loaded = _schema(doc)
    event("fast path" if fast is not None else ("schema accepts" if ok else "schema rejects"))
    if fast is not None:
        # Whatever the fast path accepts, the schema accepts with the very same data.
        assert ok, loaded
        assert fast == loaded


def _realistic(seed: int) -> list[str]:
    import random
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from gen_bans import make_ban

    rng = random.Random(seed)
    return [
        json.dumps(make_ban(rng, name, rng.random() < 0.5), ensure_ascii=False)
        for name in ("wangxiaoming", "王小明", "jameswalker", "刘伟", "starmoon88") * 40
    ]


def test_fast_load_takes_the_common_shape() -> None:
    docs = [json.loads(line) for line in _realistic(5)]
    assert any("expires_at" in d for d in docs)
    assert all(importer.fast_load(d) == BanIn().load(d) for d in docs)


PHONES = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True).flatmap(
    lambda d: st.sampled_from([d, f"+86 {d[:3]} {d[3:7]} {d[7:]}", f"0086-{d}", f"{d[:3]}.{d[3:7]}.{d[7:]}"])
)


@settings(max_examples=200, deadline=None)
@given(
    doc=st.fixed_dictionaries(
        {"reason": st.just("spam"), "rule": st.just("R1")},
        optional={
            "names": st.lists(st.sampled_from(["王小明", "wangxiaoming", "Ｗａｎｇ", "x", " "]), max_size=3),
            "identifiers": st.fixed_dictionaries(
                {},
                optional={
                    "phone": st.lists(PHONES, max_size=2),
                    "email": st.lists(st.just("A.b@GMAIL.com"), max_size=1),
                },
            ),
        },
    )
)
def test_prepare_lines_is_the_same_with_or_without_the_fast_path(doc: dict[str, Any]) -> None:
    pii = PiiHasher(b"fast-path-test-key-0123456789", 1)
    line = [(1, json.dumps(doc, ensure_ascii=False))]
    fast = importer.prepare_lines(line, pii)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(importer, "fast_load", lambda _doc: None)
        slow = importer.prepare_lines(line, pii)
    assert [(n, e, p and vars(p)) for n, p, e in fast] == [(n, e, p and vars(p)) for n, p, e in slow]


@settings(max_examples=300, deadline=None)
@given(d=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_phone_mask_shortcut_matches_the_hasher(d: str) -> None:
    pii = PiiHasher(b"fast-path-test-key-0123456789", 1)
    assert prepare._mask(pii, "phone", "+86" + d) == pii.mask("phone", "+86" + d)
