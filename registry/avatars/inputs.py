"""Read the ``avatar`` / ``avatar_hash`` of a request into the hashes to store, index or probe with."""

from __future__ import annotations

from dataclasses import dataclass

from registry.avatars.image import InvalidAvatar, decode_avatar
from registry.avatars.phash import InvalidHash, hash_image, parse_hash
from registry.avatars.qr import has_qr_code


class AvatarError(ValueError):
    """An avatar or avatar hash is unusable; ``field`` names which, ``message`` says why."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class AvatarInput:
    """One avatar as the registry keeps it: hashes only."""

    field: str
    # The account's hashes (None: too plain an image to compare, or none sent).
    hash: str | None
    crop_hash: str | None = None
    band_hash: str | None = None
    # A ban's one-sided crops (left, right, top, bottom cut to 90%, then to 92.5%), 64 hex digits each
    # run together (4 of them in hashes stored before the 92.5% cuts).
    side_hashes: str | None = None
    tone_hash: str | None = None
    # Probe-only hashes (mirrored whole image and top band); never stored.
    probe_extra: tuple[str, ...] = ()
    qr: bool = False
    plain: bool = False

    def banned(self) -> list[tuple[str, str]]:
        """Return the (kind, hash) rows a ban stores for this avatar."""
        if self.hash is None:
            return []
        if self.field == "avatar_hash":
            return [("hash", self.hash)]
        rows = [("image", self.hash)]
        sides = self.side_hashes or ""
        extra = [("crop", self.crop_hash), ("band", self.band_hash)]
        extra += [("side", sides[i : i + 64]) for i in range(0, len(sides), 64)]
        extra.append(("tone", self.tone_hash))
        for kind, digest in extra:
            if digest and all(digest != h for _, h in rows):
                rows.append((kind, digest))
        return rows

    def probes(self) -> list[str]:
        """Return the hashes a check looks up (as sent and, for an image, mirrored and its top band)."""
        if self.hash is None:
            return []
        return list(dict.fromkeys([self.hash, *self.probe_extra]))


def read_image(text: str, *, crop: bool = True, qr: bool = True, field_name: str = "avatar") -> AvatarInput:
    """Decode and hash a base64 avatar; look for a QR code; raise AvatarError naming the field."""
    try:
        im = decode_avatar(text)
    except InvalidAvatar as exc:
        raise AvatarError(field_name, exc.message) from None
    hashes = hash_image(im, centre=crop)
    found_qr = has_qr_code(im) if qr else False
    if hashes.plain:
        return AvatarInput(field_name, None, qr=found_qr, plain=True)
    return AvatarInput(
        field_name,
        hashes.hash,
        crop_hash=hashes.centre if crop else None,
        band_hash=hashes.band,
        side_hashes="".join(hashes.sides) if crop else None,
        tone_hash=hashes.tone if crop else None,
        probe_extra=tuple(h for h in hashes.probe_hashes() if h != hashes.hash),
        qr=found_qr,
    )


def read_hash(value: str, *, field_name: str = "avatar_hash") -> AvatarInput:
    """Validate an ``avatar_hash``; raise AvatarError naming the field."""
    try:
        return AvatarInput(field_name, parse_hash(value))
    except InvalidHash as exc:
        raise AvatarError(field_name, str(exc)) from None


def read_avatar(
    avatar: str | None, avatar_hash: str | None, *, crop: bool = True, qr: bool = True
) -> AvatarInput | None:
    """Read whichever of ``avatar`` (preferred) and ``avatar_hash`` was sent; None when neither."""
    if avatar is not None:
        return read_image(avatar, crop=crop, qr=qr)
    if avatar_hash is not None:
        return read_hash(avatar_hash)
    return None
