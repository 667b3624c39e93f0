"""Measure avatar hashing: recall per transformation, false matches at 1M banned avatars, speed, QR.

    python scripts/bench_avatars.py              # 1M banned avatars
    python scripts/bench_avatars.py --quick      # 20k, fewer pictures (while developing)

Needs the ``bench`` extra (scikit-image for its sample photographs, imagehash and OpenCV for the
candidates measured against). Pictures: scikit-image's photographs plus generated ones (noisy
gradients with shapes, distinct seeds). The 1M banned set: every picture's hashes (all those a ban
stores: whole, crops, band, tone) plus random 256-bit hashes up to the size asked (random hashes are
the easy part; the generated pictures, which share a style, are where chance matches would come from).
Probes: pictures never banned (false matches) and transformed copies of banned ones (recall at scale).
Baselines in the same run: pHash and dHash (imagehash, 64 bits), plain PDQ without trim/crop/mirror,
the previous design (no 92.5% one-sided crops, no tone hash),
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
from registry.avatars.check import COMMON_BANS
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
THRESHOLD = {"pdq": 31, "pdq_before": 31, "pdq_plain": 31, "phash": 10, "dhash": 10}
BITS = {"pdq": 256, "pdq_before": 256, "pdq_plain": 256, "phash": 64, "dhash": 64}


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


def crop(im: Image.Image, share: float, side: str = "") -> Image.Image:
    """Cut ``share`` of the image: half on each side (centre) or all from one side."""
    w, h = im.size
    cx, cy = int(w * share), int(h * share)
    if side:
        box = {
            "left": (cx, 0, w, h),
            "right": (0, 0, w - cx, h),
            "top": (0, cy, w, h),
            "bottom": (0, 0, w, h - cy),
        }
        return im.crop(box[side])
    dx, dy = int(w * share / 2), int(h * share / 2)
    return im.crop((dx, dy, w - dx, h - dy))


def letter_avatar(ch: str, background: tuple[int, int, int], size: int = 256) -> Image.Image:
    """A platform's default avatar: a white letter on a plain colour."""
    im = Image.new("RGB", (size, size), background)
    ImageDraw.Draw(im).text((size * 0.3, size * 0.15), ch, fill=(255, 255, 255), font_size=int(size * 0.6))
    return im


def silhouette_avatar(
    background: tuple[int, int, int], figure: tuple[int, int, int], size: int = 256
) -> Image.Image:
    """A platform's default avatar: a head-and-shoulders silhouette on a plain colour."""
    im = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(im)
    draw.ellipse([size * 0.35, size * 0.18, size * 0.65, size * 0.48], fill=figure)
    draw.ellipse([size * 0.2, size * 0.55, size * 0.8, size * 1.15], fill=figure)
    return im


COLOURS = [(66, 133, 244), (219, 68, 55), (244, 180, 0), (15, 157, 88), (120, 120, 120), (171, 71, 188)]


