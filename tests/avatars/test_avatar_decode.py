"""Decoding avatars: the formats taken, the limits kept, every bad input a clear InvalidAvatar."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from PIL import Image

from avatars.images import encode, picture
from registry.avatars import InvalidAvatar, decode_avatar
from registry.avatars.image import MAX_BYTES, MAX_SIDE


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_each_format_decodes_to_rgb_of_its_size(fmt):
    im = decode_avatar(encode(picture(1, 200), fmt))
    assert im.mode == "RGB" and im.size == (200, 200)


def test_a_data_url_prefix_and_line_breaks_are_accepted():
    text = encode(picture(2, 64))
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    assert decode_avatar("data:image/png;base64," + wrapped).size == (64, 64)


def test_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    im = decode_avatar(base64.b64encode(buffer.getvalue()).decode())
    assert im.getpixel((5, 5))[0] > 200  # red, not blue


def test_transparency_becomes_white():
    im = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    assert decode_avatar(encode(im)).getpixel((3, 3)) == (255, 255, 255)


@pytest.mark.parametrize(
    "text, says",
    [
        ("not base64!!", "base64"),
        ("", "Empty"),
        (base64.b64encode(b"GIF89a but not really").decode(), "PNG, JPEG, WebP or GIF"),
        ("data:image/png,abc", "data URL"),
    ],
)
def test_garbage_is_refused_clearly(text, says):
    with pytest.raises(InvalidAvatar, match=says):
        decode_avatar(text)


def test_a_truncated_image_is_refused():
    text = encode(picture(3, 128), "PNG")
    raw = base64.b64decode(text)
    with pytest.raises(InvalidAvatar):
        decode_avatar(base64.b64encode(raw[: len(raw) // 2]).decode())


def test_other_formats_are_refused():
    with pytest.raises(InvalidAvatar):
        decode_avatar(encode(picture(4, 32), "BMP"))


def test_more_than_512_kib_is_refused_before_decoding():
    raw = b"\x89PNG" + bytes(MAX_BYTES)
    with pytest.raises(InvalidAvatar, match="512 KiB"):
        decode_avatar(base64.b64encode(raw).decode())


def _png_header_only(width: int, height: int) -> bytes:
    """Return a PNG that claims a size and holds a tiny compressed stream (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(MAX_SIDE + 1, 10), (10, MAX_SIDE + 1), (60_000, 60_000)])
def test_dimensions_beyond_4096_are_refused_without_decoding(size):
    # Pillow's own bomb check answers first for the absurd size; either way nothing is decoded.
    with pytest.raises(InvalidAvatar, match="outside|acceptable size"):
        decode_avatar(base64.b64encode(_png_header_only(*size)).decode())


def test_a_real_4096_square_within_the_byte_limit_is_accepted():
    buffer = io.BytesIO()
    Image.new("L", (MAX_SIDE, MAX_SIDE), 128).save(buffer, "PNG", optimize=True)
    assert len(buffer.getvalue()) <= MAX_BYTES
    assert decode_avatar(base64.b64encode(buffer.getvalue()).decode()).size == (MAX_SIDE, MAX_SIDE)
