"""What an avatar contributes to a signup check: reasons, and banned-avatar matches to confirm."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from registry.avatars.index import AvatarMatch
from registry.avatars.inputs import AvatarError, AvatarInput, read_avatar, read_hash

PROBE_HASHES = "avatar_probe_hashes"

SIMILAR = "similar_to_banned_avatar"
QR_CODE = "qr_code_in_avatar"
INVALID = "invalid_avatar"
# Decisions as data (the QR decision comes from REGISTRY_AVATAR_QR_DECISION). An invalid avatar is
# not held against the signup: POST /v1/accounts refuses the same image with a 422.
DECISIONS = {SIMILAR: "review", INVALID: "allow", QR_CODE: "review"}
# Many bans can share one avatar; the reviewer needs the nearest few, not all of them.
MAX_MATCHES = 5
# An avatar near this many distinct bans is a commonplace picture (a platform's default letter or
# silhouette, a stock photo), like a name held by many accounts: it says nothing about who this is.
COMMON_BANS = 20


def _with_probe_hashes(avatar: AvatarInput | None, extra: Any) -> AvatarInput | None:
    """Add a hash-only check's extra probe hashes (ignored beside an image, which makes its own)."""
    if avatar is None or avatar.field != "avatar_hash" or not extra:
        return avatar
    hashes = []
    for position, value in enumerate(extra):
        try:
            hashes.append(read_hash(value).hash)
        except AvatarError as exc:
            raise AvatarError(f"{PROBE_HASHES}.{position}", exc.message) from None
    return replace(avatar, probe_extra=tuple(h for h in hashes if h))


@dataclass
class AvatarFindings:
    """Reasons known at once, and (ban id, decision, reason) the database must confirm as active."""

    reasons: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    pending: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    # The nearest live match's distance, for the evidence model (None: no match).
    distance: int | None = None


def check_avatar(
    data: Mapping[str, Any],
    search: Callable[[list[str], int], list[AvatarMatch]],
    *,
    max_distance: int,
    qr_decision: str = DECISIONS[QR_CODE],
    keep: Callable[[AvatarMatch], bool] | None = None,
) -> AvatarFindings:
    """Hash the avatar (or take its ``avatar_hash``), look it up with ``search``, find QR codes."""
    out = AvatarFindings()
    try:
        avatar = read_avatar(data.get("avatar"), data.get("avatar_hash"), crop=False, qr=qr_decision != "off")
        avatar = _with_probe_hashes(avatar, data.get(PROBE_HASHES))
    except AvatarError as exc:
        out.reasons.append(
            (DECISIONS[INVALID], {"code": INVALID, "field": exc.field, "message": exc.message})
        )
        return out
    if avatar is None:
        return out
    if avatar.qr and qr_decision != "off":
        out.reasons.append((qr_decision, {"code": QR_CODE, "field": avatar.field}))
    matches = [m for m in search(avatar.probes(), max_distance) if keep is None or keep(m)]
    if len(matches) >= COMMON_BANS:
        return out
    for m in matches[:MAX_MATCHES]:
        reason: dict[str, Any] = {
            "code": SIMILAR,
            "field": avatar.field,
            "ban_id": m.ban_id,
            "distance": m.distance,
        }
        out.pending.append((m.ban_id, DECISIONS[SIMILAR], reason))
    if matches:
        out.distance = matches[0].distance
    return out
