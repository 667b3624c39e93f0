"""Preparing a ban: validating and normalising its identifiers, hashing and masking them, encoding its
names, and the fingerprint that makes an import idempotent; pure but for the account capture."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from registry.accounts.models import IDENTIFIER_FIELDS, Account
from registry.avatars.inputs import AvatarError, read_hash, read_image
from registry.identifiers import (
    InvalidIdentifier,
    PiiHasher,
    normalize,
    normalize_ip_or_network,
    normalize_phone_checked,
)
from registry.identifiers.iprange import mask_range
from registry.jsonlines import flatten_errors
from registry.matching import encode_name
from registry.rules import check_rule as catalogue_check

BAN_FIELDS = IDENTIFIER_FIELDS


class BanInputError(ValueError):
    """A ban document is unusable; ``errors`` is shaped like marshmallow's (field -> messages)."""

    def __init__(self, errors: Mapping[str, Any]) -> None:
        super().__init__(flatten_errors(errors))
        self.errors = dict(errors)


@dataclass
class PreparedBan:
    """A validated ban in stored form: hashed identifiers, encoded names, and its fingerprint."""

    account_id: str | None
    reason: str
    rule: str
    expires_at: datetime | None
    # (kind, value_hash, value, mask): value (the clear range, sealed on insert) and mask for ip_range,
    # hash and mask for the rest.
    identifiers: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    names: list[tuple[str, str]] = field(default_factory=list)
    # (kind, 64-hex PDQ hash): kind "image", "crop", "band", "side", "tone" or "hash" (registry/avatars).
    avatars: list[tuple[str, str]] = field(default_factory=list)
    fingerprint: str = ""
    id: str = ""
    # Phone numbers kept although libphonenumber does not know them as assigned (import warnings).
    unassigned_phones: int = 0

    def add_identifier(self, kind: str, digest: str | None, value: str | None, mask: str | None) -> None:
        """Add one identifier unless the ban already holds it."""
        if not any(i[0] == kind and i[1] == digest and i[2] == value for i in self.identifiers):
            self.identifiers.append((kind, digest, value, mask))

    def add_avatar(self, kind: str, digest: str | None) -> None:
        """Add one avatar hash unless the ban already holds it."""
        if digest and not any(h == digest for _, h in self.avatars):
            self.avatars.append((kind, digest))

    def add_name(self, name: str | None) -> None:
        """Add one name (with its match keys) unless the ban already holds it."""
        if name and not any(n == name for n, _ in self.names):
            self.names.append((name, encode_name(name)))


def prepare_ban(data: Mapping[str, Any], pii: PiiHasher) -> PreparedBan:
    """Normalise, hash and mask a schema-loaded ban body; raise BanInputError naming bad identifiers."""
    prepared = PreparedBan(data.get("account_id"), data["reason"], data["rule"], data.get("expires_at"))
    errors: dict[str, dict[str, list[str]]] = {}
    idents = data.get("identifiers") or {}
    for kind in BAN_FIELDS:
        for position, raw in enumerate(idents.get(kind) or ()):
            try:
                if kind == "ip":
                    canonical = normalize_ip_or_network(raw)
                    if "/" in canonical:
                        # Matched by containment, so not hashable: held in clear here, sealed (AES-GCM)
                        # when written, shown masked (registry/identifiers/iprange.py).
                        prepared.add_identifier("ip_range", None, canonical, mask_range(canonical))
                        continue
                elif kind == "phone":
                    canonical, assigned = normalize_phone_checked(raw)
                    prepared.unassigned_phones += not assigned
                else:
                    canonical = normalize(kind, raw)
            except InvalidIdentifier as exc:
                errors.setdefault(kind, {})[str(position)] = [exc.message]
                continue
            prepared.add_identifier(kind, pii.digest(kind, canonical), None, _mask(pii, kind, canonical))
    if errors:
        raise BanInputError({"identifiers": errors})
    for name in data.get("names") or ():
        if name.strip():
            prepared.add_name(name)
    bad: dict[str, list[str]] = {}
    for position, value in enumerate(data.get("avatars") or ()):
        try:
            # 64 hex digits are a hash; anything else must be a base64 image (48 bytes are no image).
            avatar = read_hash(value) if _looks_like_hash(value) else read_image(value, qr=False)
        except AvatarError as exc:
            bad[str(position)] = [exc.message]
            continue
        if avatar.plain:
            bad[str(position)] = ["Too plain an image to recognise (a flat colour or faint gradient)."]
        for kind, digest in avatar.banned():
            prepared.add_avatar(kind, digest)
    if bad:
        raise BanInputError({"avatars": bad})
    prepared.fingerprint = fingerprint(prepared)
    return prepared


