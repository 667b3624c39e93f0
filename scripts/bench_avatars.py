"""Measure avatar hashing: recall per transformation, false matches at 1M banned avatars, speed, QR.

    python scripts/bench_avatars.py              # 1M banned avatars
    python scripts/bench_avatars.py --quick      # 20k, fewer pictures (while developing)

Needs the ``bench`` extra (scikit-image for its sample photographs, imagehash and OpenCV for the
candidates measured against). Pictures: scikit-image's photographs plus generated ones (noisy
gradients with shapes, distinct seeds). The 1M banned set: every picture's hashes (whole image and
central crop, as a ban stores them) plus random 256-bit hashes up to the size asked (random hashes are
the easy part; the generated pictures, which share a style, are where chance matches would come from).
Probes: pictures never banned (false matches) and transformed copies of banned ones (recall at scale).
Baselines in the same run: pHash and dHash (imagehash, 64 bits), plain PDQ without trim/crop/mirror,
a linear numpy scan of the same rows for probe time, OpenCV's QR detector beside zxing-cpp.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registry.avatars import AvatarIndex, distance, hash_image
from registry.avatars.inputs import read_image
from registry.avatars.qr import has_qr_code

PHOTOS = [
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "moon",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "clock",
    "page",
    "text",
    "brick",
    "grass",
    "gravel",
    "cell",
    "colorwheel",
    "logo",
]
THRESHOLD = {"pdq": 31, "pdq_plain": 31, "phash": 10, "dhash": 10}
BITS = {"pdq": 256, "pdq_plain": 256, "phash": 64, "dhash": 64}


def photos() -> dict[str, Image.Image]:
    import skimage.data

    out = {}
    for name in PHOTOS:
        im = Image.fromarray(getattr(skimage.data, name)())
        if im.mode == "RGBA":
            background = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(background, im)
        out[name] = im.convert("RGB")
    return out


def picture(seed: int, size: int = 256) -> Image.Image:
    """A distinct generated picture: a noisy gradient with coloured shapes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack(
        [np.sin(x * rng.uniform(2, 9) + rng.uniform(0, 6)) * np.cos(y * rng.uniform(2, 9)) for _ in range(3)],
        axis=-1,
    )
    im = Image.fromarray(np.uint8(np.clip((base + 1) / 2 + rng.normal(0, 0.08, base.shape), 0, 1) * 255))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(4, 9))):
        x0, y0 = (int(v) for v in rng.integers(0, size, 2))
        w, h = (int(v) for v in rng.integers(size // 8, size // 2, 2))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x0, y0, x0 + w, y0 + h], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return im


def jpeg(im: Image.Image, quality: int = 40) -> Image.Image:
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def crop(im: Image.Image, share: float, side: bool = False) -> Image.Image:
    w, h = im.size
    if side:
        return im.crop((int(w * share), 0, w, h))
    dx, dy = int(w * share / 2), int(h * share / 2)
    return im.crop((dx, dy, w - dx, h - dy))


def sticker(im: Image.Image) -> Image.Image:
    im = im.copy()
    w, h = im.size
    s = int(min(w, h) * 0.12)
    ImageDraw.Draw(im).ellipse([w - s - 4, h - s - 4, w - 4, h - 4], fill=(255, 220, 0))
    return im


def caption(im: Image.Image) -> Image.Image:
    im = im.copy()
    w, h = im.size
    band = int(h * 0.08)
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, h - band, w, h], fill=(0, 0, 0))
    draw.text((4, h - band + 1), "follow me 关注", fill=(255, 255, 255), font_size=max(8, band - 4))
    return im


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resize 50%": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "resize to 96 px": lambda im: im.resize((96, max(1, 96 * im.height // im.width))),
    "jpeg q40": jpeg,
    "crop 10% (centre)": lambda im: crop(im, 0.10),
    "crop 10% (one side)": lambda im: crop(im, 0.10, side=True),
    "crop 5% (one side)": lambda im: crop(im, 0.05, side=True),
    "white border 8%": lambda im: ImageOps.expand(im, int(max(im.size) * 0.08), "white"),
    "black border 8%": lambda im: ImageOps.expand(im, int(max(im.size) * 0.08), "black"),
    "brightness +30%": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    "contrast -30%": lambda im: ImageEnhance.Contrast(im).enhance(0.7),
    "mirror": ImageOps.mirror,
    "mirror + jpeg + resize": lambda im: jpeg(
        ImageOps.mirror(im).resize((im.width * 3 // 4, im.height * 3 // 4))
    ),
    "sticker 12%": sticker,
    "caption band 8%": caption,
}


# --- candidates: (hashes a ban stores, hashes a probe sends) -------------------------------------


def _bits_hex(bits: np.ndarray) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8).ravel()).tobytes().hex()


