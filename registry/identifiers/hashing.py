"""Keyed hashes and display masks for canonical identifiers.

A plain SHA-256 of a phone number (about 10^10 of them) or an identity number (about 10^11) is
reversed by enumeration in hours, so stored identifiers are HMACs under a managed key whose version
is recorded beside each digest. Masks are the only form of an identifier fit for screens and logs.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import phonenumbers

# Bumped only if the message layout below changes; it keeps digests of different layouts apart.
_DIGEST_LAYOUT = b"registry.identifiers.v1"


class PiiHasher:
    """Hash and mask canonical identifiers under one secret key."""

    def __init__(self, key: bytes, key_version: int = 1) -> None:
        if not isinstance(key, bytes | bytearray) or not key:
            raise ValueError("the PII key must be non-empty bytes")
        if key_version < 1:
            raise ValueError("key_version must be a positive integer")
        self._key = bytes(key)
        self.key_version = key_version

    def __repr__(self) -> str:
        # Never show the key, not even in a traceback or a debugger.
        return f"PiiHasher(key_version={self.key_version})"

    def digest(self, field: str, canonical: str) -> str:
        """Return the hex HMAC-SHA256 of a canonical identifier, separated by field."""
        # Field names never contain NUL, so "phone" + value can never collide with another field's
        # message: a banned phone digest cannot match a device id that happens to be the same digits.
        message = b"\x00".join((_DIGEST_LAYOUT, field.encode("utf-8"), canonical.encode("utf-8")))
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    @staticmethod
    def mask(field: str, canonical: str) -> str:
        """Return a display form of a canonical identifier that cannot identify the person."""
        masker = _MASKERS.get(field)
        if masker is None:
            return _FULL_MASK
        try:
            return masker(canonical)
        except (ValueError, phonenumbers.NumberParseException):
            # A value that is not in canonical form is shown as nothing rather than risk leaking it.
            return _FULL_MASK


_FULL_MASK = "****"


def _mask_phone(canonical: str) -> str:
    number = phonenumbers.parse(canonical, None)
    national = str(number.national_number)
    # Keep the first three (the carrier block in China) and last four only when at least four digits
    # stay hidden; shorter numbers keep only their last two.
    if len(national) >= 11:
        shown = national[:3] + "****" + national[-4:]
    elif len(national) > 4:
        shown = "****" + national[-2:]
    else:
        shown = _FULL_MASK
    return f"+{number.country_code} {shown}"


def _mask_email(canonical: str) -> str:
    local, sep, domain = canonical.rpartition("@")
    if not sep or not local or not domain:
        raise ValueError("not an email address")
    # A fixed "***" hides the length of the local part as well.
    return f"{local[0]}***@{domain}"


def _mask_id_number(canonical: str) -> str:
    if len(canonical) != 18:
        raise ValueError("not an identity number")
    # Area code and the last four (sequence and check) stay; the birth date is what identifies.
    return canonical[:6] + "********" + canonical[-4:]


def _mask_device_id(canonical: str) -> str:
    if len(canonical) < 12:
        return _FULL_MASK
    return canonical[:4] + "…" + canonical[-4:]


def _mask_ip(canonical: str) -> str:
    if "/" in canonical:
        # A range describes a network, not a subscriber.
        return str(ipaddress.ip_network(canonical))
    address = ipaddress.ip_address(canonical)
    if address.version == 4:
        return ".".join(str(address).split(".")[:3]) + ".*"
    # A /48 is a site, not a household.
    return str(ipaddress.ip_network((address, 48), strict=False))


_MASKERS = {
    "phone": _mask_phone,
    "email": _mask_email,
    "id_number": _mask_id_number,
    "device_id": _mask_device_id,
    "ip": _mask_ip,
}