def _looks_like_hash(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value.strip()) == 64
        and all(c in "0123456789abcdefABCDEF" for c in value.strip())
    )


def _mask(pii: PiiHasher, kind: str, canonical: str) -> str:
    # A canonical CN mobile masks without re-parsing it (what PiiHasher.mask gives, ~15 us cheaper).
    if kind == "phone" and len(canonical) == 14 and canonical.startswith("+861") and canonical[1:].isdigit():
        return f"+86 {canonical[3:6]}****{canonical[-4:]}"
    return pii.mask(kind, canonical)


def fingerprint(prepared: PreparedBan) -> str:
    """Return the sha256 of a ban's normalised content (what makes two import lines the same ban)."""
    content = [
        prepared.account_id,
        sorted(f"{kind}:{digest or value}" for kind, digest, value, _ in prepared.identifiers),
        sorted(name for name, _ in prepared.names),
        prepared.reason,
        prepared.rule,
        prepared.expires_at.isoformat() if prepared.expires_at else None,
    ]
    if prepared.avatars:
        # Only when there are avatars: bans without any keep the fingerprints they always had. Only the
        # whole image's hash: the variants beside it (crops, tone) change with the recipe, and an import
        # read again after such a change must still find its bans.
        content.append(sorted(digest for kind, digest in prepared.avatars if kind in ("image", "hash")))
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8")).hexdigest()


def capture_account(prepared: PreparedBan, account: Account) -> None:
    """Add the account's own names and identifier hashes to the ban."""
    for name in (account.username, account.display_name):
        prepared.add_name(name)
    for f in IDENTIFIER_FIELDS:
        digest = getattr(account, f"{f}_hash")
        if digest:
            prepared.add_identifier(f, digest, None, getattr(account, f"{f}_mask"))
    prepared.add_avatar("image" if account.avatar_crop_hash else "hash", account.avatar_hash)
    prepared.add_avatar("crop", account.avatar_crop_hash)
    prepared.add_avatar("band", account.avatar_band_hash)
    sides = account.avatar_side_hashes or ""
    for i in range(0, len(sides), 64):
        prepared.add_avatar("side", sides[i : i + 64])
    prepared.add_avatar("tone", account.avatar_tone_hash)


def check_rule(code: str) -> None:
    """Refuse a rule the rules catalogue (when configured) does not know or that does not allow bans (422)."""
    catalogue_check(code, action="ban")


def ban_audit_data(prepared: PreparedBan, source: str) -> dict[str, Any]:
    """Describe a ban for the audit trail: masks, ranges and names, never raw identifiers."""
    masks: dict[str, list[str]] = {}
    for kind, _digest, _value, mask in prepared.identifiers:
        masks.setdefault(kind, []).append(mask or "****")
    return {
        "account_id": prepared.account_id,
        "reason": prepared.reason,
        "rule": prepared.rule,
        "expires_at": prepared.expires_at,
        "identifiers": masks,
        "names": [n for n, _ in prepared.names],
        "source": source,
        "avatars": len(prepared.avatars),
    }
