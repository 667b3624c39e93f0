"""An in-memory index from IP addresses and CIDR ranges to payloads (such as ban ids), and how ranges
are kept at rest: encrypted (AES-GCM under a key derived from the PII key) and shown masked.

A lookup masks the address once per prefix length in use and probes a dict, so its cost grows with
the number of distinct prefix lengths (at most 33 for IPv4, 129 for IPv6), not with the number of
entries.

A banned range such as 198.51.100.200/31 or an IPv6 /64 is usually one subscriber: personal data. It
cannot be stored as a keyed hash like a single address, because checks match ranges by containment
and need the network itself, so it is encrypted instead (the check index decrypts it when it builds).
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Hashable
from typing import Generic, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


# --- ranges at rest ------------------------------------------------------------------------------

# Stored form: this prefix, then base64url(nonce || ciphertext || tag). The prefix tells a sealed
# value from a range written in clear by a release before encryption (read as is until migrated).
SEALED_PREFIX = "g1:"
_HKDF_INFO = b"registry.ban_identifiers.ip_range.aes-gcm.v1"
# Bound into every ciphertext: a sealed range cannot be passed off as any other sealed field.
_AAD = b"ban_identifiers.ip_range"
_NONCE_BYTES = 12


class RangeCipher:
    """Seal and open CIDR ranges with AES-256-GCM under a key derived (HKDF-SHA256) from the PII key."""

    def __init__(self, pii_key: bytes) -> None:
        if not isinstance(pii_key, bytes | bytearray) or not pii_key:
            raise ValueError("the PII key must be non-empty bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(bytes(pii_key))
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "RangeCipher()"

    def seal(self, canonical: str) -> str:
        """Return the stored form of a canonical range (a fresh random nonce each time)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, canonical.encode("ascii"), _AAD)
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str) -> str:
        """Return the range a stored value holds; raise ValueError if it was not sealed with this key."""
        if not stored.startswith(SEALED_PREFIX):
            return stored  # written in clear before encryption; the migration seals these
        try:
            raw = base64.urlsafe_b64decode(stored[len(SEALED_PREFIX) :].encode("ascii"))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD)
        except (InvalidTag, ValueError) as exc:
            raise ValueError("sealed ip_range does not open with this key") from exc
        return plain.decode("ascii")


def mask_range(canonical: str) -> str:
    """Return a display form of a range: its network part cut short, the prefix length kept.

    Like a single address's mask (three octets, or an IPv6 /48): 198.51.100.200/31 shows as
    198.51.100.*/31 (a /24 as 198.51.100.*/24), a /20 as 10.1.*/20, an IPv6 /64 as
    2001:db8:85a3:*/64. Ranges of a /16 (IPv6: /32) or wider describe networks, not subscribers,
    and show whole.
    """
    network = ipaddress.ip_network(canonical, strict=False)
    length = network.prefixlen
    if network.version == 4:
        octets = str(network.network_address).split(".")
        if length <= 16:
            return str(network)
        return ".".join(octets[: 3 if length >= 24 else 2]) + f".*/{length}"
    if length <= 32:
        return str(network)
    groups = network.network_address.exploded.split(":")[: 3 if length >= 48 else 2]
    return ":".join(f"{int(g, 16):x}" for g in groups) + f":*/{length}"
