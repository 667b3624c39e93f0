"""QR codes in avatars are found; ordinary pictures are not flagged."""

from __future__ import annotations

import pytest

from avatars.images import picture, qr_avatar
from registry.avatars import has_qr_code


@pytest.mark.parametrize("code_side", [64, 96, 160])
def test_a_pasted_qr_code_is_found(code_side):
    assert has_qr_code(qr_avatar(7, code_side=code_side))


def test_a_large_avatar_is_scanned_at_bounded_size():
    assert has_qr_code(qr_avatar(8, side=2000, code_side=600))


@pytest.mark.parametrize("seed", range(10))
def test_pictures_without_a_code_are_not_flagged(seed):
    assert not has_qr_code(picture(seed))
