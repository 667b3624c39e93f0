"""Avatars: decode within limits, perceptual hashes, the banned-avatar index, QR codes (no Flask)."""

from registry.avatars.image import InvalidAvatar, decode_avatar
from registry.avatars.index import AvatarIndex, AvatarMatch
from registry.avatars.phash import AvatarHashes, InvalidHash, distance, hash_avatar, hash_image, parse_hash
from registry.avatars.qr import has_qr_code

__all__ = [
    "AvatarHashes",
    "AvatarIndex",
    "AvatarMatch",
    "InvalidAvatar",
    "InvalidHash",
    "decode_avatar",
    "distance",
    "has_qr_code",
    "hash_avatar",
    "hash_image",
    "parse_hash",
]
