"""The app's keyed hasher for personal identifiers, and the one way views turn raw values into hashes."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from registry.app_state import app_object
from registry.identifiers.hashing import PiiHasher
from registry.identifiers.iprange import RangeCipher
from registry.identifiers.normalize import InvalidIdentifier, normalize
from registry.settings import app_settings


def hasher() -> PiiHasher:
    """Return the current app's hasher, keyed with REGISTRY_PII_KEY."""
    return app_object("registry.pii", PiiHasher, _make_hasher)


def range_cipher() -> RangeCipher:
    """Return the current app's cipher for banned IP ranges (a key derived from REGISTRY_PII_KEY)."""
    return app_object("registry.range_cipher", RangeCipher, _make_range_cipher)


def _make_hasher(app: Flask) -> PiiHasher:
    settings = app_settings(app)
    return PiiHasher(settings.pii_key_bytes, settings.pii_key_version)


def _make_range_cipher(app: Flask) -> RangeCipher:
    return RangeCipher(app_settings(app).pii_key_bytes)


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
