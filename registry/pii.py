"""The app's keyed hasher for personal identifiers, and the one way views turn raw values into hashes."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from registry.identifiers.hashing import PiiHasher
from registry.identifiers.iprange import RangeCipher
from registry.identifiers.normalize import InvalidIdentifier, normalize
from registry.settings import app_settings


def hasher() -> PiiHasher:
    """Return the current app's hasher, keyed with REGISTRY_PII_KEY."""
    ext = current_app.extensions
    if "registry.pii" not in ext:
        settings = app_settings()
        ext["registry.pii"] = PiiHasher(settings.pii_key_bytes, settings.pii_key_version)
    return ext["registry.pii"]  # type: ignore[no-any-return]


def range_cipher() -> RangeCipher:
    """Return the current app's cipher for banned IP ranges (a key derived from REGISTRY_PII_KEY)."""
    ext = current_app.extensions
    if "registry.range_cipher" not in ext:
        ext["registry.range_cipher"] = RangeCipher(app_settings().pii_key_bytes)
    return ext["registry.range_cipher"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Protected:
    """One identifier after normalisation: its keyed hash and its masked display form."""

    field: str
    digest: str
    mask: str


def protect(field: str, value: object) -> Protected:
    """Normalise, hash and mask one identifier; raise InvalidIdentifier if it is malformed."""
    canonical = normalize(field, value)
    h = hasher()
    return Protected(field, h.digest(field, canonical), h.mask(field, canonical))


__all__ = ["InvalidIdentifier", "Protected", "hasher", "protect", "range_cipher"]
