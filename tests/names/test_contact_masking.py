"""Contact details in names are masked where the name rules found them, keeping the name's length."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.name_rules import mask_contacts
from registry.name_rules.policy import _contact_findings


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("vx13912340002", "vx139****0002"),
        ("加微信13912340003", "加微信139****0003"),
        ("微信:lily_2020", "微信:li*****20"),
        ("qq:12345678", "qq:12****78"),
        ("vx:abc12345", "vx:ab****45"),
        ("１３８００１３８０００", "１３８****８０００"),
        ("一三八零零一三八零零零", "一三八****八零零零"),
        ("www.abc123.com", "www*******.com"),
        ("张伟的小店", "张伟的小店"),
        ("加微信", "加微信"),
        ("lily2020", "lily2020"),
        (None, None),
        ("", ""),
    ],
)
def test_masks_the_flagged_part(name, masked):
    assert mask_contacts(name) == masked


PIECES = st.sampled_from(
    ["vx", "微信", "qq", "加", ":", " ", "-", "13912340002", "139 1234 0002", "一三九一二三四零零零二",
     "１３９１２３４０００２", "lily_2020", "12345678", "www.", "abc", ".com", "点", "张伟", "\u200b", "+86"]
)  # fmt: skip


@given(st.lists(PIECES, max_size=8).map("".join))
def test_masked_names_keep_their_length_and_no_phone_number(name):
    masked = mask_contacts(name)
    assert masked is not None and len(masked) == len(name)
    # What is left may still announce a contact ("加微信", "www.") but no whole phone number.
    assert "phone" not in {rule for rule, _ in _contact_findings(masked)}
    detail = {rule for rule, term in _contact_findings(name) if rule in ("phone", "qq", "wechat")}
    if detail:
        assert masked != name and "*" in masked
