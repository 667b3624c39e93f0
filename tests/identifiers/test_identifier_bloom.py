import pytest

from registry.identifiers.bloom import IdentifierFilter, stable_hash
from registry.identifiers.hashing import PiiHasher

HASHER = PiiHasher(b"registry-test-key-0123456789abcd")


def digests(start: int, count: int) -> list[str]:
    return [HASHER.digest("phone", f"+86138{i:08d}") for i in range(start, start + count)]


def test_no_false_negatives_and_few_false_positives() -> None:
    bloom = IdentifierFilter(capacity=5_000, false_positive_rate=0.01)
    members = digests(0, 5_000)
    for digest in members:
        bloom.add(digest)
    assert all(digest in bloom for digest in members)
    false_positives = sum(digest in bloom for digest in digests(5_000, 5_000))
    # Expected about 50; the bound leaves room for chance without letting a broken hash through.
    assert false_positives < 150
    assert 4_900 <= len(bloom) <= 5_000
    assert not bloom.is_overfull()


def test_re_adding_does_not_grow_the_count() -> None:
    bloom = IdentifierFilter(capacity=10)
    digest = digests(0, 1)[0]
    bloom.add(digest)
    bloom.add(digest)
    bloom.add(digest.upper())
    assert len(bloom) == 1


def test_stable_hash_fits_rbloom_and_ignores_process_hash_seed() -> None:
    assert stable_hash("0" * 64) == -(1 << 127)
    assert stable_hash("f" * 64) == (1 << 127) - 1
    digest = digests(0, 1)[0]
    assert stable_hash(digest) == int(digest[:32], 16) - (1 << 127)


def test_only_hex_digests_are_accepted() -> None:
    bloom = IdentifierFilter(capacity=10)
    for bad in ["+8613800138000", "z" * 64, "ab"]:
        with pytest.raises(ValueError):
            bloom.add(bad)
        assert bad not in bloom
    assert 42 not in bloom
    assert None not in bloom


def test_sizing_is_validated() -> None:
    with pytest.raises(ValueError):
        IdentifierFilter(capacity=0)
    with pytest.raises(ValueError):
        IdentifierFilter(capacity=10, false_positive_rate=1.0)
