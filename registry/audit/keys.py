"""The audit trail's secrets: chain MAC, checkpoint signing key and the wrap key of subject keys.

Every key is derived (HKDF-SHA256) from REGISTRY_AUDIT_KEY, which lives outside the database: whoever
can write the database but not read the service's environment can neither recompute a chain hash,
sign a checkpoint nor unwrap a subject's data key.
"""

from __future__ import annotations

import base64
import hmac
import os
from dataclasses import dataclass
from functools import cached_property

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["AuditKeys", "InvalidSignature", "InvalidTag", "public_key_from_text"]


def _derive(secret: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(secret)


def b64(raw: bytes) -> str:
    """Encode bytes as unpadded URL-safe base64."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    """Decode unpadded URL-safe base64; raise ValueError on garbage."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not base64: {exc}") from None


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """Read a public key as printed by ``registry audit public-key`` (base64 of the raw 32 bytes)."""
    raw = unb64(text.strip())
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class AuditKeys:
    """Keys derived from REGISTRY_AUDIT_KEY."""

    secret: bytes

    @cached_property
    def chain_key(self) -> bytes:
        """Return the HMAC key of the entry hashes."""
        return _derive(self.secret, "registry audit chain v2")

    @cached_property
    def signing_key(self) -> Ed25519PrivateKey:
        """Return the Ed25519 key that signs checkpoints and export trailers."""
        return Ed25519PrivateKey.from_private_bytes(_derive(self.secret, "registry audit checkpoint v1"))

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        """Return the public half, which auditors need to check signatures."""
        return self.signing_key.public_key()

    @cached_property
    def public_key_text(self) -> str:
        """Return the public key as base64 of its 32 raw bytes."""
        return b64(self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))

    @cached_property
    def _wrapper(self) -> AESGCM:
        return AESGCM(_derive(self.secret, "registry audit subject key wrap v1"))

    def mac(self, message: bytes) -> str:
        """Return the hex HMAC-SHA256 of ``message`` under the chain key."""
        # The one-shot C path: the same HMAC as hmac.new(...).hexdigest(), without its Python objects.
        return hmac.digest(self.chain_key, message, "sha256").hex()

    def sign(self, message: bytes) -> str:
        """Sign ``message``; return the signature as base64."""
        return b64(self.signing_key.sign(message))

    def wrap(self, key_id: str, subject: str, data_key: bytes) -> str:
        """Encrypt a subject's data key under the wrap key (bound to its id and subject)."""
        nonce = os.urandom(12)
        return b64(nonce + self._wrapper.encrypt(nonce, data_key, f"{key_id}|{subject}".encode()))

    def unwrap(self, key_id: str, subject: str, wrapped: str) -> bytes:
        """Decrypt a wrapped data key; raise InvalidTag if it was not wrapped by us for that subject."""
        raw = unb64(wrapped)
        return self._wrapper.decrypt(raw[:12], raw[12:], f"{key_id}|{subject}".encode())


def verify_signature(public_key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    """Tell whether ``signature`` (base64) is the key's signature of ``message``."""
    try:
        public_key.verify(unb64(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def seal(data_key: bytes, aad: str, plaintext: bytes) -> str:
    """Encrypt with AES-256-GCM under a subject's data key; return nonce + ciphertext as base64."""
    nonce = os.urandom(12)
    return b64(nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad.encode()))


def unseal(data_key: bytes, aad: str, sealed: str) -> bytes:
    """Decrypt what ``seal`` made; raise InvalidTag or ValueError if it does not open."""
    raw = unb64(sealed)
    return AESGCM(data_key).decrypt(raw[:12], raw[12:], aad.encode())
