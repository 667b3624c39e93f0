"""Save the check index's indexes to a file and load them back, refusing anything not provably ours.

File layout: ``MAGIC``, a 4-byte header length, the JSON header, the pickled payload, and an
HMAC-SHA256 over everything before it, keyed by a key derived from the PII key. The header says what
the snapshot covers (the ``index_changes`` id it is current to, that change's subject and time, so a
snapshot of another database is told apart), the format version and the match settings it was built
with. A file that is truncated, altered, of another format, built under another PII key or other
match settings is refused with ``SnapshotRefused``; the caller logs it and builds from the database
instead.

Pickle (protocol 5) carries the flat arrays of the indexes at memory speed; it is safe here only because
the HMAC is checked before anything is unpickled: whoever can forge it holds the PII key already.
What the snapshot never holds: opened IP ranges (sealed in the database, loaded from there each time).
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"RGIDXSNP"
# Bump whenever the payload's shape or any index's layout or hashing changes.
# 5: name indexes hold the sorted-parts key of every name (keys.sorted_parts_key).
# 6: the name key counts are a flat table (commonness.KeyCounts), not a dict.
# 7: the account-identifier filter (``held``) beside the ban identifiers' one.
FORMAT_VERSION = 7
_TAG = 32


class SnapshotRefused(ValueError):
    """The snapshot file cannot be used; the message says why (for the log line)."""


@dataclass(frozen=True)
class SnapshotHeader:
    """What a snapshot says about itself, read before its payload is trusted."""

    format: int
    low_water: int
    event_subject: str
    event_at: str
    config: str
    pii_key_version: int
    bans: int
    names: int
    written_at: str


def snapshot_key(pii_key: bytes) -> bytes:
    """Derive the snapshot's MAC key from the PII key (never the PII key itself)."""
    return hmac.new(pii_key, b"registry check index snapshot", hashlib.sha256).digest()


def write(path: str | os.PathLike[str], header: SnapshotHeader, payload: Any, key: bytes) -> int:
    """Write the snapshot atomically (temporary file, fsync, rename); return its size in bytes."""
    head = json.dumps(header.__dict__, sort_keys=True).encode()
    body = pickle.dumps(payload, protocol=5)
    mac = hmac.new(key, digestmod=hashlib.sha256)
    parts = (MAGIC, len(head).to_bytes(4, "big"), head, body)
    for p in parts:
        mac.update(p)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    try:
        # Banned names are personal data: owner-only, like the keys beside it.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            for p in parts:
                fh.write(p)
            fh.write(mac.digest())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sum(len(p) for p in parts) + _TAG


def read_header(data: bytes) -> tuple[SnapshotHeader, int]:
    """Parse the header of snapshot bytes; return it and where the payload starts."""
    if len(data) < len(MAGIC) + 4 + _TAG or not data.startswith(MAGIC):
        raise SnapshotRefused("not a check index snapshot")
    n = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "big")
    start = len(MAGIC) + 4
    if start + n + _TAG > len(data):
        raise SnapshotRefused("truncated header")
    try:
        fields = json.loads(data[start : start + n])
        if not isinstance(fields, dict) or fields.get("format") != FORMAT_VERSION:
            found = fields.get("format") if isinstance(fields, dict) else None
            raise SnapshotRefused(f"format {found!r}, this version reads {FORMAT_VERSION}")
        header = SnapshotHeader(**fields)
    except SnapshotRefused:
        raise
    except (ValueError, TypeError) as exc:
        raise SnapshotRefused(f"unreadable header ({exc.__class__.__name__})") from exc
    return header, start + n


def read(path: str | os.PathLike[str], key: bytes) -> tuple[SnapshotHeader, Any]:
    """Read and authenticate a snapshot; raise SnapshotRefused (or OSError) when it is unusable."""
    data = Path(path).read_bytes()
    header, start = read_header(data)
    body, tag = memoryview(data)[start:-_TAG], data[-_TAG:]
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(memoryview(data)[:-_TAG])
    if not hmac.compare_digest(mac.digest(), tag):
        raise SnapshotRefused("checksum mismatch (corrupt, or written under another PII key)")
    # The payload is a few hundred large arrays and many small containers; a garbage collection pass
    # triggered by the containers would walk everything loaded so far again and again (3x the load
    # time at 1M bans). Nothing of it can be garbage yet.
    collecting = gc.isenabled()
    gc.disable()
    try:
        payload = pickle.loads(body)
    except Exception as exc:  # authenticated yet unreadable: a bug, not an attack; still never fatal
        raise SnapshotRefused(f"unreadable payload ({exc.__class__.__name__})") from exc
    finally:
        if collecting:
            gc.enable()
    return header, payload
