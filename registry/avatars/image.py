"""Decode an avatar sent as base64, in memory, within limits; nothing is written anywhere."""

from __future__ import annotations

import base64
import binascii
import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 512 * 1024
MAX_SIDE = 4096
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
# Decoded larger than this (JPEG draft mode) is wasted work: the hash reads 128x128, and a QR code
# readable at 256 pixels is what a person sees on an avatar.
DRAFT_SIDE = 256
# Base64 of MAX_BYTES plus a data-URL prefix and line breaks; longer text is refused before decoding.
MAX_TEXT = (MAX_BYTES + 2) // 3 * 4 + 4096


class InvalidAvatar(ValueError):
    """An avatar could not be used; ``message`` says why without echoing its content."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def decode_base64(text: str) -> bytes:
    """Return the bytes of base64 text (a ``data:image/...;base64,`` prefix allowed), at most 512 KiB."""
    if not isinstance(text, str):
        raise InvalidAvatar("Must be a base64 string.")
    if len(text) > MAX_TEXT:
        raise InvalidAvatar(f"Larger than {MAX_BYTES // 1024} KiB.")
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or not head.endswith(";base64"):
            raise InvalidAvatar("A data URL must be base64 (data:image/png;base64,...).")
    compact = "".join(text.split())
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAvatar("Not valid base64.") from None
    if not raw:
        raise InvalidAvatar("Empty image.")
    if len(raw) > MAX_BYTES:
        raise InvalidAvatar(f"Larger than {MAX_BYTES // 1024} KiB.")
    return raw


def open_image(raw: bytes) -> Image.Image:
    """Return the first frame of a PNG, JPEG, WebP or GIF as RGB, transparency on white.

    The size is read from the header and refused before any pixel is decoded, so a small file that
    claims huge dimensions (a decompression bomb) costs nothing; Pillow's own bomb check is an error too.
    """
    if len(raw) > MAX_BYTES:
        raise InvalidAvatar(f"Larger than {MAX_BYTES // 1024} KiB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im: Image.Image = Image.open(io.BytesIO(raw), formats=FORMATS)
            width, height = im.size
            if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE:
                raise InvalidAvatar(f"{width}x{height} is outside 1x1 to {MAX_SIDE}x{MAX_SIDE}.")
            if im.format == "JPEG":
                # Let libjpeg scale down while decoding (DCT scaling): a 4096-pixel photo decodes 8x faster.
                im.draft("RGB", (DRAFT_SIDE, DRAFT_SIDE))
            im.seek(0)
            im.load()
            im = ImageOps.exif_transpose(im) or im
            return _flatten(im)
    except InvalidAvatar:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidAvatar("Not a PNG, JPEG, WebP or GIF image of an acceptable size.") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError):
        # Truncated or corrupt data surfaces as any of these from the decoders.
        raise InvalidAvatar("The image data is corrupt or truncated.") from None


def _flatten(im: Image.Image) -> Image.Image:
    """Return RGB; transparent pixels become white (what an avatar shows on a light page)."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def decode_avatar(text: str) -> Image.Image:
    """Decode a base64 avatar into an RGB image held in memory; raise InvalidAvatar."""
    return open_image(decode_base64(text))