def cand_pdq(im: Image.Image) -> tuple[list[str], list[str]]:
    h = hash_image(im)
    return h.banned_hashes(), h.probe_hashes()


def cand_pdq_plain(im: Image.Image) -> tuple[list[str], list[str]]:
    import pdqhash

    bits, _ = pdqhash.compute(np.ascontiguousarray(np.asarray(im.convert("RGB"))))
    return [_bits_hex(bits)], [_bits_hex(bits)]


def _imagehash(kind: str) -> Callable[[Image.Image], tuple[list[str], list[str]]]:
    import imagehash

    fn = getattr(imagehash, kind)

    def run(im: Image.Image) -> tuple[list[str], list[str]]:
        h = _bits_hex(fn(im).hash)
        m = _bits_hex(fn(ImageOps.mirror(im)).hash)
        return [h], [h, m]

    return run


def nearest(banned: list[str], probes: list[str]) -> int:
    return min(distance(p, b) for p in probes for b in banned)


def recall_table(pictures: dict[str, Image.Image]) -> dict[str, dict[str, float]]:
    candidates = {
        "pdq": cand_pdq,
        "pdq_plain": cand_pdq_plain,
        "phash": _imagehash("phash"),
        "dhash": _imagehash("dhash"),
    }
    table: dict[str, dict[str, float]] = {}
    for name, fn in candidates.items():
        started = time.perf_counter()
        base = {k: fn(im) for k, im in pictures.items()}
        per_hash = (time.perf_counter() - started) / len(pictures) * 1000
        row: dict[str, float] = {"ms/image": per_hash}
        for tname, t in TRANSFORMS.items():
            hits = [nearest(base[k][0], fn(t(im))[1]) <= THRESHOLD[name] for k, im in pictures.items()]
            row[tname] = sum(hits) / len(hits)
        distinct = [nearest(base[a][0], base[b][1]) for a, b in itertools.permutations(pictures, 2)]
        row["distinct: min distance"] = min(distinct)
        row["distinct: pairs matched"] = sum(d <= THRESHOLD[name] for d in distinct) / len(distinct)
        table[name] = row
    return table


def print_table(table: dict[str, dict[str, float]], n: int) -> None:
    names = list(table)
    print(
        f"\nRecall per transformation ({n} pictures; thresholds: "
        + ", ".join(f"{k} {THRESHOLD[k]}/{BITS[k]} bits" for k in names)
        + ")"
    )
    print(f"{'':28}" + "".join(f"{k:>11}" for k in names))
    for key in table[names[0]]:
        cells = []
        for k in names:
            v = table[k][key]
            cells.append(
                f"{v:>11.2f}" if isinstance(v, float) and key != "distinct: min distance" else f"{v:>11}"
            )
        print(f"{key:28}" + "".join(cells))


# --- the 1M index ----------------------------------------------------------------------------------