def default_avatars(letters: str = "ABCWXY李王") -> dict[str, Image.Image]:
    """Default avatars: letters on plain colours and silhouettes (the same shape in several colours)."""
    out = {f"letter {ch} {c}": letter_avatar(ch, c) for ch in letters for c in COLOURS}
    out.update({f"silhouette {c}": silhouette_avatar(c, (230, 230, 230)) for c in COLOURS})
    out["silhouette grey"] = silhouette_avatar((230, 230, 230), (180, 180, 180))
    return out


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
    "crop 5% (centre)": lambda im: crop(im, 0.05),
    "crop 10% (centre)": lambda im: crop(im, 0.10),
    "crop 2.5% (left)": lambda im: crop(im, 0.025, "left"),
    "crop 5% (left)": lambda im: crop(im, 0.05, "left"),
    "crop 5% (bottom)": lambda im: crop(im, 0.05, "bottom"),
    "crop 2.5% (top)": lambda im: crop(im, 0.025, "top"),
    "crop 7.5% (right)": lambda im: crop(im, 0.075, "right"),
    "crop 7.5% (bottom)": lambda im: crop(im, 0.075, "bottom"),
    "crop 10% (left)": lambda im: crop(im, 0.10, "left"),
    "crop 10% (right)": lambda im: crop(im, 0.10, "right"),
    "crop 10% (top)": lambda im: crop(im, 0.10, "top"),
    "crop 10% (bottom)": lambda im: crop(im, 0.10, "bottom"),
    "white border 8%": lambda im: ImageOps.expand(im, int(max(im.size) * 0.08), "white"),
    "black border 8%": lambda im: ImageOps.expand(im, int(max(im.size) * 0.08), "black"),
    "brightness +30%": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    "brightness +50%": lambda im: ImageEnhance.Brightness(im).enhance(1.5),
    "brightness -30%": lambda im: ImageEnhance.Brightness(im).enhance(0.7),
    "contrast +30%": lambda im: ImageEnhance.Contrast(im).enhance(1.3),
    "contrast -30%": lambda im: ImageEnhance.Contrast(im).enhance(0.7),
    "mirror": ImageOps.mirror,
    "mirror + jpeg + resize": lambda im: jpeg(
        ImageOps.mirror(im).resize((im.width * 3 // 4, im.height * 3 // 4))
    ),
    "mirror + crop 5% (right)": lambda im: ImageOps.mirror(crop(im, 0.05, "right")),
    "crop 10% (top) + jpeg": lambda im: jpeg(crop(im, 0.10, "top")),
    "border + crop 5% (left)": lambda im: ImageOps.expand(
        crop(im, 0.05, "left"), int(max(im.size) * 0.06), "white"
    ),
    "sticker 12%": sticker,
    "caption band 8%": caption,
    "caption + jpeg + resize": lambda im: jpeg(caption(im).resize((im.width * 3 // 4, im.height * 3 // 4))),
}


# --- candidates: (hashes a ban stores, hashes a probe sends) -------------------------------------


def _bits_hex(bits: np.ndarray) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8).ravel()).tobytes().hex()


def cand_pdq(im: Image.Image) -> tuple[list[str], list[str]]:
    return hash_image(im).banned_hashes(), hash_image(im, centre=False).probe_hashes()


def cand_pdq_before(im: Image.Image) -> tuple[list[str], list[str]]:
    """The previous design: no 92.5% one-sided crops on a ban and no tone hash on either side."""
    h = hash_image(im)
    p = hash_image(im, centre=False)
    return [h.hash, h.centre, h.band or h.hash, *h.sides[:4]], [x for x in p.probe_hashes() if x != p.tone]


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


def recall_table(
    pictures: dict[str, Image.Image], defaults: dict[str, Image.Image]
) -> dict[str, dict[str, float]]:
    candidates = {
        "pdq": cand_pdq,
        "pdq_before": cand_pdq_before,
        "pdq_plain": cand_pdq_plain,
        "phash": _imagehash("phash"),
        "dhash": _imagehash("dhash"),
    }
    table: dict[str, dict[str, float]] = {}
    for name, fn in candidates.items():
        started = time.perf_counter()
        base = {k: fn(im) for k, im in pictures.items()}
        per_hash = (time.perf_counter() - started) / len(pictures) * 1000
        row: dict[str, float] = {"ms/image (ban + probe)": per_hash}
        for tname, t in TRANSFORMS.items():
            hits = [nearest(base[k][0], fn(t(im))[1]) <= THRESHOLD[name] for k, im in pictures.items()]
            row[tname] = sum(hits) / len(hits)
        distinct = [nearest(base[a][0], base[b][1]) for a, b in itertools.permutations(pictures, 2)]
        row["distinct: min distance"] = min(distinct)
        row["distinct: pairs matched"] = sum(d <= THRESHOLD[name] for d in distinct) / len(distinct)
        dbase = {k: fn(im) for k, im in defaults.items()}
        dd = [nearest(dbase[a][0], dbase[b][1]) for a, b in itertools.permutations(defaults, 2)]
        row["default avatars: pairs matched"] = sum(d <= THRESHOLD[name] for d in dd) / len(dd)
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


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def scale(n: int, generated: int, probes: int, seed: int, shots: dict[str, Image.Image]) -> None:
    """Index n banned avatars (their hashes as a ban stores them) and probe it as checks do."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    banned_pics = {f"gen{i}": picture(10_000 + i) for i in range(generated)}
    rows: list[tuple[str, str]] = []
    for key, im in banned_pics.items():
        rows.extend((f"ban_{key}", x) for x in hash_image(im).banned_hashes())
    # Default avatars, each banned many times over (banned accounts that never set a picture): the
    # first three colours of every letter and the silhouettes in those colours.
    defaults = default_avatars()
    banned_defaults = [k for k in defaults if any(str(c) in k for c in COLOURS[:3])]
    for number, key in enumerate(banned_defaults):
        hashes = hash_image(defaults[key])
        copies = hash_image(jpeg(defaults[key].resize((96, 96)), 70))
        for copy in range(25):
            h = hashes if copy % 2 else copies
            rows.extend((f"ban_default{copy}_{number}", x) for x in h.banned_hashes())
    image_rows, image_bans = len(rows), generated + 25 * len(banned_defaults)
    hash_seconds = time.perf_counter() - started
    per_avatar = max(1, round(image_rows / image_bans))
    filler_bans = max(0, n - image_bans)
    filler = rng.integers(0, 256, (filler_bans * per_avatar, 32), dtype=np.uint8)
    rows.extend((f"ban_r{i // per_avatar}", r.tobytes().hex()) for i, r in enumerate(filler))
    del filler
    index = AvatarIndex()
    started = time.perf_counter()
    for i in range(0, len(rows), 200_000):
        index.add_many(rows[i : i + 200_000], defer_index=True)
    index.compact()
    build = time.perf_counter() - started
    del rows
    print(
        f"\nIndex: {image_bans + filler_bans:,} banned avatars, {len(index):,} hashes ({image_rows:,} from "
        f"{generated:,} generated pictures and {len(banned_defaults)} default avatars banned 25 times each, "
        f"hashed in {hash_seconds:.1f} s; the rest random, {per_avatar} a ban); built in {build:.1f} s, "
        f"{index.nbytes() / 2**20:.0f} MiB of arrays ({index.nbytes() / len(index):.0f} bytes a hash)"
    )

    def judged(probe: list[str]) -> tuple[bool, bool]:
        """(anything within 31 bits, still evidence after the commonplace rule)."""
        found = index.search(probe, 31)
        return bool(found), 0 < len(found) < COMMON_BANS

    # False matches: pictures never banned, probed as a check probes.
    classes = {
        "generated pictures": [picture(900_000 + i) for i in range(probes)],
        "photographs (scikit-image)": list(shots.values()),
        "default avatars, other colours or letters": [
            im for k, im in {**defaults, **default_avatars("DEKMZ张")}.items() if k not in banned_defaults
        ],
    }
    all_probes: list[list[str]] = []
    for label, ims in classes.items():
        hashed = [hash_image(im, centre=False).probe_hashes() for im in ims]
        all_probes += hashed
        verdicts = [judged(p) for p in hashed]
        raw, kept = sum(v[0] for v in verdicts), sum(v[1] for v in verdicts)
        print(
            f"false matches, {label}: {raw} of {len(ims)} probes within 31 bits ({raw / len(ims):.2%}); "
            f"{kept} ({kept / len(ims):.2%}) after the commonplace rule (>= {COMMON_BANS} bans)"
        )
    near = []
    for key in list(banned_pics)[: min(len(banned_pics), max(20, probes // 4))]:
        for t in (
            "jpeg q40",
            "mirror + jpeg + resize",
            "crop 10% (centre)",
            "crop 10% (left)",
            "crop 5% (bottom)",
            "crop 2.5% (left)",
            "crop 7.5% (right)",
            "brightness +30%",
            "white border 8%",
            "caption band 8%",
        ):
            near.append(
                (f"ban_{key}", hash_image(TRANSFORMS[t](banned_pics[key]), centre=False).probe_hashes())
            )
    found = [any(m.ban_id == ban for m in index.search(p, 31)) for ban, p in near]
    print(
        f"recall at scale (jpeg, mirror+jpeg+resize, crop centre, crop left 10%, crop bottom 5%, crop left "
        f"2.5%, crop right 7.5%, brightness +30%, border, caption of banned pictures): "
        f"{sum(found) / len(found):.3f} of {len(found)}"
    )
    all_probes += [p for _, p in near]

    # Times: one hash looked up (a probe) and a check's whole set, against a linear scan in this run.
    # Wall time and this process's CPU time: on a shared machine the CPU time is what the work costs.
    def timed(fn: Callable[[], object]) -> tuple[float, float]:
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        return (time.perf_counter() - w0) * 1000, (time.process_time() - c0) * 1000

    singles = [h for p in all_probes for h in p][:2000]
    one = [timed(lambda h=h: index.search([h], 31)) for h in singles]
    whole = [timed(lambda p=p: index.search(p, 31)) for p in all_probes]
    scan = [timed(lambda h=h: index.scan([h], 31)) for h in singles[:: max(1, len(singles) // 15)][:15]]
    hashes_per = statistics.mean(len(p) for p in all_probes)
    for label, values in (
        (f"per probe (one hash, {len(one)} lookups)", one),
        (f"linear scan of the same rows (one hash, {len(scan)} lookups)", scan),
        (f"per check ({hashes_per:.1f} probe hashes in one call, {len(whole)} checks)", whole),
    ):
        wall, cpu = [v[0] for v in values], [v[1] for v in values]
        print(
            f"{label}: wall p50 {pct(wall, 50):.3f} ms, p99 {pct(wall, 99):.3f} ms; "
            f"CPU p50 {pct(cpu, 50):.3f} ms, p99 {pct(cpu, 99):.3f} ms"
        )
    ratio_wall = pct([v[0] for v in scan], 50) / pct([v[0] for v in one], 50)
    ratio_cpu = pct([v[1] for v in scan], 50) / max(pct([v[1] for v in one], 50), 1e-6)
    print(f"linear scan / index, per probe: {ratio_wall:.0f}x (wall p50), {ratio_cpu:.0f}x (CPU p50)")


def hashing_times(photo: Image.Image, repeats: int = 40) -> None:
    """Hashing one avatar as a check and as a ban does it (decode included), against imagehash's pHash."""
    probes = len(hash_image(photo, centre=False).probe_hashes())
    stored = len(hash_image(photo).banned_hashes())
    big = photo.resize((512, 512))
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=90)
    text = base64.b64encode(buffer.getvalue()).decode()
    buffer = io.BytesIO()
    photo.resize((2048, 2048)).save(buffer, "JPEG", quality=70)
    text_big = base64.b64encode(buffer.getvalue()).decode()
    import imagehash

    base = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        imagehash.phash(Image.open(io.BytesIO(base64.b64decode(text))))
        base.append((time.perf_counter() - t0) * 1000)
    print(
        f"\nbaseline: decode + imagehash.phash of the 512x512 JPEG: p50 {pct(base, 50):.1f} ms, "
        f"p99 {pct(base, 99):.1f} ms"
    )
    for label, t in (
        ("512x512 JPEG", text),
        (f"2048x2048 JPEG ({len(buffer.getvalue()) // 1024} KiB)", text_big),
    ):
        for what, kwargs in (
            (f"check ({probes} probe hashes, QR)", {"crop": False}),
            (f"ban ({stored} stored hashes)", {"crop": True, "qr": False}),
        ):
            read_image(t, **kwargs)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                read_image(t, **kwargs)
                times.append((time.perf_counter() - t0) * 1000)
            print(
                f"hashing {label}, {what}: p50 {pct(times, 50):.1f} ms, p99 {pct(times, 99):.1f} ms "
                f"({pct(times, 50) / pct(base, 50):.1f}x the baseline)"
            )


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
    parser.add_argument(
        "--n", type=int, default=1_000_000, help="banned avatars in the index (12 hashes each)"
    )
    parser.add_argument("--generated", type=int, default=2000, help="generated pictures among them")
    parser.add_argument("--probes", type=int, default=1000, help="distinct pictures probed for false matches")
    parser.add_argument("--pictures", type=int, default=60, help="generated pictures in the recall table")
    parser.add_argument("--quick", action="store_true", help="small sizes, for development")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only-scale", action="store_true", help="skip the recall table, hashing and QR")
    args = parser.parse_args()
    if args.quick:
        args.n, args.generated, args.probes, args.pictures = 20_000, 200, 200, 15
    shots = photos()
    pictures = {**shots, **{f"gen{i}": picture(i) for i in range(args.pictures)}}
    if not args.only_scale:
        print_table(recall_table(pictures, default_avatars()), len(pictures))
        hashing_times(shots["astronaut"])
    if not args.only_scale:
        qr_bench(
            60 if not args.quick else 20, [picture(70_000 + i) for i in range(40)] + list(shots.values())
        )
    scale(args.n, args.generated, args.probes, args.seed, shots)


if __name__ == "__main__":
    main()
