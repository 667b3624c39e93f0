"""Check characters of Chinese identity numbers (GB 11643-1999) and credit codes (GB 32100-2015)."""

from __future__ import annotations

import datetime as dt

RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK_CHARS = "10X98765432"

# GB 32100 leaves out I, O, Z, S and V so codes cannot be misread as 1, 0, 2, 5 and U.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUES = {ch: i for i, ch in enumerate(USCC_ALPHABET)}


def _is_ascii_digits(s: str) -> bool:
    # str.isdigit() also accepts full-width and other Unicode digits, which the standards do not.
    return s.isascii() and s.isdigit()


def resident_id_check_char(first17: str) -> str:
    """Return the GB 11643 check character for the first 17 digits of an identity number."""
    if len(first17) != 17 or not _is_ascii_digits(first17):
        raise ValueError("expected 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK_CHARS[total % 11]


def is_valid_birth_date(yyyymmdd: str) -> bool:
    """Return whether an eight-digit YYYYMMDD string is a real calendar date."""
    if len(yyyymmdd) != 8 or not _is_ascii_digits(yyyymmdd):
        return False
    try:
        dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return False
    return True


def is_valid_resident_id(s: object) -> bool:
    """Return whether s is an 18-character resident identity number with a real birth date and check."""
    if not isinstance(s, str) or len(s) != 18:
        return False
    body, check = s[:17], s[17].upper()
    if not _is_ascii_digits(body) or not is_valid_birth_date(body[6:14]):
        return False
    return resident_id_check_char(body) == check


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100 check character for the first 17 characters of a credit code."""
    if len(first17) != 17 or any(ch not in _USCC_VALUES for ch in first17):
        raise ValueError("expected 17 characters from the USCC alphabet")
    total = sum(_USCC_VALUES[ch] * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(s: object) -> bool:
    """Return whether s is an 18-character Unified Social Credit Code with a correct check character."""
    if not isinstance(s, str) or len(s) != 18:
        return False
    # The standard uses upper case only; accepting lower case here would let two spellings of one
    # code through, so callers upper-case on purpose if they want to.
    if any(ch not in _USCC_VALUES for ch in s):
        return False
    return uscc_check_char(s[:17]) == s[17]
