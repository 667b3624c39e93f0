"""Canonical forms of personal identifiers, so two spellings of one identifier compare equal.

Every function takes whatever the caller got from JSON and either returns the canonical string or
raises InvalidIdentifier. Error messages never repeat the value: identifiers are personal data and
messages end up in logs and API responses.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import idna
import phonenumbers

from registry.identifiers.checkdigits import (
    USCC_ALPHABET,
    is_valid_birth_date,
    is_valid_uscc,
    resident_id_check_char,
)

FIELDS = ("email", "phone", "id_number", "device_id", "ip")

# Bounds the work NFKC, IDNA and phonenumbers do on hostile input before any rule runs.
MAX_INPUT_CHARS = 1024
MAX_DEVICE_ID_CHARS = 256


_LABELS = {
    "email": "Email address",
    "phone": "Phone number",
    "id_number": "Identity number",
    "uscc": "Unified Social Credit Code",
    "device_id": "Device id",
    "ip": "IP address",
}


class InvalidIdentifier(ValueError):
    """An identifier that has no canonical form; the message is safe to show and to log."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        self.message = f"{_LABELS.get(field, field)} {reason}."
        super().__init__(self.message)


def _text(field: str, value: object) -> str:
    """Return value as NFKC text with outer whitespace trimmed, or raise for non-strings and empties."""
    if not isinstance(value, str):
        raise InvalidIdentifier(field, "must be a string")
    if len(value) > MAX_INPUT_CHARS:
        raise InvalidIdentifier(field, f"is longer than {MAX_INPUT_CHARS} characters")
    # NFKC folds full-width letters, digits and punctuation (＠, １３８, ＋) into their ASCII forms.
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        raise InvalidIdentifier(field, "must not be empty")
    return text


# --- email -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailboxRule:
    """How one mail provider maps many address spellings onto one mailbox."""

    # Domains of one provider that deliver to the same mailbox fold onto this one.
    domain: str | None = None
    # Sub-addressing separator: everything from it on is a tag the mailbox ignores.
    tag_separator: str | None = None
    # Gmail ignores dots in the local part; almost nobody else does.
    drop_dots: bool = False


_GMAIL = MailboxRule(domain="gmail.com", tag_separator="+", drop_dots=True)
_MICROSOFT = MailboxRule(tag_separator="+")
_ICLOUD = MailboxRule(domain="icloud.com", tag_separator="+")
_PROTON = MailboxRule(domain="proton.me", tag_separator="+")
_PLUS_ONLY = MailboxRule(tag_separator="+")
_AS_IS = MailboxRule()

# Only what the providers document. An unknown domain gets no rule at all: cutting "+tag" on a
# server that treats "+" as an ordinary character would merge two people's mailboxes.
MAILBOX_RULES: dict[str, MailboxRule] = {
    "gmail.com": _GMAIL,
    "googlemail.com": _GMAIL,
    # Outlook, Hotmail, Live and MSN share sub-addressing but a name on each is a separate mailbox.
    "outlook.com": _MICROSOFT,
    "hotmail.com": _MICROSOFT,
    "live.com": _MICROSOFT,
    "msn.com": _MICROSOFT,
    # Yahoo's disposable addresses are "base-keyword".
    "yahoo.com": MailboxRule(tag_separator="-"),
    "icloud.com": _ICLOUD,
    "me.com": _ICLOUD,
    "mac.com": _ICLOUD,
    "proton.me": _PROTON,
    "protonmail.com": _PROTON,
    "pm.me": _PROTON,
    "fastmail.com": _PLUS_ONLY,
    "fastmail.fm": _PLUS_ONLY,
    # QQ Mail: every QQ account has "<QQ number>@qq.com" and may add an English alias on qq.com or
    # foxmail.com. Which alias belongs to which number cannot be read from the address, and
    # "name@qq.com" and "name@foxmail.com" may be two different people, so the domains stay apart.
    # Numeric local parts are kept exactly (leading digits are the account number). No documented
    # sub-addressing, so nothing is cut.
    "qq.com": _AS_IS,
    "foxmail.com": _AS_IS,
    # NetEase: 163, 126 and yeah.net are separate registrations of the same name.
    "163.com": _AS_IS,
    "126.com": _AS_IS,
    "yeah.net": _AS_IS,
}

