"""The avatar hash: near-duplicates stay near, distinct pictures stay far, the form is canonical."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from avatars.images import TRANSFORMS, border, picture
from registry.avatars import InvalidHash, distance, hash_image, parse_hash
from registry.avatars.phash import MIN_QUALITY, trim_border

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