def scale(n: int, generated: int, probes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    banned_pics = {f"gen{i}": picture(10_000 + i) for i in range(generated)}
    rows: list[tuple[str, str]] = []
    hashes = {}
    for key, im in banned_pics.items():
        h = hash_image(im)
        hashes[key] = h
        rows.extend((f"ban_{key}", x) for x in h.banned_hashes())
    image_rows = len(rows)
    hash_seconds = time.perf_counter() - started
    filler = rng.integers(0, 256, (max(0, n - len(rows)), 32), dtype=np.uint8)
    rows.extend((f"ban_r{i}", r.tobytes().hex()) for i, r in enumerate(filler))
    index = AvatarIndex()
    started = time.perf_counter()
    for i in range(0, len(rows), 100_000):
        index.add_many(rows[i : i + 100_000], defer_index=True)
    index.compact()
    build = time.perf_counter() - started
    print(
        f"\n1M index: {len(rows):,} rows ({image_rows:,} from {generated:,} generated pictures, "
        f"hashed in {hash_seconds:.1f} s; the rest random); built in {build:.1f} s, "
        f"{index.nbytes() / 2**20:.0f} MiB of arrays"
    )
    # False matches: distinct pictures never banned, probed as a check probes (whole and mirrored).
    outsiders = [hash_image(picture(900_000 + i)).probe_hashes() for i in range(probes)]
    false = [bool(index.search(p, 31)) for p in outsiders]
    print(f"false matches: {sum(false)} of {probes} distinct probes ({sum(false) / probes:.3%}) at 31 bits")
    near = []
    for key in list(banned_pics)[: min(len(banned_pics), probes // 4)]:
        for t in (
            "jpeg q40",
            "mirror + jpeg + resize",
            "crop 10% (centre)",
            "white border 8%",
            "caption band 8%",
        ):
            near.append((f"ban_{key}", hash_image(TRANSFORMS[t](banned_pics[key])).probe_hashes()))
    found = [any(m.ban_id == ban for m in index.search(p, 31)) for ban, p in near]
    print(
        f"recall at scale (jpeg, mirror+jpeg+resize, crop, border, caption of banned pictures): "
        f"{sum(found) / len(found):.3f} of {len(found)}"
    )
    # Probe times: the index against a linear scan of the same arrays.
    all_probes = [p for p in outsiders] + [p for _, p in near]
    timings = []
    for p in all_probes:
        t0 = time.perf_counter()
        index.search(p, 31)
        timings.append(time.perf_counter() - t0)
    scan_times = []
    for p in all_probes[:20]:
        t0 = time.perf_counter()
        index.scan(p, 31)
        scan_times.append(time.perf_counter() - t0)
    per = [t * 1000 for t in timings]
    hashes_per = statistics.mean(len(p) for p in all_probes)
    single = statistics.median(per) / hashes_per  # a check probes up to 4 hashes (whole, band, mirrored)
    print(
        f"probe (a check: {hashes_per:.1f} hashes): p50 {statistics.median(per):.3f} ms, p99 "
        f"{np.percentile(per, 99):.3f} ms; per hash {single:.3f} ms; linear scan "
        f"{statistics.median(scan_times) * 1000:.1f} ms for the same hashes: "
        f"{statistics.median(scan_times) / statistics.median(timings):.0f}x slower"
    )


def hashing_times(photo: Image.Image) -> None:
    big = photo.resize((512, 512))
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=90)
    text = base64.b64encode(buffer.getvalue()).decode()
    buffer = io.BytesIO()
    photo.resize((2048, 2048)).save(buffer, "JPEG", quality=70)
    text_big = base64.b64encode(buffer.getvalue()).decode()
    for label, t in (
        ("512x512 JPEG", text),
        (f"2048x2048 JPEG ({len(buffer.getvalue()) // 1024} KiB)", text_big),
    ):
        for what, kwargs in (
            ("check (4 probe hashes, QR)", {"crop": False}),
            ("ban (3 stored hashes)", {"crop": True, "qr": False}),
        ):
            read_image(t, **kwargs)
            times = []
            for _ in range(20):
                t0 = time.perf_counter()
                read_image(t, **kwargs)
                times.append(time.perf_counter() - t0)
            print(f"hashing {label}, {what}: {statistics.median(times) * 1000:.1f} ms")
    import imagehash

    t0 = time.perf_counter()
    for _ in range(20):
        imagehash.phash(big)
    per = (time.perf_counter() - t0) / 20 * 1000
    print(f"baseline: imagehash.phash of the decoded 512x512 image: {per:.1f} ms")


def qr_bench(n: int, negatives: list[Image.Image]) -> None:
    import cv2
    import segno

    cases = []
    for i in range(n):
        buffer = io.BytesIO()
        segno.make(f"https://u.wechat.com/r/{i:06d}", error="m").save(buffer, kind="png", scale=4, border=2)
        code = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
        side = [56, 72, 96, 128, 160][i % 5]
        code = code.resize((side, side), Image.Resampling.NEAREST)
        im = picture(50_000 + i, 256)
        im.paste(code, ((i * 37) % (256 - side), (i * 53) % (256 - side)))
        if i % 3 == 1:
            im = jpeg(im, 60)
        cases.append(im)
    detector = cv2.QRCodeDetector()

    def opencv(im: Image.Image) -> bool:
        ok, _ = detector.detect(np.asarray(im.convert("L")))
        return bool(ok)

    for name, fn in (("zxing-cpp", has_qr_code), ("opencv", opencv)):
        t0 = time.perf_counter()
        hits = sum(fn(c) for c in cases)
        per = (time.perf_counter() - t0) / len(cases) * 1000
        alarms = sum(fn(c) for c in negatives)
        print(
            f"QR {name}: found {hits}/{len(cases)} generated QR avatars (56-160 px codes, a third JPEG q60), "
            f"false alarms {alarms}/{len(negatives)} pictures without a code, {per:.1f} ms each"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="banned avatar hashes in the index")
    parser.add_argument("--generated", type=int, default=2000, help="generated pictures among them")
    parser.add_argument("--probes", type=int, default=1000, help="distinct pictures probed for false matches")
    parser.add_argument("--pictures", type=int, default=60, help="generated pictures in the recall table")
    parser.add_argument("--quick", action="store_true", help="small sizes, for development")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.quick:
        args.n, args.generated, args.probes, args.pictures = 20_000, 200, 200, 15
    shots = photos()
    pictures = {**shots, **{f"gen{i}": picture(i) for i in range(args.pictures)}}
    print_table(recall_table(pictures), len(pictures))
    hashing_times(shots["astronaut"])
    qr_bench(60 if not args.quick else 20, [picture(70_000 + i) for i in range(40)] + list(shots.values()))
    scale(args.n, args.generated, args.probes, args.seed)


if __name__ == "__main__":
    main()