# RFC 5322 "atext" specials; letters and digits are checked with str.isalnum so that SMTPUTF8
# (RFC 6531) local parts in Chinese and other scripts stay valid.
_LOCAL_SPECIALS = frozenset("!#$%&'*+-/=?^_`{|}~")


def _is_valid_local_part(local: str) -> bool:
    if not local or len(local.encode("utf-8")) > 64:
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    return all(ch.isalnum() or ch == "." or ch in _LOCAL_SPECIALS for ch in local)


# IDNA/UTS 46 costs ~15 us a call and a handful of provider domains make up most addresses.
@lru_cache(maxsize=4096)
def _email_domain(domain: str) -> str:
    # A trailing dot names the same fully qualified domain.
    if domain.endswith("."):
        domain = domain[:-1]
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidIdentifier("email", "has an invalid domain") from exc
    labels = ascii_domain.split(".")
    # A single label or a numeric top-level label (an IP address) is not a mail domain a person
    # signs up with.
    if len(labels) < 2 or labels[-1].isdigit() or len(ascii_domain) > 253:
        raise InvalidIdentifier("email", "has an invalid domain")
    return ascii_domain


def normalize_email(value: object) -> str:
    """Return the canonical mailbox for an email address, folding the provider's aliases."""
    text = _text("email", value)
    # Lower-casing the local part is not what RFC 5321 says, but every large provider does it, and
    # treating "A@x" and "a@x" as different would let a banned user back in with a capital letter.
    # NFKC runs again because lower-casing can produce characters with compatibility forms.
    text = unicodedata.normalize("NFKC", text.lower())
    local, sep, domain = text.rpartition("@")
    if not sep or not local or not domain:
        raise InvalidIdentifier("email", "must look like name@domain")
    if not _is_valid_local_part(local):
        raise InvalidIdentifier("email", "has an invalid name before the @")
    domain = _email_domain(domain)
    rule = MAILBOX_RULES.get(domain, _AS_IS)
    if rule.tag_separator is not None:
        local = local.split(rule.tag_separator, 1)[0]
    if rule.drop_dots:
        local = local.replace(".", "")
    if rule.domain is not None:
        domain = rule.domain
    if not _is_valid_local_part(local):
        raise InvalidIdentifier("email", "has no mailbox name once the provider's tag is removed")
    address = f"{local}@{domain}"
    if len(address.encode("utf-8")) > 254:
        raise InvalidIdentifier("email", "is longer than 254 bytes")
    return address


# --- phone -------------------------------------------------------------------------------------

# Separators people type between digit groups; anything else (letters, "ext.", "tel:") is refused
# rather than guessed at, because phonenumbers would turn "1-800-FLOWERS" into digits.
_PHONE_SEPARATORS = re.compile(r"[\s\-.()/]")
_PHONE_SHAPE = re.compile(r"\+?[0-9]{3,20}")


# The national part of a Chinese mobile (after "+86"/"0086", or bare with CN as default region).
_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_CN_MOBILE_PREFIX = re.compile(r"1[3-9]")
# Five-digit prefixes of such numbers libphonenumber has already called valid. For 11 digits starting
# 13-19, CN validity is decided by the first five digits (every CN pattern that can match such a number
# accepts any digit from the sixth on: tests/identifiers/test_phone_prefix_cache.py proves it from the
# metadata), so one real parse per prefix answers for every number sharing it (~35 us saved a phone).
# Invalid verdicts are not cached: they take the full path every time, with its own error message.
_CN_VALID_PREFIXES: set[str] = set()
CN_PREFIX_DIGITS = 5


def normalize_phone(value: object, default_region: str = "CN") -> str:
    """Return a phone number in E.164 form, or raise if it is not even a possible number."""
    return normalize_phone_checked(value, default_region)[0]


