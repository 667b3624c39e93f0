import hashlib
import hmac
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.identifiers.hashing import PiiHasher

KEY = b"registry-test-key-0123456789abcd"


def test_digest_is_a_field_separated_hmac() -> None:
    expected = hmac.new(
        KEY, b"registry.identifiers.v1\x00phone\x00+8613800138000", hashlib.sha256
    ).hexdigest()
    assert PiiHasher(KEY).digest("phone", "+8613800138000") == expected
    # Pinned so a change of layout, which would orphan every stored digest, cannot pass unnoticed.
    assert expected == "2017a212d17c0807fe8d82b57756ac341b8b83b793cc774cffc50fa38ddf0b4d"


def test_digest_is_stable_across_processes() -> None:
    code = (
        "from registry.identifiers.hashing import PiiHasher;"
        f"print(PiiHasher({KEY!r}).digest('email', 'a@gmail.com'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "random", "PYTHONPATH": ":".join(sys.path)},
    )
    assert out.stdout.strip() == PiiHasher(KEY).digest("email", "a@gmail.com")


@given(st.text(max_size=40))
def test_digest_depends_on_field_and_key(value: str) -> None:
    hasher = PiiHasher(KEY)
    digest = hasher.digest("phone", value)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest == PiiHasher(KEY, key_version=2).digest("phone", value)
    assert digest != hasher.digest("device_id", value)
    assert digest != PiiHasher(KEY + b"!").digest("phone", value)


def test_key_is_required_and_never_shown() -> None:
    with pytest.raises(ValueError):
        PiiHasher(b"")
    with pytest.raises(ValueError):
        PiiHasher(KEY, key_version=0)
    hasher = PiiHasher(KEY, key_version=3)
    assert hasher.key_version == 3
    assert "registry-test-key" not in repr(hasher)


@pytest.mark.parametrize(
    ("field", "canonical", "masked"),
    [
        ("phone", "+8613800138000", "+86 138****8000"),
        ("phone", "+861012345678", "+86 ****78"),
        ("email", "zhangsan@gmail.com", "z***@gmail.com"),
        ("email", "z@gmail.com", "z***@gmail.com"),
        ("id_number", "11010519491231002X", "110105********002X"),
        ("device_id", "d5a93145abcdef12", "d5a9…ef12"),
        ("device_id", "short", "****"),
        ("ip", "203.0.113.7", "203.0.113.*"),
        ("ip", "2001:db8:1:2::1", "2001:db8:1::/48"),
        ("ip", "203.0.113.0/24", "203.0.113.0/24"),
        ("password", "hunter2", "****"),
        ("phone", "not a phone", "****"),
        ("id_number", "short", "****"),
    ],
)
def test_masks(field: str, canonical: str, masked: str) -> None:
    assert PiiHasher.mask(field, canonical) == masked


@given(
    st.sampled_from(["phone", "email", "id_number", "device_id"]),
    st.text(alphabet="0123456789abcdefX@.+", min_size=1, max_size=40),
)
def test_masks_never_contain_the_whole_value(field: str, value: str) -> None:
    masked = PiiHasher.mask(field, value)
    assert value not in masked
