import pytest

from registry.identifiers.bloom import IdentifierFilter
from registry.identifiers.hashing import PiiHasher

HASHER = PiiHasher(b"registry-test-key-0123456789abcd")


def digests(start: int, count: int) -> list[str]:
    return [HASHER.digest("phone", f"+86138{i:08d}") for i in range(start, start + count)]


def test_no_false_negatives_and_few_false_positives() -> None:
    bloom = IdentifierFilter(capacity=5_000, false_positive_rate=0.01)
    members = digests(0, 5_000)
    bloom.add_many(members[:2_500])
    for digest in members[2_500:]:
        bloom.add(digest)
    assert all(digest in bloom for digest in members)
    false_positives = sum(digest in bloom for digest in digests(5_000, 5_000))
    # Expected about 50; the bound leaves room for chance without letting a broken hash through.
    assert false_positives < 150
    assert len(bloom) == 5_000
    assert not bloom.is_overfull()


def test_only_the_leading_128_bits_count_and_case_does_not() -> None:
    bloom = IdentifierFilter(capacity=10)
    digest = digests(0, 1)[0]
    bloom.add(digest)
    assert digest.upper() in bloom
    assert digest[:32] + "0" * 32 in bloom


def test_non_strings_are_never_members() -> None:
    bloom = IdentifierFilter(capacity=10)
    bloom.add_many(digests(0, 5))
    assert 42 not in bloom
    assert None not in bloom


def test_overfull_is_reported() -> None:
    bloom = IdentifierFilter(capacity=3)
    bloom.add_many(digests(0, 4))
    assert bloom.is_overfull()


def test_sizing_is_validated() -> None:
    with pytest.raises(ValueError):
        IdentifierFilter(capacity=0)
    with pytest.raises(ValueError):
        IdentifierFilter(capacity=10, false_positive_rate=1.0)


def test_a_saved_filter_answers_alike_in_another_process() -> None:
    import subprocess
    import sys

    bloom = IdentifierFilter(capacity=1_000, false_positive_rate=0.01)
    members = digests(0, 500)
    bloom.add_many(members)
    data = bloom.to_bytes()
    probes = members + digests(10_000, 2_000)
    here = [d in bloom for d in probes]
    # Another interpreter has another string hash seed: the saved bits must not depend on it.
    code = (
        "import sys, json\n"
        "from registry.identifiers.bloom import IdentifierFilter\n"
        "data = sys.stdin.buffer.read()\n"
        "n = int.from_bytes(data[:4], 'big')\n"
        "probes = json.loads(data[4:4 + n])\n"
        "f = IdentifierFilter.from_bytes(data[4 + n:], capacity=1000, false_positive_rate=0.01, count=500)\n"
        "print(json.dumps([d in f for d in probes]))\n"
    )
    import json

    blob = json.dumps(probes).encode()
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=len(blob).to_bytes(4, "big") + blob + data,
        capture_output=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert json.loads(out.stdout) == here
    assert all(here[:500])


def test_unusable_bytes_are_refused() -> None:
    with pytest.raises(ValueError):
        IdentifierFilter.from_bytes(b"not a filter", capacity=10, false_positive_rate=0.01, count=0)


def test_a_value_that_is_no_digest_is_never_a_member() -> None:
    bloom = IdentifierFilter(capacity=10)
    bloom.add_many(digests(0, 2) + ["not-hex-at-all-" * 3])
    assert "not-hex-at-all-" * 3 not in bloom
    assert "zz" not in bloom