def normalize_phone_checked(value: object, default_region: str = "CN") -> tuple[str, bool]:
    """Return (E.164 form, whether libphonenumber knows the number as assigned); raise if impossible.

    libphonenumber's validity follows the numbering plan as published, which lags the carriers: about
    one random CN mobile in twenty is refused as "not valid" although it may be in use. Refusing such a
    number would throw away the whole ban or account it came with, so a number that is *possible* for
    its region (its length, and the region's overall number shape) is kept too, and callers that import
    in bulk count it as a warning. Only an impossible number is refused.
    """
    text = _PHONE_SEPARATORS.sub("", _text("phone", value))
    if not _PHONE_SHAPE.fullmatch(text):
        raise InvalidIdentifier("phone", "must contain only digits, an optional leading +, and separators")
    # "00" is the international prefix in China and most of the world; reading it as "+" keeps
    # "0086 138..." working whatever default region the caller passes. A bare "86" prefix is left to
    # phonenumbers, which strips a leading country code only when what remains is a valid number.
    if text.startswith("00"):
        text = "+" + text[2:]
    mobile = text[3:] if text.startswith("+86") else (text if default_region == "CN" else "")
    if not _CN_MOBILE.fullmatch(mobile):
        mobile = ""
    elif mobile[:CN_PREFIX_DIGITS] in _CN_VALID_PREFIXES:
        return "+86" + mobile, True
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        if mobile:
            # The shape of a CN mobile; phonenumbers took its first digits for a carrier-selection
            # prefix (179xx) and found too little behind them.
            return "+86" + mobile, False
        raise InvalidIdentifier("phone", "cannot be parsed") from exc
    if phonenumbers.is_valid_number(number):
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if mobile and e164 == "+86" + mobile:
            _CN_VALID_PREFIXES.add(mobile[:CN_PREFIX_DIGITS])
        return e164, True
    if mobile:
        return "+86" + mobile, False
    if not _is_possible(number, text):
        raise InvalidIdentifier("phone", "is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), False


def _is_possible(number: phonenumbers.PhoneNumber, text: str) -> bool:
    if not phonenumbers.is_possible_number(number):
        return False
    region = phonenumbers.region_code_for_number(number)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region) if region else None
    national = str(number.national_number)
    if region == "CN" and _CN_MOBILE_PREFIX.match(national):
        # 13-19 begins only mobiles in China, and those have 11 digits (the landline block starting
        # with 1 is Beijing's 10): "+86 1380013800" is a mobile with a digit missing.
        return False
    desc = metadata.general_desc if metadata is not None else None
    pattern = desc.national_number_pattern if desc is not None else None
    if pattern is None:
        return False
    # The region's overall shape (the union of every number type's pattern), and no digits dropped:
    # phonenumbers strips what it takes for a carrier-selection or national prefix, and for a number
    # it has no pattern for that can eat real digits ("+86 17900 1000000" would become +861000000),
    # making two people's numbers one. Only the country code and leading zeros (trunk prefix) may go.
    if re.fullmatch(pattern, national) is None:
        return False
    digits = text.lstrip("+")
    code = str(number.country_code)
    candidates = [digits[len(code) :]] if text.startswith("+") else [digits]
    if not text.startswith("+") and digits.startswith(code):
        candidates.append(digits[len(code) :])
    return any(rest.lstrip("0") == national for rest in candidates)


def is_assigned_phone(value: object, default_region: str = "CN") -> bool:
    """Tell whether a normalisable phone number is one libphonenumber knows as assigned."""
    return normalize_phone_checked(value, default_region)[1]


# --- resident identity number -------------------------------------------------------------------

_ID_SEPARATORS = re.compile(r"[\s\-]")


def normalize_id_number(value: object) -> str:
    """Return an 18-character resident identity number with an upper-case X, checked per GB 11643."""
    text = _ID_SEPARATORS.sub("", _text("id_number", value)).upper()
    if len(text) == 15 and text.isascii() and text.isdigit():
        # First-generation cards (1985-2004) carry 15 digits: a two-digit birth year and no check
        # character. Every holder was born in the 1900s, so "19" plus a computed check character
        # gives the number the same person's second-generation card carries; a ban on either form
        # then matches both.
        body = text[:6] + "19" + text[6:]
        if not is_valid_birth_date(body[6:14]):
            raise InvalidIdentifier("id_number", "has an impossible birth date")
        return body + resident_id_check_char(body)
    if len(text) != 18:
        raise InvalidIdentifier(
            "id_number", "must have 18 characters (or 15 digits for a first-generation card)"
        )
    body, check = text[:17], text[17]
    if not (body.isascii() and body.isdigit()) or check not in "0123456789X":
        raise InvalidIdentifier("id_number", "must be 17 digits followed by a digit or X")
    if not is_valid_birth_date(body[6:14]):
        raise InvalidIdentifier("id_number", "has an impossible birth date")
    if resident_id_check_char(body) != check:
        raise InvalidIdentifier("id_number", "fails its check character (GB 11643)")
    return text


