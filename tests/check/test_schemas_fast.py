"""The hand-rolled CheckIn load and CheckOut dump answer exactly as the marshmallow schemas do."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

from registry.accounts.models import ACCOUNT_TYPES
from registry.check.schemas import CheckIn, CheckOut, fast_dump_check, fast_load_check

IN_FIELDS = ("username", "display_name", "email", "phone", "id_number", "device_id", "ip", "account_type",
             "avatar", "avatar_hash")  # fmt: skip
# Values around every rule the schema has: lengths at the bounds, wrong types, nulls.
values = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.text(min_size=126, max_size=130),
    st.text(min_size=254, max_size=258),
    st.sampled_from([*ACCOUNT_TYPES, "", "Personal", "robot"]),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)
bodies = st.dictionaries(
    st.one_of(st.sampled_from(IN_FIELDS), st.text(max_size=6)), values, max_size=len(IN_FIELDS) + 1
)


def schema_load(data: Any) -> tuple[str, Any]:
    try:
        return "ok", Schema.load(CheckIn(), data)
    except ValidationError as exc:
        return "error", exc.messages


@given(st.one_of(bodies, st.lists(st.integers(), max_size=2), st.text(max_size=3), st.none()))
def test_fast_load_agrees_with_the_schema(data: Any) -> None:
    expected = schema_load(data)
    fast = fast_load_check(data)
    if fast is not None:
        assert expected == ("ok", fast)
    # Through CheckIn.load (fast path or not): the same result and the same error messages.
    try:
        got: tuple[str, Any] = ("ok", CheckIn().load(data))
    except ValidationError as exc:
        got = ("error", exc.messages)
    assert got == expected


def test_fast_load_takes_a_plain_signup() -> None:
    body = {"username": "li.wei", "phone": "+86 139 0000 0000", "display_name": "李伟"}
    assert fast_load_check(body) == Schema.load(CheckIn(), body)
    assert fast_load_check({"username": ""}) is None
    assert fast_load_check({"username": "x", "surprise": 1}) is None


plain = st.one_of(
    st.none(),
    st.text(max_size=4),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
reasons = st.dictionaries(
    st.sampled_from(
        [
            "code",
            "field",
            "ban_id",
            "score",
            "matched",
            "rule",
            "term",
            "accounts",
            "message",
            "distance",
            "tricks",
            "commonness",
            "internal",
        ]  # fmt: skip
    ),
    st.one_of(
        plain,
        st.lists(st.one_of(st.text(max_size=3), st.integers()), max_size=3),
        st.dictionaries(
            st.sampled_from(["accounts", "bans", "other"]), st.one_of(st.integers(0, 9), st.text(max_size=2))
        ),
    ),
)
answers = st.fixed_dictionaries(
    {},
    optional={
        "decision": st.one_of(st.sampled_from(["allow", "review", "deny"]), plain),
        "check_id": st.one_of(st.text(max_size=8), plain),
        "reasons": st.one_of(st.lists(st.one_of(reasons, plain), max_size=3), st.none()),
        "other": plain,
    },
)


def schema_dump(obj: Any) -> tuple[str, Any]:
    try:
        return "ok", Schema.dump(CheckOut(), obj)
    except Exception as exc:  # noqa: BLE001 - the fast path must fail (by falling back) the same way
        return "error", type(exc)


@given(answers)
def test_fast_dump_agrees_with_the_schema(obj: dict[str, Any]) -> None:
    expected = schema_dump(obj)
    fast = fast_dump_check(obj)
    if fast is not None:
        assert expected[0] == "ok"
        # As JSON: 1 and 1.0 are equal in Python but not on the wire.
        assert json.dumps(fast, sort_keys=True) == json.dumps(expected[1], sort_keys=True)
    try:
        got: tuple[str, Any] = ("ok", CheckOut().dump(obj))
    except Exception as exc:  # noqa: BLE001
        got = ("error", type(exc))
    assert got == expected


def test_fast_dump_takes_run_checks_answers() -> None:
    answer = {
        "decision": "review",
        "check_id": "chk_1",
        "reasons": [
            {
                "code": "similar_to_banned_name",
                "field": "username",
                "ban_id": "ban_1",
                "score": 91,
                "matched": "guoqiang",
                "tricks": ["pinyin"],
                "commonness": {"accounts": 3, "bans": 1},
            },  # fmt: skip
            {"code": "identifier_reuse", "field": "phone", "accounts": 6},
        ],
    }
    fast = fast_dump_check(answer)
    assert fast is not None and fast == Schema.dump(CheckOut(), answer)
    assert type(fast["reasons"][0]["score"]) is float
