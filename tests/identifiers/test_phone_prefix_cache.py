"""The CN mobile prefix cache in normalize_phone answers exactly as libphonenumber would."""

from __future__ import annotations

import importlib
import re
from itertools import product

try:  # Python 3.11 keeps the regex parser here; newer ones move it.
    import re._parser as sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore[no-redef]

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata

from registry.identifiers import InvalidIdentifier

# The package re-exports a function named normalize, which hides the module of the same name.
nz = importlib.import_module("registry.identifiers.normalize")

DIGITS = frozenset("0123456789")
LENGTH = 11
TYPES = (
    "general_desc",
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


def _charset(items: list[tuple[object, object]]) -> frozenset[str]:
    out: set[str] = set()
    negate = False
    for op, arg in items:
        if op is sre_parse.LITERAL:
            out.add(chr(arg))  # type: ignore[arg-type]
        elif op is sre_parse.RANGE:
            lo, hi = arg  # type: ignore[misc]
            out.update(chr(c) for c in range(lo, hi + 1))
        elif op is sre_parse.CATEGORY and arg is sre_parse.CATEGORY_DIGIT:
            out.update(DIGITS)
        elif op is sre_parse.NEGATE:
            negate = True
        else:
            raise AssertionError(f"unexpected class item {op} {arg}")
    # Only digits ever reach these patterns, so a class is the digits it accepts.
    return frozenset(DIGITS - out if negate else out & DIGITS)


def _expand(tokens: object) -> list[tuple[frozenset[str], ...]]:
    """Every way the pattern can match, as a sequence of accepted digit sets (at most LENGTH long)."""
    seqs: list[tuple[frozenset[str], ...]] = [()]
    for op, arg in tokens:  # type: ignore[attr-defined]
        if op is sre_parse.LITERAL:
            alts = [(frozenset(chr(arg)),)]
        elif op is sre_parse.IN:
            alts = [(_charset(arg),)]
        elif op is sre_parse.SUBPATTERN:
            alts = _expand(arg[-1])
        elif op is sre_parse.BRANCH:
            alts = [s for branch in arg[1] for s in _expand(branch)]
        elif op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT):
            lo, hi, sub = arg
            hi = min(hi, LENGTH)
            body = _expand(sub)
            alts = []
            for count in range(lo, hi + 1):
                for parts in product(body, repeat=count):
                    seq = tuple(x for p in parts for x in p)
                    if len(seq) <= LENGTH:
                        alts.append(seq)
        else:
            raise AssertionError(f"unexpected regex op {op}")
        seqs = [s + a for s in seqs for a in alts if len(s) + len(a) <= LENGTH]
    return seqs


def test_cn_validity_of_11_digit_mobiles_is_decided_by_five_digits() -> None:
    meta = PhoneMetadata.metadata_for_region("CN")
    checked = 0
    for name in TYPES:
        desc = getattr(meta, name, None)
        if desc is None or desc.national_number_pattern is None:
            continue
        for seq in _expand(sre_parse.parse(desc.national_number_pattern)):
            if len(seq) != LENGTH or "1" not in seq[0] or not (seq[1] & set("3456789")):
                continue
            checked += 1
            # Past the cached prefix every pattern that can match takes any digit: two numbers with
            # the same first five digits are both valid or both not.
            assert all(s == DIGITS for s in seq[nz.CN_PREFIX_DIGITS :]), (name, seq)
    assert checked > 0
    # The carrier-code strip can only fire for 179xx, and leaves 6 digits no CN pattern accepts, so it
    # never changes what an 11-digit 13-19 number parses to.
    assert re.fullmatch(meta.national_prefix_for_parsing, "179") is None
    for seq in _expand(sre_parse.parse(meta.general_desc.national_number_pattern)):
        assert len(seq) != 6


def _slow(value: str) -> str:
    nz._CN_VALID_PREFIXES.clear()
    return nz.normalize_phone(value)


def _verdict(fn: object, value: str) -> str:
    try:
        return fn(value)  # type: ignore[operator]
    except InvalidIdentifier as exc:
        return f"error: {exc.message}"


cn_mobile = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@st.composite
def typed(draw: st.DrawFn) -> str:
    d = draw(cn_mobile)
    form = draw(st.sampled_from(["{d}", "+86{d}", "0086 {d}", "+86 {a} {b} {c}", "{a}-{b}-{c}", "86{d}"]))
    return form.format(d=d, a=d[:3], b=d[3:7], c=d[7:])


@settings(max_examples=400, deadline=None)
@given(warm=typed(), value=typed())
def test_cached_prefix_answers_like_libphonenumber(warm: str, value: str) -> None:
    expected = _verdict(_slow, value)
    # Warm the cache with a number sharing the prefix, then ask again through the cache.
    digits = re.sub(r"\D", "", value)[-11:]
    _verdict(nz.normalize_phone, digits[: nz.CN_PREFIX_DIGITS] + re.sub(r"\D", "", warm)[-6:])
    _verdict(nz.normalize_phone, warm)
    assert _verdict(nz.normalize_phone, value) == expected


@pytest.mark.parametrize("prefix", ["13800", "17400", "17406", "16100", "19200", "14000", "17900"])
def test_every_number_of_a_prefix_shares_its_verdict(prefix: str) -> None:
    verdicts = {_verdict(_slow, f"{prefix}{n:06d}").startswith("+86") for n in range(0, 10**6, 7919)}
    assert len(verdicts) == 1
