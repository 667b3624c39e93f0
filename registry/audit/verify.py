"""Walk the audit chain (in the database or in an export) and name what was tampered with.

Three things must agree: every entry's keyed hash (HMAC under REGISTRY_AUDIT_KEY, which the database
does not hold), the links between entries, and the signed checkpoints kept outside the database. An
export ends with a signed trailer naming its first and last entry, its count and a digest of its lines.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry.audit.checkpoints import Checkpoint, read_checkpoints
from registry.audit.keys import AuditKeys, verify_signature
from registry.audit.models import AuditEntry, AuditHead
from registry.audit.personal import open_entries
from registry.audit.service import GENESIS, canonical_entry, entry_hash
from registry.db import keyset_batches
from registry.extensions import db
from registry.timeutil import to_aware, to_naive_utc

COLUMNS = (
    AuditEntry.seq,
    AuditEntry.at,
    AuditEntry.actor,
    AuditEntry.action,
    AuditEntry.subject,
    AuditEntry.data,
    AuditEntry.prev_hash,
    AuditEntry.hash,
)
TRAILER = "trailer"


def _same(value: Any) -> Any:
    return value


def json_value(text: str | None) -> Any:
    """Return what a JSON column's stored text holds, as ``json.loads`` reads it (orjson when it can)."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # What orjson refuses and json reads (NaN, integers past 64 bits, lone surrogates).
        return json.loads(text)


