"""Possible but unassigned phone numbers are kept in E.164; impossible ones are refused (properties)."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.identifiers import (
    InvalidIdentifier,
    is_assigned_phone,
    normalize_phone,
    normalize_phone_checked,
)

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
cn_mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
separators = st.sampled_from(["", " ", "-", ".", "  "])


def _spell(digits: str, sep: str, prefix: str) -> str:
    return prefix + sep.join([digits[:3], digits[3:7], digits[7:]])


@given(cn_mobiles, separators, st.sampled_from(["", "+86", "+86 ", "0086", "0086-"]))
def test_every_cn_mobile_shape_is_kept_as_its_e164_form(digits, sep, prefix):
    assert normalize_phone(_spell(digits, sep, prefix)) == "+86" + digits


@given(cn_mobiles)
def test_assigned_means_what_libphonenumber_says(digits):
    e164, assigned = normalize_phone_checked(digits)
    assert assigned is phonenumbers.is_valid_number(phonenumbers.parse(e164, None))
    assert is_assigned_phone(digits) is assigned


@given(st.text(alphabet="+0123456789 -().", max_size=24))
def test_output_is_e164_idempotent_and_possible(raw):
    try:
        e164, _assigned = normalize_phone_checked(raw)
    except InvalidIdentifier as exc:
        assert exc.field == "phone"
        return
    assert E164.fullmatch(e164)
    assert normalize_phone(e164) == e164
    assert phonenumbers.is_possible_number(phonenumbers.parse(e164, None))


@given(
    st.from_regex(r"1[3-9][0-9]{0,8}", fullmatch=True) | st.from_regex(r"1[3-9][0-9]{10,12}", fullmatch=True)
)
def test_a_cn_mobile_prefix_with_the_wrong_length_is_refused(digits):
    with pytest.raises(InvalidIdentifier):
        normalize_phone("+86" + digits)


@pytest.mark.parametrize(
    "raw", ["+86 1380013800", "12", "+1 555", "+999 123456789", "+86 12", "0", "+86 17900 1000000"]
)
def test_impossible_numbers_are_refused(raw):
    with pytest.raises(InvalidIdentifier):
        normalize_phone(raw)


def test_an_unassigned_cn_block_is_kept_but_flagged():
    assert normalize_phone_checked("149 1417 7763") == ("+8614914177763", False)
    assert normalize_phone_checked("138 0013 8000") == ("+8613800138000", True)
    # phonenumbers reads "179xx" as a carrier-selection prefix and fails to parse what is left.
    assert normalize_phone_checked("17993006709") == ("+8617993006709", False)
