"""Test images: distinct generated pictures, the usual transformations, QR avatars, as base64."""

from __future__ import annotations

import base64
import io

import numpy as np
import segno
from PIL import Image, ImageDraw, ImageEnhance, ImageOps


def picture(seed: int, size: int = 256) -> Image.Image:
    """Return a distinct picture: a noisy gradient with coloured shapes (textured, like a photo)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack(
        [np.sin(x * rng.uniform(2, 9) + rng.uniform(0, 6)) * np.cos(y * rng.uniform(2, 9)) for _ in range(3)],
        axis=-1,
    )
    noise = rng.normal(0, 0.08, (size, size, 3))
    im = Image.fromarray(np.uint8(np.clip((base + 1) / 2 + noise, 0, 1) * 255))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(4, 9))):
        x0, y0 = (int(v) for v in rng.integers(0, size, 2))
        w, h = (int(v) for v in rng.integers(size // 8, size // 2, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x0, y0, x0 + w, y0 + h], fill=colour)
    return im


def encode(im: Image.Image, fmt: str = "PNG", **options: object) -> str:
    """Return the image saved in a format, as base64."""
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def jpeg(im: Image.Image, quality: int = 40) -> Image.Image:
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def crop(im: Image.Image, share: float = 0.10) -> Image.Image:
    """Cut ``share`` of the width and height, half on each side."""
    w, h = im.size
    dx, dy = int(w * share / 2), int(h * share / 2)
    return im.crop((dx, dy, w - dx, h - dy))


def border(im: Image.Image, share: float = 0.08, colour: str = "white") -> Image.Image:
    return ImageOps.expand(im, border=int(max(im.size) * share), fill=colour)


def sticker(im: Image.Image, share: float = 0.12) -> Image.Image:
    """Put a small round sticker in the bottom right corner."""
    im = im.copy()
    w, h = im.size
    s = int(min(w, h) * share)
    ImageDraw.Draw(im).ellipse([w - s - 4, h - s - 4, w - 4, h - 4], fill=(255, 220, 0))
    return im


def caption(im: Image.Image, share: float = 0.08) -> Image.Image:
    """Write a caption on a dark band along the bottom."""
    im = im.copy()
    w, h = im.size
    band = int(h * share)
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, h - band, w, h], fill=(0, 0, 0))
    draw.text((4, h - band + 1), "follow me", fill=(255, 255, 255), font_size=max(8, band - 4))
    return im


TRANSFORMS = {
    "resize_half": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "resize_double": lambda im: im.resize((im.width * 2, im.height * 2), Image.Resampling.BICUBIC),
    "jpeg_q40": jpeg,
    "crop_10pc": crop,
    "border_white": border,
    "border_black": lambda im: border(im, colour="black"),
    "brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    "less_contrast": lambda im: ImageEnhance.Contrast(im).enhance(0.7),
    "mirror": ImageOps.mirror,
    "sticker": sticker,
    "caption": caption,
}


def qr_avatar(
    seed: int, side: int = 256, code_side: int = 96, text: str = "https://u.wechat.com/abc"
) -> Image.Image:
    """Return a picture with a QR code pasted in a corner (what the account rules forbid)."""
    buffer = io.BytesIO()
    segno.make(f"{text}{seed}", error="m").save(buffer, kind="png", scale=4, border=2)
    code = (
        Image.open(io.BytesIO(buffer.getvalue()))
        .convert("RGB")
        .resize((code_side, code_side), Image.Resampling.NEAREST)
    )
    im = picture(seed, side)
    im.paste(code, (side - code_side - 8, side - code_side - 8))
    return im