class Tampered(Exception):
    """The trail is broken at ``seq``; ``kind`` names how (altered, removed, truncated, emptied, ...)."""

    def __init__(self, seq: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.seq = seq
        self.kind = kind
        self.message = message


@dataclass
class VerifyResult:
    """What a walk found: entries checked, the last seq and hash, and every break (first first)."""

    count: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    checkpoints: int = 0
    checkpoint_seq: int = 0
    problems: list[Tampered] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problem(self) -> Tampered | None:
        """Return the first break found, if any."""
        return self.problems[0] if self.problems else None

    @property
    def ok(self) -> bool:
        """Tell whether the trail was intact."""
        return not self.problems


class ChainChecker:
    """Feed entries in seq order; raises Tampered at the first one that does not belong.

    Without ``keys`` only the links and the numbering are checked (an auditor holding only the
    public key); with them every entry's keyed hash too.
    """

    def __init__(
        self,
        keys: AuditKeys | None,
        *,
        first_seq: int = 1,
        prev_hash: str = GENESIS,
        contiguous_start: bool = True,
        checkpoints: dict[int, Checkpoint] | None = None,
    ) -> None:
        self.keys = keys
        self.expected = first_seq
        self.prev = prev_hash
        # An export slice starts wherever it was cut: its trailer vouches for its first link.
        self.trust_first = not contiguous_start
        self.count = 0
        self.first_seq: int | None = None
        self.first_prev: str | None = None
        self.checkpoints = checkpoints or {}

    def feed(
        self,
        seq: int,
        at: datetime,
        actor: str,
        action: str,
        subject: str,
        data: Any,
        prev_hash: str,
        digest: str,
    ) -> None:
        """Check one entry against the one before it, its keyed hash and any checkpoint of its seq."""
        if self.count == 0:
            self.first_seq, self.first_prev = seq, prev_hash
            if self.trust_first:
                self.expected, self.prev = seq, prev_hash
        if seq > self.expected:
            missing = str(self.expected) if seq == self.expected + 1 else f"{self.expected}..{seq - 1}"
            raise Tampered(
                self.expected,
                "removed",
                f"entry {missing} was removed: the trail jumps from seq {self.expected - 1} to {seq}",
            )
        if seq < self.expected:
            raise Tampered(seq, "inserted", f"entry {seq} was inserted: it repeats or reorders seq {seq}")
        if prev_hash != self.prev:
            raise Tampered(
                seq,
                "altered",
                f"entry {seq} does not link to entry {seq - 1}: entries were replaced, or deleted and "
                "renumbered",
            )
        if (
            self.keys is not None
            and entry_hash(self.keys, prev_hash, seq, at, actor, action, subject, data) != digest
        ):
            raise Tampered(
                seq,
                "altered",
                f"entry {seq} was altered (or entries were deleted and renumbered): it does not carry its "
                "keyed hash, which only REGISTRY_AUDIT_KEY can make",
            )
        mark = self.checkpoints.get(seq)
        if mark is not None and mark.hash != digest:
            raise Tampered(
                seq,
                "altered",
                f"entry {seq} differs from the signed checkpoint of {mark.at}: the entry was rewritten",
            )
        self.expected = seq + 1
        self.prev = digest
        self.count += 1

    def feed_rows(self, rows: Iterable[Sequence[Any]], decode: Callable[[Any], Any] = _same) -> None:
        """Feed many (seq, at, actor, action, subject, data, prev_hash, hash) rows: ``feed``, in one loop.

        The chain walk's hot path. An entry that passes every check of ``feed`` is accounted for here
        without its call; any other goes through ``feed``, which raises naming what is wrong with it.
        ``decode`` turns each row's data column, as read, into the value it holds.
        """
        rows = iter(rows)
        if self.keys is None or self.count == 0:
            # No keyed hash to recompute (links only), or the first entry, which ``feed`` notes.
            for seq, at, actor, action, subject, data, prev_hash, digest in rows:
                self.feed(seq, at, actor, action, subject, decode(data), prev_hash, digest)
                if self.keys is not None:
                    break
        if self.keys is None:
            return
        mac = self.keys.mac
        marks = self.checkpoints
        expected, prev, count = self.expected, self.prev, self.count
        for seq, at, actor, action, subject, data, prev_hash, digest in rows:
            value = decode(data)
            if (
                seq != expected
                or prev_hash != prev
                or mac(canonical_entry(prev_hash, seq, at, actor, action, subject, value)) != digest
                or (seq in marks and marks[seq].hash != digest)
            ):
                self.expected, self.prev, self.count = expected, prev, count
                self.feed(seq, at, actor, action, subject, value, prev_hash, digest)
                expected, prev, count = self.expected, self.prev, self.count
                continue
            expected, prev, count = seq + 1, digest, count + 1
        self.expected, self.prev, self.count = expected, prev, count


def _head() -> tuple[int, str] | None:
    row = db.session.execute(sa.select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    return (int(row.seq), str(row.hash)) if row is not None else None


def _batches(after: int, batch_size: int) -> Iterator[list[Any]]:
    for rows in keyset_batches(sa.select(*COLUMNS), AuditEntry.seq, batch_size, after=after):
        yield rows
        # Keep memory flat over millions of rows: nothing here needs the identity map.
        db.session.expunge_all()


def load_checkpoints(
    paths: Iterable[str], public_key: Ed25519PublicKey, result: VerifyResult
) -> dict[int, Checkpoint]:
    """Read the checkpoint files; forged or unreadable lines become problems; return the valid ones by seq."""
    marks: dict[int, Checkpoint] = {}
    for path in paths:
        _load_file(path, public_key, result, marks)
    result.checkpoints = len(marks)
    result.checkpoint_seq = max(marks, default=0)
    return marks


def _load_file(
    path: str, public_key: Ed25519PublicKey, result: VerifyResult, marks: dict[int, Checkpoint]
) -> None:
    for mark in read_checkpoints(path, public_key):
        if not mark.valid:
            # An unreadable line may also be a write cut short by a full disk: named apart from forgery.
            kind = "unreadable checkpoint" if mark.seq == 0 and not mark.hash else "forged checkpoint"
            result.problems.append(Tampered(mark.seq, kind, f"checkpoint file {path}: {mark.problem}"))
            continue
        other = marks.get(mark.seq)
        if other is not None and other.hash != mark.hash:
            result.problems.append(
                Tampered(
                    mark.seq,
                    "forged checkpoint",
                    f"checkpoint file {path}: lines {other.line} and {mark.line} sign different hashes "
                    f"for seq {mark.seq} (was REGISTRY_AUDIT_KEY disclosed?)",
                )
            )
            continue
        marks[mark.seq] = mark


def verify_chain(
    keys: AuditKeys,
    checkpoints_path: str | Iterable[str],
    *,
    batch_size: int = 5000,
    progress: Any = None,
) -> VerifyResult:
    """Walk the whole trail in seq order (keyset batches) against its keyed hashes and checkpoints."""
    result = VerifyResult()
    paths = [checkpoints_path] if isinstance(checkpoints_path, str) else list(checkpoints_path)
    marks = load_checkpoints(paths, keys.public_key, result)
    checker = ChainChecker(keys, checkpoints=marks)
    top = result.checkpoint_seq
    try:
        head = _walk(checker, batch_size, progress)
        _check_end(checker, head, marks, top)
    except Tampered as problem:
        result.problems.insert(0, problem)
    result.count = checker.count
    result.last_seq = checker.expected - 1
    result.last_hash = checker.prev
    if not marks and checker.count:
        result.notes.append(
            f"no checkpoint in {', '.join(paths)} yet: a cut tail would go unnoticed until one is written "
            "(run `registry audit checkpoint`)"
        )
    elif result.last_seq > top:
        result.notes.append(
            f"{result.last_seq - top} entries after the last checkpoint (seq {top}) rest on the keyed hash"
        )
    return result


def _stream(checker: ChainChecker, head_seq: int, batch_size: int, progress: Any) -> None:
    """Feed the entries up to ``head_seq`` in seq order from one streamed read (Core rows, no ORM).

    On PostgreSQL a server-side cursor hands the rows over ``batch_size`` at a time, so memory stays
    flat over millions of entries; SQLite's cursor steps through the table likewise.
    """
    # The data column as its stored text, decoded by json_value (the JSON type would use json.loads).
    columns = [sa.cast(AuditEntry.data, sa.Text) if c is AuditEntry.data else c for c in COLUMNS]
    stmt = sa.select(*columns).where(AuditEntry.seq <= head_seq).order_by(AuditEntry.seq)
    # Options of this statement alone (Connection.execution_options would stream every later one).
    stmt = stmt.execution_options(stream_results=True, max_row_buffer=batch_size)
    result = db.session.connection().execute(stmt)
    with result:
        for rows in result.partitions(batch_size):
            checker.feed_rows(rows, json_value)
            if progress is not None:
                progress.update(len(rows))


def _feed(checker: ChainChecker, row: Any) -> None:
    checker.feed(row.seq, row.at, row.actor, row.action, row.subject, row.data, row.prev_hash, row.hash)


def _walk(checker: ChainChecker, batch_size: int, progress: Any) -> tuple[int, str] | None:
    """Feed every entry up to the chain head to ``checker``; return the head as last read."""
    head = _head()
    head_seq = head[0] if head is not None else 0
    # Up to the head read first, every entry is expected: one ordered scan, streamed.
    _stream(checker, head_seq, batch_size, progress)
    for rows in _batches(checker.expected - 1, batch_size):
        for row in rows:
            if row.seq > head_seq:
                # The head may have moved on while we walked (concurrent appenders commit the
                # head with their entries): look again before calling the entry forged.
                head = _head()
                head_seq = head[0] if head is not None else 0
                if row.seq > head_seq:
                    raise Tampered(
                        row.seq,
                        "inserted",
                        f"entry {row.seq} was inserted: it lies beyond the chain head (seq {head_seq}), "
                        "or the head was moved back",
                    )
            _feed(checker, row)
        if progress is not None:
            progress.update(len(rows))
    last_seq = checker.expected - 1
    head = _head()
    head_seq = head[0] if head is not None else 0
    if head_seq > last_seq:
        # Entries appended after our last batch are fine; walk them too before judging.
        for rows in _batches(last_seq, batch_size):
            for row in rows:
                if row.seq > head_seq:
                    break
                _feed(checker, row)
    return head


def _check_end(
    checker: ChainChecker, head: tuple[int, str] | None, marks: dict[int, Checkpoint], top: int
) -> None:
    """Raise Tampered if the walked trail's end disagrees with the chain head or the last checkpoint."""
    head_seq, head_hash = head if head is not None else (0, GENESIS)
    last_seq, last_hash = checker.expected - 1, checker.prev
    if checker.count == 0 and (top > 0 or head_seq > 0):
        raise Tampered(
            1,
            "emptied",
            "the trail holds no entries, yet "
            + (f"a signed checkpoint covers seq {top}" if top else f"the head is at seq {head_seq}")
            + ": the audit tables were emptied",
        )
    if top > last_seq:
        mark = marks[top]
        raise Tampered(
            last_seq + 1,
            "truncated",
            f"the trail ends at seq {last_seq}, but a checkpoint signed at {mark.at} covers seq {top}: "
            f"entries {last_seq + 1}..{top} were cut from the tail",
        )
    if head is None and checker.count > 0:
        raise Tampered(last_seq, "altered", "the chain head row is missing")
    if head_seq > last_seq:
        missing = str(last_seq + 1) if head_seq == last_seq + 1 else f"{last_seq + 1}..{head_seq}"
        raise Tampered(
            last_seq + 1,
            "removed",
            f"entry {missing} was removed: the trail ends at seq {last_seq}, the head is at {head_seq}",
        )
    if head_seq == last_seq and head_hash != last_hash:
        raise Tampered(
            last_seq,
            "altered",
            f"entry {last_seq} was altered or replaced: the chain head records a different hash",
        )


def trailer_message(trailer: dict[str, Any]) -> bytes:
    """Return the bytes an export trailer's signature covers."""
    return json.dumps(trailer, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _entry_fields(doc: dict[str, Any]) -> tuple[int, datetime, str, str, str, Any, str, str]:
    at = to_naive_utc(datetime.fromisoformat(doc["at"]))
    assert at is not None
    return (
        int(doc["seq"]),
        at,
        doc["actor"],
        doc["action"],
        doc["subject"],
        doc["data"],
        doc["prev_hash"],
        doc["hash"],
    )


def verify_lines(lines: Iterable[str], keys: AuditKeys | None, public_key: Ed25519PublicKey) -> VerifyResult:
    """Re-verify an export: links, keyed hashes (given ``keys``) and its signed trailer."""
    checker = ChainChecker(keys, contiguous_start=False)
    result = VerifyResult()
    try:
        trailer, signature, lines_sha256 = _read_export(lines, checker)
        _check_trailer(trailer, signature, checker, lines_sha256, public_key)
    except Tampered as problem:
        result.problems.append(problem)
    result.count = checker.count
    result.last_seq = checker.expected - 1
    result.last_hash = checker.prev
    if keys is None:
        result.notes.append(
            "checked links and the signed trailer only (without REGISTRY_AUDIT_KEY, no hash recomputed)"
        )
    return result


def _read_export(lines: Iterable[str], checker: ChainChecker) -> tuple[object, str, str]:
    """Feed an export's entries to ``checker``; return its trailer, signature and the lines' SHA-256."""
    digest = hashlib.sha256()
    trailer: object = None
    signature = ""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            if not isinstance(doc, dict):
                raise TypeError("not an object")
            if TRAILER in doc:
                if trailer is not None:
                    raise Tampered(0, "appended", f"line {number} is a second trailer")
                trailer, signature = doc[TRAILER], str(doc.get("sig", ""))
                continue
            if trailer is not None:
                raise Tampered(
                    0, "appended", f"line {number} follows the signed trailer: lines were appended"
                )
            fields = _entry_fields(doc)
        except (ValueError, KeyError, TypeError) as exc:
            raise Tampered(0, "unreadable", f"line {number} is not an audit entry: {exc}") from None
        digest.update(line.rstrip("\r\n").encode("utf-8", "surrogateescape") + b"\n")
        checker.feed(*fields)
    return trailer, signature, digest.hexdigest()


def _check_trailer(
    trailer: object, signature: str, checker: ChainChecker, lines_sha256: str, public_key: Ed25519PublicKey
) -> None:
    """Raise Tampered unless the signed trailer vouches for exactly the entries and lines read."""
    if trailer is None:
        raise Tampered(
            checker.expected,
            "truncated",
            f"no signed trailer: the export was cut at the end (after seq {checker.expected - 1})",
        )
    if not isinstance(trailer, dict) or not verify_signature(public_key, trailer_message(trailer), signature):
        raise Tampered(0, "forged trailer", "the trailer's signature does not verify: it was rewritten")
    first = checker.first_seq if checker.count else None
    if trailer.get("count") != checker.count or trailer.get("first_seq") != first:
        if first is not None and trailer.get("first_seq") is not None and first > trailer["first_seq"]:
            raise Tampered(
                trailer["first_seq"],
                "truncated",
                f"the export was cut at the start: it begins at seq {first}, its trailer at "
                f"seq {trailer['first_seq']}",
            )
        raise Tampered(
            checker.expected,
            "truncated",
            f"the export holds {checker.count} entries, its signed trailer {trailer.get('count')} "
            f"(seq {trailer.get('first_seq')}..{trailer.get('last_seq')}): entries were cut",
        )
    if checker.count and (
        trailer.get("last_seq") != checker.expected - 1
        or trailer.get("last_hash") != checker.prev
        or trailer.get("first_prev_hash") != checker.first_prev
    ):
        raise Tampered(
            checker.expected - 1,
            "altered",
            "the entries' first or last link differs from the signed trailer",
        )
    if trailer.get("lines_sha256") != lines_sha256:
        raise Tampered(
            0,
            "altered",
            "the export's lines differ from the digest its trailer signs: a line was rewritten",
        )


def export_document(row: Any, readable: tuple[dict[str, Any], list[str]] | None) -> dict[str, Any]:
    """Render one entry for export: stored data (sealed, as hashed) and, unless sealed-only, opened."""
    at = to_aware(row.at)
    assert at is not None
    doc: dict[str, Any] = {
        "seq": row.seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "data": row.data,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }
    if readable is not None:
        doc["readable"], doc["erased"] = readable
    return doc


def iter_export(
    keys: AuditKeys,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    batch_size: int = 5000,
    sealed_only: bool = False,
) -> Iterator[str]:
    """Yield the export's lines (entries of a time range in seq order, then the signed trailer)."""
    digest = hashlib.sha256()
    count, first_seq, first_prev, last_seq, last_hash = 0, None, None, None, None
    after = 0
    first = None
    if since is not None:
        # Start at the range's first entry rather than scanning the primary key from seq 1.
        first = db.session.scalar(sa.select(sa.func.min(AuditEntry.seq)).where(AuditEntry.at >= since))
        after = int(first) - 1 if first is not None else -1
    while after >= 0:
        stmt = sa.select(*COLUMNS).where(AuditEntry.seq > after)
        if since is not None:
            stmt = stmt.where(AuditEntry.at >= since)
        if until is not None:
            stmt = stmt.where(AuditEntry.at < until)
        rows = db.session.execute(stmt.order_by(AuditEntry.seq).limit(batch_size)).all()
        if not rows:
            break
        opened: list[Any] = (
            [None] * len(rows)
            if sealed_only
            else open_entries(keys, db.session, [(row.subject, row.data) for row in rows])
        )
        for row, view in zip(rows, opened, strict=True):
            line = json.dumps(export_document(row, view), ensure_ascii=False, separators=(",", ":"))
            digest.update(line.encode("utf-8") + b"\n")
            if first_seq is None:
                first_seq, first_prev = row.seq, row.prev_hash
            last_seq, last_hash = row.seq, row.hash
            count += 1
            yield line + "\n"
        after = rows[-1].seq
        db.session.expunge_all()
    trailer = {
        "count": count,
        "first_seq": first_seq,
        "first_prev_hash": first_prev,
        "last_seq": last_seq,
        "last_hash": last_hash,
        "lines_sha256": digest.hexdigest(),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "sealed_only": sealed_only,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "public_key": keys.public_key_text,
    }
    doc = {TRAILER: trailer, "sig": keys.sign(trailer_message(trailer))}
    yield json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
