import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.identifiers.iprange import IpRangeSet
from registry.identifiers.normalize import InvalidIdentifier


def test_v4_addresses_and_overlapping_ranges() -> None:
    ranges: IpRangeSet[str] = IpRangeSet()
    ranges.add("203.0.113.7", "host")
    ranges.add("203.0.113.0/24", "site")
    ranges.add("203.0.0.0/16", "isp")
    ranges.add("198.51.100.0/24", "other")
    assert ranges.lookup("203.0.113.7") == {"host", "site", "isp"}
    assert ranges.lookup("203.0.113.8") == {"site", "isp"}
    assert ranges.lookup("203.0.9.1") == {"isp"}
    assert ranges.lookup("192.0.2.1") == set()
    assert ranges.lookup("::ffff:203.0.113.7") == {"host", "site", "isp"}


def test_v6_and_v4_are_kept_apart() -> None:
    ranges: IpRangeSet[int] = IpRangeSet()
    ranges.add("2001:db8::/32", 1)
    ranges.add("2001:db8:1::/48", 2)
    ranges.add("0.0.0.0/8", 3)
    assert ranges.lookup("2001:db8:1::5") == {1, 2}
    assert ranges.lookup("2001:db8:2::5") == {1}
    assert ranges.lookup("2001:db9::1") == set()
    # ::1 is 0.0.0.1 as an integer; it must not match the IPv4 range.
    assert ranges.lookup("::1") == set()
    assert ranges.lookup("0.0.0.1") == {3}


def test_one_payload_on_many_entries_and_many_payloads_on_one() -> None:
    ranges: IpRangeSet[str] = IpRangeSet()
    ranges.add("203.0.113.0/24", "ban-1")
    ranges.add("2001:db8::/48", "ban-1")
    ranges.add("203.0.113.0/24", "ban-2")
    assert len(ranges) == 2
    assert ranges.payloads() == {"ban-1", "ban-2"}
    ranges.remove_payload("ban-1")
    assert ranges.lookup("203.0.113.9") == {"ban-2"}
    assert ranges.lookup("2001:db8::1") == set()
    ranges.remove_payload("ban-2")
    assert ranges.lookup("203.0.113.9") == set()
    assert len(ranges) == 0 and not ranges
    ranges.remove_payload("never-added")


def test_invalid_input() -> None:
    ranges: IpRangeSet[str] = IpRangeSet()
    with pytest.raises(InvalidIdentifier):
        ranges.add("not an ip", "x")
    with pytest.raises(InvalidIdentifier):
        ranges.lookup("203.0.113.0/24")
    with pytest.raises(InvalidIdentifier):
        ranges.lookup(None)


v4_networks = st.builds(
    lambda address, prefix: ipaddress.ip_network((address, prefix), strict=False),
    st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address),
    st.integers(8, 32),
)
v6_networks = st.builds(
    lambda address, prefix: ipaddress.ip_network((address, prefix), strict=False),
    # Stay clear of ::ffff:0:0/96, which the set stores as IPv4.
    st.integers(2**127, 2**128 - 1).map(ipaddress.IPv6Address),
    st.integers(16, 128),
)


@given(
    st.lists(st.tuples(st.one_of(v4_networks, v6_networks), st.integers(0, 5)), max_size=30),
    st.lists(st.one_of(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address),
                       st.integers(2**127, 2**128 - 1).map(ipaddress.IPv6Address)), max_size=10),
    st.sets(st.integers(0, 5)),
)  # fmt: skip
def test_lookup_agrees_with_a_linear_scan(
    entries: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int]],
    probes: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    removed: set[int],
) -> None:
    ranges: IpRangeSet[int] = IpRangeSet()
    for network, payload in entries:
        ranges.add(str(network), payload)
    for payload in removed:
        ranges.remove_payload(payload)
    kept = [(n, p) for n, p in entries if p not in removed]
    # Probe the entries' own first and last addresses too, where off-by-one masks would show.
    edges = [a for n, _ in kept for a in (n.network_address, n.broadcast_address)]
    for address in probes + edges:
        expected = {p for n, p in kept if n.version == address.version and address in n}
        assert ranges.lookup(str(address)) == expected


# --- ranges at rest ---------------------------------------------------------------------------------

from registry.identifiers.iprange import SEALED_PREFIX, RangeCipher, mask_range  # noqa: E402

NETWORKS = st.one_of(
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(
        lambda t: str(ipaddress.ip_network((t[0], t[1]), strict=False))
    ),
    st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 128)).map(
        lambda t: str(ipaddress.ip_network((t[0], t[1]), strict=False))
    ),
)


@given(NETWORKS)
def test_a_sealed_range_opens_to_itself_fits_its_column_and_hides_the_range(network) -> None:
    cipher = RangeCipher(b"test-pii-key-0123456789abcdef")
    sealed = cipher.seal(network)
    assert sealed.startswith(SEALED_PREFIX) and len(sealed) <= 128
    assert network not in sealed and cipher.open(sealed) == network
    assert cipher.seal(network) != sealed  # a fresh nonce each time


def test_a_range_sealed_under_another_key_or_altered_does_not_open() -> None:
    sealed = RangeCipher(b"key-one-0123456789abcdef").seal("198.51.100.200/31")
    with pytest.raises(ValueError):
        RangeCipher(b"key-two-0123456789abcdef").open(sealed)
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(ValueError):
        RangeCipher(b"key-one-0123456789abcdef").open(flipped)
    # A range written in clear before encryption reads as is.
    assert RangeCipher(b"key-one-0123456789abcdef").open("10.0.0.0/8") == "10.0.0.0/8"


@pytest.mark.parametrize(
    ("network", "masked"),
    [
        ("198.51.100.200/31", "198.51.100.*/31"),
        ("198.51.100.0/24", "198.51.100.*/24"),
        ("10.1.16.0/20", "10.1.*/20"),
        ("10.1.0.0/16", "10.1.0.0/16"),
        ("2001:db8:85a3:1234::/64", "2001:db8:85a3:*/64"),
        ("2001:db8:8500::/40", "2001:db8:*/40"),
        ("2001:db8::/32", "2001:db8::/32"),
    ],
)
def test_masks_keep_the_network_and_hide_the_subscriber(network, masked) -> None:
    assert mask_range(network) == masked