def normalize_uscc(value: object) -> str:
    """Return an upper-case Unified Social Credit Code, checked per GB 32100."""
    text = _ID_SEPARATORS.sub("", _text("uscc", value)).upper()
    if len(text) != 18 or any(ch not in USCC_ALPHABET for ch in text):
        raise InvalidIdentifier("uscc", f"must be 18 characters from {USCC_ALPHABET}")
    if not is_valid_uscc(text):
        raise InvalidIdentifier("uscc", "fails its check character (GB 32100)")
    return text


# --- device id -----------------------------------------------------------------------------------

# Separators, controls and format characters (zero-width space, joiners, direction marks) are
# invisible in a device id, so keeping them would let one device pass for another.
_DROPPED_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


def normalize_device_id(value: object) -> str:
    """Return a device id case-folded, with whitespace and invisible characters removed."""
    text = _text("device_id", value)
    # NFKC again after casefold (folding can produce compatibility forms) and after the drop: NFKC
    # turns "´" into a space plus a combining accent, and once the space is gone the accent composes
    # with the letter before it.
    text = unicodedata.normalize("NFKC", text.casefold())
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    text = unicodedata.normalize("NFKC", text)
    if not text:
        raise InvalidIdentifier("device_id", "must not be empty")
    if len(text) > MAX_DEVICE_ID_CHARS:
        raise InvalidIdentifier("device_id", f"is longer than {MAX_DEVICE_ID_CHARS} characters")
    return text


# --- IP addresses and networks -------------------------------------------------------------------

# Narrower than this is almost certainly a typo ("0.0.0.0/0" would send every signup to review).
MIN_BAN_PREFIX = {4: 8, 6: 16}


def _fold_mapped(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; they are the same host.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_ip(value: object, field: str = "ip") -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Return the ipaddress object for an address, IPv4-mapped IPv6 folded to IPv4."""
    text = _text(field, value)
    if "%" in text:
        # A zone index ("fe80::1%eth0") only means something on the host that wrote it.
        raise InvalidIdentifier(field, "must not carry a zone index")
    try:
        address = ipaddress.ip_address(text)
    except ValueError as exc:
        raise InvalidIdentifier(field, "is malformed") from exc
    return _fold_mapped(address)


def normalize_ip(value: object) -> str:
    """Return the canonical text of an IP address."""
    return str(parse_ip(value))


def parse_ip_network(value: object, field: str = "ip") -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Return the ipaddress network for an address or CIDR range, host bits cleared."""
    text = _text(field, value)
    if "/" not in text:
        address = parse_ip(text, field)
        return ipaddress.ip_network(address)
    if "%" in text:
        raise InvalidIdentifier(field, "must not carry a zone index")
    try:
        # strict=False: moderators paste "203.0.113.7/24" meaning "the /24 this address is in".
        # Refusing it would only make them retype it; clearing the host bits is what they meant, and
        # the canonical text shows them the range that was actually stored.
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise InvalidIdentifier(field, "must be an address or a CIDR range such as 203.0.113.0/24") from exc
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            network = ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    minimum = MIN_BAN_PREFIX[network.version]
    if network.prefixlen < minimum:
        raise InvalidIdentifier(
            field,
            f"covers too much: IPv{network.version} ranges must be /{minimum} or narrower",
        )
    return network


def normalize_ip_or_network(value: object) -> str:
    """Return the canonical text of an address or CIDR range; a one-address range reads as the address."""
    network = parse_ip_network(value)
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)


# --- dispatch -------------------------------------------------------------------------------------

NORMALIZERS: dict[str, Callable[[object], str]] = {
    "email": normalize_email,
    "phone": normalize_phone,
    "id_number": normalize_id_number,
    "device_id": normalize_device_id,
    "ip": normalize_ip,
}


def normalize(field: str, value: object) -> str:
    """Return the canonical form of value for the identifier field named field."""
    try:
        normalizer = NORMALIZERS[field]
    except KeyError:
        raise InvalidIdentifier(field, "is not a known identifier field") from None
    return normalizer(value)
