"""Generate a realistic JSON Lines file of bans (one POST /v1/bans body per line) for benchmarks.

Usage: python scripts/gen_bans.py OUT.jsonl [--bans 1000000] [--seed 11]

Names: Chinese names, pinyin and English-style handles; a third of the bans draw their username from a
pool of popular names with Zipf weights (rank r weighs 1/r^1.1), the rest are fresh. Identifiers: about
three a ban across email, phone (valid CN mobiles), id_number (valid GB 11643 check character),
device_id, and a few single IPs and CIDR ranges. The first ``labelled`` bans get fresh names and always
carry a phone, an email and an id number, so a benchmark can disguise them and know the answer.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_names import english_handle, han_name, pinyin_handle

# Mobile prefixes libphonenumber accepts for CN (China Mobile, Unicom, Telecom).
MOBILE_PREFIXES = (
    "130 131 132 133 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 176 177 178 180 181 "
    "182 183 185 186 187 188 189 198 199"
).split()
# Area codes (province/city/district) as printed on real cards; the check does not validate them.
AREAS = (
    "110101 110105 110108 120103 310104 310115 320102 320106 330102 330106 340104 350203 370102 "
    "410105 420106 430104 440103 440305 440306 450103 500103 510107 530102 610113 620102"
).split()
MAIL_DOMAINS = (
    "qq.com",
    "qq.com",
    "163.com",
    "126.com",
    "gmail.com",
    "outlook.com",
    "foxmail.com",
    "sina.com",
)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
REASONS = ("spam ring", "fraud", "harassment", "ban evasion", "scam payments", "fake accounts")
RULES = ("R3.2", "R4.1", "R5", "R2.7")


def cn_mobile(rng: random.Random) -> str:
    """Return an 11-digit CN mobile number."""
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def id_number(rng: random.Random) -> str:
    """Return an 18-character resident identity number with a valid GB 11643 check character."""
    year = rng.randrange(1955, 2006)
    month = rng.randrange(1, 13)
    day = rng.randrange(1, 29)
    body = f"{rng.choice(AREAS)}{year:04d}{month:02d}{day:02d}{rng.randrange(1000):03d}"
    return body + ID_CHECK[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def email(rng: random.Random, handle: str) -> str:
    """Return an address whose mailbox looks like the handle (or a QQ number)."""
    domain = rng.choice(MAIL_DOMAINS)
    if domain == "qq.com" and rng.random() < 0.5:
        return f"{rng.randrange(10**5, 10**10)}@qq.com"
    local = "".join(c for c in handle.lower() if c.isascii() and (c.isalnum() or c in "._")).strip("._")
    return f"{local or 'user'}{rng.randrange(10**4)}@{domain}"


def device_id(rng: random.Random) -> str:
    """Return an Android-style 16-hex id or an IDFA-style UUID."""
    if rng.random() < 0.5:
        return f"{rng.getrandbits(64):016x}"
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()


def public_ip(rng: random.Random) -> str:
    """Return a random address in a public-looking first octet."""
    first = rng.choice((36, 58, 61, 101, 110, 112, 113, 114, 117, 119, 120, 121, 183, 202, 218, 222))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _zipf_cum(n: int, s: float) -> list[float]:
    out, total = [], 0.0
    for r in range(1, n + 1):
        total += 1 / r**s
        out.append(total)
    return out


@dataclass
class Labelled:
    """A ban the benchmark disguises: its names and raw identifiers, by line number (0-based)."""

    line: int
    names: list[str]
    identifiers: dict[str, list[str]] = field(default_factory=dict)


def _username(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.4:
        return pinyin_handle(rng)
    if r < 0.75:
        return english_handle(rng)
    return han_name(rng)


def make_ban(rng: random.Random, username: str, full: bool) -> dict[str, Any]:
    """Return one ban body; ``full`` bans always carry phone, email and id number."""
    names = [username]
    if rng.random() < 0.5:
        names.append(han_name(rng))
    idents: dict[str, list[str]] = {}
    if full or rng.random() < 0.9:
        idents["phone"] = [cn_mobile(rng)]
    if full or rng.random() < 0.8:
        idents["email"] = [email(rng, username)]
    if full or rng.random() < 0.6:
        idents["id_number"] = [id_number(rng)]
    if rng.random() < 0.6:
        idents["device_id"] = [device_id(rng)]
    r = rng.random()
    if r < 0.002:
        idents["ip"] = [f"{public_ip(rng).rsplit('.', 1)[0]}.0/24"]
    elif r < 0.1:
        idents["ip"] = [public_ip(rng)]
    body: dict[str, Any] = {
        "names": names,
        "identifiers": idents,
        "reason": rng.choice(REASONS),
        "rule": rng.choice(RULES),
    }
    if not full and rng.random() < 0.05:
        body["expires_at"] = f"20{rng.randrange(30, 40)}-0{rng.randrange(1, 10)}-15T00:00:00Z"
    return body


def generate(path: str | Path, n: int, *, seed: int = 11, labelled: int = 500) -> list[Labelled]:
    """Write n bans to path; return the first ``labelled`` of them for disguising."""
    rng = random.Random(seed)
    pool = [_username(rng) for _ in range(max(10, n // 20))]
    cum = _zipf_cum(len(pool), 1.1)
    out: list[Labelled] = []
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            full = i < labelled
            if not full and rng.random() < 1 / 3:
                username = rng.choices(pool, cum_weights=cum)[0]
            else:
                username = _username(rng)
            body = make_ban(rng, username, full)
            if full:
                out.append(Labelled(i, list(body["names"]), dict(body["identifiers"])))
            fh.write(json.dumps(body, ensure_ascii=False))
            fh.write("\n")
    return out


def main() -> None:
    """Write the file and say how long it took."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--bans", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    t = time.perf_counter()
    generate(args.out, args.bans, seed=args.seed)
    print(f"wrote {args.bans} bans to {args.out} in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
