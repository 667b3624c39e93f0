"""The avatar hash: PDQ (256 bits) of the image with any uniform border trimmed, squashed to 128x128.

Chosen by measurement (``scripts/bench_avatars.py``, README "Avatars"): against pHash and dHash (64
bits) PDQ keeps distinct photographs about 100 bits apart while re-encodes, resizes and brightness stay
within 31, and at 1M banned avatars a 64-bit hash cannot keep chance matches under 0.1% of probes.
Mirroring is handled by also hashing the mirrored probe; a crop by indexing, beside a banned image's
hash, the hash of its central 90% and of one-sided crops; a caption or sticker along the bottom by
hashing, on both sides, the top 85% too; a border by trimming uniform margins before hashing; clipped
highlights (a brightened copy) by hashing, on both sides, a tone-normalised copy too.

The exact steps (the README's reference snippet does the same) so platforms can compute
``avatar_hash`` themselves:
1. first frame, EXIF orientation applied, transparency composited on white, RGB;
2. trim: up to 3 passes, drop outer rows/columns where 98% of pixels are within 12 grey levels
   (Pillow's "L" conversion) of the median of the four corner pixels, unless less than a quarter of
   the image would remain (the median of the corners is the same for a mirrored image);
3. resize to 128x128 with Pillow's BILINEAR filter;
4. ``pdqhash.compute`` on the uint8 RGB array; the 256 returned bits packed most significant first
   (``numpy.packbits``) and written as 64 lower-case hex digits.
The mirror hash is step 4 on the 128x128 image flipped left to right (flipping commutes with the
resize); the crop hash is step 4 on the central 90% of the 128x128 image and the band hash on its
top 85% (and mirrored, on a probe), each resized back to 128x128 with BILINEAR. Cutting them from the
small image keeps a check's PDQs at one large resize. The side hashes cut 13 and 10 of the 128 pixels
(a ban: 90% and 92.5%) or 6 (a probe: 95%, and mirrored) from the left, right, top or bottom of the
128x128 image, then resize back to 128x128 with BILINEAR. The tone hash is step 4 on the 128x128
image with each channel clipped at its 75th percentile (numpy's ``method="lower"``: a value of the
channel) and stretched back to 0-255 in integers, ``(min(v, top) * 255 + top // 2) // top``; none
when that image's PDQ quality is below 20 (a letter on a flat colour becomes a flat colour).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image, ImageOps

from registry.avatars.image import decode_avatar

BITS = 256
HEX_DIGITS = BITS // 4
HASH_SIDE = 128
TRIM_TOLERANCE = 12
TRIM_SHARE = 0.98
TRIM_PASSES = 3
TRIM_KEEP = 0.25
CENTRE = 0.90
# A probe's own central 95%: a copy cropped 5% around lands on the ban's central 90% (a 5% crop is
# 2.5% of shift on every side, too far from both the whole and the 90% crop for PDQ).
PROBE_CENTRE = 0.95
BAND = 0.85
# One-sided crops: a ban indexes each side cut by 10% and by 7.5%, a probe tries each side cut by 5%
# more, so a copy cut by c of one side meets a stored cut b with a probe cut p where b - p is within
# about 1.25% of c, for c on the whole 0-10% range (b - p: 0, 2.5, 5, 7.5, 10). PDQ tolerates about
# 2.5% of shift (a 2.5% one-sided crop is a median 26 bits from the whole, 5% is 52): with the 10% cut
# alone the grid had 5% steps and crops of 2.5% and 7.5% matched about 3 times in 4.
SIDE_BAN = (0.90, 0.925)
SIDE_PROBE = 0.95
SIDES = ("left", "right", "top", "bottom")
# PDQ's quality (0-100) measures gradient energy; below this an image is too plain (a flat colour, a
# faint gradient) for its hash to say anything: every plain avatar would match every other.
MIN_QUALITY = 20
# The tone hash: each channel clipped at its own 75th percentile and stretched back to 0-255, on both
# sides. Brightening clips highlights (PDQ ignores a uniform gain, not the clipping); once a channel's
# top quarter is flattened either way, a copy brightened until up to a quarter of a channel saturates
# gives the same image as the original (brightness +30% matched 0.90 before, 0.97 with it).
TONE_PERCENTILE = 75


class InvalidHash(ValueError):
    """An ``avatar_hash`` that is not 64 hex digits."""


@dataclass(frozen=True)
class AvatarHashes:
    """What one image gives: its hash, its mirror's, its central crop's, its top band's, PDQ's quality."""

    hash: str
    mirror: str
    centre: str
    quality: int
    band: str | None = None
    band_mirror: str | None = None
    # A ban's one-sided 90% then 92.5% crops (left, right, top, bottom cut each), or a probe's 95% ones
    # and their mirrors.
    sides: tuple[str, ...] = ()
    # The tone-normalised image's hash (None when that image is too plain, as a letter on a flat
    # colour becomes).
    tone: str | None = None

    @property
    def plain(self) -> bool:
        """Tell whether the image is too plain to compare."""
        return self.quality < MIN_QUALITY

    def banned_hashes(self) -> list[str]:
        """Return the hashes a ban indexes for this image (whole, central crop, top band, sides, tone)."""
        return list(
            dict.fromkeys(h for h in (self.hash, self.centre, self.band, *self.sides, self.tone) if h)
        )

    def probe_hashes(self) -> list[str]:
        """Return the hashes a check probes with (whole and top band as sent and mirrored, sides, tone)."""
        extra = (self.hash, self.mirror, self.centre, self.band, self.band_mirror, *self.sides, self.tone)
        return list(dict.fromkeys(h for h in extra if h))


def _trim_once(im: Image.Image) -> Image.Image:
    grey = np.asarray(im.convert("L"), dtype=np.int16)
    height, width = grey.shape
    corners = sorted(int(v) for v in (grey[0, 0], grey[0, -1], grey[-1, 0], grey[-1, -1]))
    reference = (corners[1] + corners[2]) // 2
    near = np.abs(grey - reference) <= TRIM_TOLERANCE
    rows = near.mean(axis=1) >= TRIM_SHARE
    cols = near.mean(axis=0) >= TRIM_SHARE
    keep_rows = np.flatnonzero(~rows)
    keep_cols = np.flatnonzero(~cols)
    if keep_rows.size == 0 or keep_cols.size == 0:
        return im
    top, bottom = int(keep_rows[0]), int(keep_rows[-1]) + 1
    left, right = int(keep_cols[0]), int(keep_cols[-1]) + 1
    if (bottom - top) * (right - left) < TRIM_KEEP * height * width:
        return im
    if (top, bottom, left, right) == (0, height, 0, width):
        return im
    return im.crop((left, top, right, bottom))


def trim_border(im: Image.Image) -> Image.Image:
    """Drop uniform margins (a frame added around an avatar), in up to three passes."""
    for _ in range(TRIM_PASSES):
        trimmed = _trim_once(im)
        if trimmed is im:
            break
        im = trimmed
    return im


def _small(im: Image.Image) -> Image.Image:
    return im.resize((HASH_SIDE, HASH_SIDE), Image.Resampling.BILINEAR)


def _pdq(small: Image.Image) -> tuple[str, int]:
    bits, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(small, dtype=np.uint8)))
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex(), int(quality)


def side_box(side: str, keep: float, size: int = HASH_SIDE) -> tuple[int, int, int, int]:
    """Return the box keeping ``keep`` of the image with the rest cut from one side."""
    cut = round(size * (1 - keep))
    return {
        "left": (cut, 0, size, size),
        "right": (0, 0, size - cut, size),
        "top": (0, cut, size, size),
        "bottom": (0, 0, size, size - cut),
    }[side]


def tone_normalised(small: Image.Image) -> Image.Image:
    """Return the image with each channel clipped at its 75th percentile and stretched to 0-255."""
    # Per channel the k-th smallest value, what np.percentile(..., 75, method="lower") gives, read
    # from the histogram (256 counts a channel) rather than by sorting.
    counts = np.asarray(small.histogram(), dtype=np.int64).reshape(3, 256)
    k = (small.width * small.height - 1) * TONE_PERCENTILE // 100
    tops = np.maximum((np.cumsum(counts, axis=1) <= k).sum(axis=1), 1)[:, None]
    # One lookup table per channel, in integers (rounded), so every platform gets the same bytes.
    table = (np.minimum(np.arange(256)[None, :], tops) * 255 + tops // 2) // tops
    return small.point(table.ravel().tolist())


def hash_image(im: Image.Image, *, centre: bool = True) -> AvatarHashes:
    """Return the hashes of an RGB image (see the module docstring).

    ``centre=True`` (a ban): the central 90% and the 90% and 92.5% one-sided crops; ``centre=False``
    (a check): the central 95% and the 95% one-sided crops (and their mirrors) a probe tries instead.
    """
    trimmed = trim_border(im.convert("RGB"))
    small = _small(trimmed)
    digest, quality = _pdq(small)
    mirror, _ = _pdq(ImageOps.mirror(small))
    margin = int(HASH_SIDE * (1 - (CENTRE if centre else PROBE_CENTRE)) / 2)
    crop, _ = _pdq(_small(small.crop((margin, margin, HASH_SIDE - margin, HASH_SIDE - margin))))
    band_small = _small(small.crop((0, 0, HASH_SIDE, int(HASH_SIDE * BAND))))
    band, _ = _pdq(band_small)
    band_mirror, _ = _pdq(ImageOps.mirror(band_small))
    sides: tuple[str, ...]
    if centre:
        sides = tuple(_pdq(_small(small.crop(side_box(s, keep))))[0] for keep in SIDE_BAN for s in SIDES)
    else:
        # A probe also tries each cut on its mirror image: a mirrored copy cut 5% on one side.
        cuts = [_small(small.crop(side_box(s, SIDE_PROBE))) for s in SIDES]
        sides = tuple(_pdq(c)[0] for c in cuts) + tuple(_pdq(ImageOps.mirror(c))[0] for c in cuts)
    tone, tone_quality = _pdq(tone_normalised(small))
    return AvatarHashes(
        digest, mirror, crop, quality, band, band_mirror, sides, tone if tone_quality >= MIN_QUALITY else None
    )


def hash_avatar(text: str) -> AvatarHashes:
    """Decode a base64 avatar and hash it; raise InvalidAvatar."""
    return hash_image(decode_avatar(text))


def parse_hash(value: str) -> str:
    """Return an ``avatar_hash`` in canonical form (64 lower-case hex digits); raise InvalidHash."""
    if not isinstance(value, str):
        raise InvalidHash("Must be a string of 64 hex digits.")
    text = value.strip().lower()
    if len(text) != HEX_DIGITS or any(c not in "0123456789abcdef" for c in text):
        raise InvalidHash(f"Must be {HEX_DIGITS} hex digits (a {BITS}-bit PDQ hash).")
    return text


def to_words(hex_hashes: list[str]) -> np.ndarray:
    """Return hashes as an (n, 4) array of big-endian uint64 words."""
    if not hex_hashes:
        return np.zeros((0, 4), dtype=np.uint64)
    raw = bytes.fromhex("".join(hex_hashes))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, 4)


def distance(a: str, b: str) -> int:
    """Return the Hamming distance of two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
