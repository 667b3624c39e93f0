"""An in-memory index from IP addresses and CIDR ranges to payloads (such as ban ids).

A lookup masks the address once per prefix length in use and probes a dict, so its cost grows with
the number of distinct prefix lengths (at most 33 for IPv4, 129 for IPv6), not with the number of
entries.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

from registry.identifiers.normalize import parse_ip, parse_ip_network

P = TypeVar("P", bound=Hashable)

_BITS = {4: 32, 6: 128}


def _mask(version: int, prefixlen: int) -> int:
    bits = _BITS[version]
    return ((1 << prefixlen) - 1) << (bits - prefixlen)


class IpRangeSet(Generic[P]):
    """Map IPv4 and IPv6 addresses and ranges to payloads; find every payload covering an address."""

    def __init__(self) -> None:
        # version -> prefix length -> network address as int -> payloads
        self._tables: dict[int, dict[int, dict[int, set[P]]]] = {4: {}, 6: {}}
        # Longest prefix first, so a caller reading the result order gets nothing surprising; kept
        # sorted on write because lookups vastly outnumber writes.
        self._prefixes: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        self._where: dict[P, set[tuple[int, int, int]]] = {}

    def __len__(self) -> int:
        return sum(len(t) for table in self._tables.values() for t in table.values())

    def __bool__(self) -> bool:
        return bool(self._where)

    def add(self, network_text: object, payload: P) -> None:
        """Index an address or CIDR range under payload; raise InvalidIdentifier if it is neither."""
        network = parse_ip_network(network_text)
        version, prefixlen = network.version, network.prefixlen
        key = int(network.network_address)
        by_prefix = self._tables[version]
        if prefixlen not in by_prefix:
            by_prefix[prefixlen] = {}
            self._reindex(version)
        by_prefix[prefixlen].setdefault(key, set()).add(payload)
        self._where.setdefault(payload, set()).add((version, prefixlen, key))

    def remove_payload(self, payload: P) -> None:
        """Drop payload from every address and range it was added under."""
        for version, prefixlen, key in self._where.pop(payload, ()):
            by_prefix = self._tables[version]
            bucket = by_prefix[prefixlen][key]
            bucket.discard(payload)
            if not bucket:
                del by_prefix[prefixlen][key]
                if not by_prefix[prefixlen]:
                    del by_prefix[prefixlen]
                    self._reindex(version)

    def lookup(self, address_text: object) -> set[P]:
        """Return the payloads of every address or range that contains the address."""
        address = parse_ip(address_text)
        value = int(address)
        by_prefix = self._tables[address.version]
        found: set[P] = set()
        for prefixlen, mask in self._prefixes[address.version]:
            bucket = by_prefix[prefixlen].get(value & mask)
            if bucket:
                found |= bucket
        return found

    def payloads(self) -> set[P]:
        """Return every payload in the set."""
        return set(self._where)

    def _reindex(self, version: int) -> None:
        self._prefixes[version] = [
            (prefixlen, _mask(version, prefixlen))
            for prefixlen in sorted(self._tables[version], reverse=True)
        ]
