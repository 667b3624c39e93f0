"""Signing secrets: minted, sealed at rest, and used to sign ``timestamp + "." + body``.

A secret is shown once (at creation or rotation). The service must sign with it later, so it cannot
be stored as a one-way hash: it is stored sealed with AES-256-GCM under a key derived (HKDF-SHA256,
its own label) from REGISTRY_AUDIT_KEY, which lives in the service's environment, never in the
database; the subscription id is the associated data, so a sealed secret copied onto another row does
not open. A database reader alone learns nothing that signs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from registry.audit.keys import b64, unb64

SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "Registry-Signature"
_LABEL = b"registry webhook secrets v1"


def new_secret() -> str:
    """Return a fresh signing secret (shown to the caller once)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _key(audit_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(
        audit_key.encode("utf-8")
    )


def seal(audit_key: str, subscription_id: str, secret: str) -> str:
    """Return the secret sealed for storage on the subscription's row."""
    nonce = os.urandom(12)
    box = AESGCM(_key(audit_key)).encrypt(nonce, secret.encode("utf-8"), subscription_id.encode("utf-8"))
    return "v1." + b64(nonce + box)


def unseal(audit_key: str, subscription_id: str, sealed: str) -> str:
    """Open a sealed secret; raise ValueError if it was sealed under another key or for another row."""
    if not sealed.startswith("v1."):
        raise ValueError("unknown sealed secret format")
    raw = unb64(sealed[3:])
    try:
        plain = AESGCM(_key(audit_key)).decrypt(raw[:12], raw[12:], subscription_id.encode("utf-8"))
    except InvalidTag:
        raise ValueError("the secret does not open under REGISTRY_AUDIT_KEY") from None
    return plain.decode("utf-8")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``timestamp + "." + body`` under the secret (its UTF-8 bytes)."""
    return hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256
    ).hexdigest()


def signature_header(secrets_: Iterable[str], timestamp: int, body: bytes) -> str:
    """Return ``t=<unix seconds>,v1=<hex>[,v1=<hex>]``: one v1 per valid secret, the newest first."""
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in secrets_)])


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance: float = 300) -> bool:
    """Check a Registry-Signature header as a receiver does (the README's recipe, in Python)."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v.strip()) for k, v in parts if k.strip() == "v1")
