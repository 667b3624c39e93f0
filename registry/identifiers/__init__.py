"""Personal identifiers: canonical forms, check characters, keyed hashes, IP ranges and Bloom filters."""

from registry.identifiers.bloom import IdentifierFilter
from registry.identifiers.checkdigits import (
    is_valid_resident_id,
    is_valid_uscc,
    resident_id_check_char,
    uscc_check_char,
)
from registry.identifiers.hashing import PiiHasher
from registry.identifiers.iprange import IpRangeSet
from registry.identifiers.normalize import (
    FIELDS,
    InvalidIdentifier,
    is_assigned_phone,
    normalize,
    normalize_device_id,
    normalize_email,
    normalize_id_number,
    normalize_ip,
    normalize_ip_or_network,
    normalize_phone,
    normalize_phone_checked,
    normalize_uscc,
)

__all__ = [
    "FIELDS",
    "IdentifierFilter",
    "InvalidIdentifier",
    "IpRangeSet",
    "PiiHasher",
    "is_valid_resident_id",
    "is_valid_uscc",
    "normalize",
    "normalize_device_id",
    "normalize_email",
    "normalize_id_number",
    "normalize_ip",
    "normalize_ip_or_network",
    "normalize_phone",
    "normalize_phone_checked",
    "is_assigned_phone",
    "normalize_uscc",
    "resident_id_check_char",
    "uscc_check_char",
]
