"""The avatar hash: near-duplicates stay near, distinct pictures stay far, the form is canonical."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageEnhance

from avatars.images import TRANSFORMS, border, picture
from registry.avatars import InvalidHash, distance, hash_image, parse_hash
from registry.avatars.phash import MIN_QUALITY, SIDES, tone_normalised, trim_border

THRESHOLD = 31  # the default REGISTRY_AVATAR_MAX_DISTANCE
PICTURES = [picture(seed) for seed in range(12)]
HASHES = [hash_image(im) for im in PICTURES]
# What the benchmark measures in full; here the transformations the hash must always survive.
ALWAYS = [
    "resize_half",
    "resize_double",
    "jpeg_q40",
    "crop_10pc",
    "border_white",
    "border_black",
    "brighter",
    "less_contrast",
    "mirror",
    "sticker",
    "caption",
]


def nearest(probe: Image.Image, index: int) -> int:
    banned = HASHES[index].banned_hashes()
    return min(distance(p, b) for p in hash_image(probe).probe_hashes() for b in banned)


@pytest.mark.parametrize("name", ALWAYS)
def test_transformed_copies_stay_within_the_threshold(name):
    for i, im in enumerate(PICTURES):
        assert nearest(TRANSFORMS[name](im), i) <= THRESHOLD, (name, i)


def cut(im: Image.Image, share: float, side: str) -> Image.Image:
    w, h = im.size
    dx, dy = int(w * share), int(h * share)
    boxes = {
        "left": (dx, 0, w, h),
        "right": (0, 0, w - dx, h),
        "top": (0, dy, w, h),
        "bottom": (0, 0, w, h - dy),
    }
    return im.crop(boxes[side])


@pytest.mark.parametrize("share", [0.025, 0.075])
@pytest.mark.parametrize("side", SIDES)
def test_a_one_sided_crop_between_the_grid_steps_matches(side, share):
    # 2.5% meets the ban's 92.5% cut through the probe's 95% cut; 7.5% meets it directly.
    for i, im in enumerate(PICTURES):
        assert nearest(cut(im, share, side), i) <= THRESHOLD, (side, share, i)


@pytest.mark.parametrize("gain", [1.3, 1.5])
def test_a_brightened_copy_with_clipped_highlights_matches(gain):
    for i, im in enumerate(PICTURES):
        assert nearest(ImageEnhance.Brightness(im).enhance(gain), i) <= THRESHOLD, (gain, i)


def test_a_ban_stored_before_the_new_variants_still_matches():
    # What bans stored before the 92.5% cuts and the tone hash hold: whole, centre, band, 90% cuts.
    for i, im in enumerate(PICTURES[:6]):
        h = HASHES[i]
        old = [h.hash, h.centre, h.band or h.hash, *h.sides[: len(SIDES)]]
        for name in ALWAYS:
            probes = hash_image(TRANSFORMS[name](im), centre=False).probe_hashes()
            assert min(distance(p, b) for p in probes for b in old) <= THRESHOLD, (name, i)


def _tone_reference(small: Image.Image) -> np.ndarray:
    """The README's formula: each channel clipped at np.percentile(..., 75, method="lower")."""
    a = np.asarray(small, dtype=np.uint16)
    top = np.maximum(np.percentile(a.reshape(-1, 3), 75, axis=0, method="lower").astype(np.uint16), 1)
    return ((np.minimum(a, top) * 255 + top // 2) // top).astype(np.uint8)


@pytest.mark.parametrize(
    "make",
    [
        lambda: picture(7, 128),
        lambda: ImageEnhance.Brightness(picture(8, 128)).enhance(0.2),
        lambda: Image.new("RGB", (128, 128), (0, 0, 0)),
        lambda: Image.fromarray(np.random.default_rng(3).integers(0, 256, (128, 128, 3), dtype=np.uint8)),
    ],
)
def test_the_tone_image_is_the_documented_formula(make):
    small = make()
    assert np.array_equal(np.asarray(tone_normalised(small)), _tone_reference(small))


def test_brightening_short_of_saturating_a_quarter_gives_the_same_tone_image():
    small = picture(10, 128)
    brighter = ImageEnhance.Brightness(small).enhance(1.3)
    saturated = (np.asarray(brighter) == 255).mean(axis=(0, 1))
    assert (saturated > 0.05).all() and (saturated < 0.25).all()  # clipped, but less than a quarter
    diff = np.abs(np.asarray(tone_normalised(small), int) - np.asarray(tone_normalised(brighter), int))
    assert diff.max() <= 2


def test_a_letter_on_a_flat_colour_has_no_tone_hash():
    # Clipped at its 75th percentile the letter disappears into the background: a flat image, whose
    # hash would match every other default avatar's.
    im = Image.new("RGB", (256, 256), (66, 133, 244))
    ImageDraw.Draw(im).text((70, 40), "A", fill=(255, 255, 255), font_size=150)
    hashes = hash_image(im)
    assert not hashes.plain and hashes.tone is None
    assert len(hashes.banned_hashes()) == len(set(hashes.banned_hashes()))


def test_distinct_pictures_are_far_apart():
    for a, b in itertools.combinations(HASHES, 2):
        assert min(distance(p, q) for p in a.probe_hashes() for q in b.banned_hashes()) > 2 * THRESHOLD


def test_hash_is_deterministic_and_canonical():
    again = hash_image(PICTURES[0])
    assert again == HASHES[0]
    assert len(again.hash) == 64 and again.hash == again.hash.lower()


def test_a_plain_image_is_too_plain_to_compare():
    assert hash_image(Image.new("RGB", (128, 128), (40, 90, 200))).quality < MIN_QUALITY
    assert not HASHES[0].plain


def test_trim_removes_a_frame_and_leaves_a_picture_alone():
    im = PICTURES[1]
    assert trim_border(border(im)).size == im.size
    assert trim_border(im).size == im.size


@given(st.binary(min_size=32, max_size=32))
def test_parse_hash_accepts_any_256_bits_in_either_case(raw):
    text = raw.hex()
    assert parse_hash(text.upper()) == text
    assert parse_hash(f"  {text} ") == text


@given(st.text(max_size=80))
def test_parse_hash_refuses_anything_else(text):
    stripped = text.strip().lower()
    if len(stripped) == 64 and all(c in "0123456789abcdef" for c in stripped):
        return
    with pytest.raises(InvalidHash):
        parse_hash(text)


def _readme_snippet():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Avatars") :]
    code = section[
        section.index("```python") + len("```python") : section.index("```\n", section.index("```python"))
    ]
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the documented reference, run as is
    return namespace["avatar_hash"]


@pytest.mark.parametrize(
    "make", [lambda: PICTURES[3], lambda: border(PICTURES[4]), lambda: PICTURES[5].convert("P")]
)
def test_the_readme_reference_snippet_gives_the_same_hash(tmp_path, make):
    path = tmp_path / "avatar.png"
    make().save(path)
    with Image.open(path) as im:
        expected = hash_image(im.convert("RGB")).hash
    assert _readme_snippet()(str(path)) == expected


def _readme_probe_snippet():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Avatars") :]
    start = section.index("```python\ndef probe_hashes")
    code = section[start + len("```python") : section.index("```\n", start + 3)]
    namespace: dict[str, object] = {"__builtins__": __builtins__}
    # It follows the first snippet and uses its imports.
    exec("import numpy as np, pdqhash\nfrom PIL import Image, ImageOps", namespace)  # noqa: S102
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the documented reference, run as is
    return namespace["probe_hashes"]


def test_the_readme_probe_recipe_gives_the_probe_hashes_a_check_makes():
    from registry.avatars.phash import _small, trim_border

    im = PICTURES[6]
    small = _small(trim_border(im))
    made = hash_image(im, centre=False)
    assert [made.hash, *_readme_probe_snippet()(small)] == made.probe_hashes()
