"""Walk the audit chain (in the database or in an export) and name the first entry that was tampered with."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from registry.audit.models import AuditEntry, AuditHead
from registry.audit.service import GENESIS, entry_hash
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


class Tampered(Exception):
    """The chain is broken at ``seq``; ``kind`` is altered, inserted or removed."""

    def __init__(self, seq: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.seq = seq
        self.kind = kind
        self.message = message


@dataclass
class VerifyResult:
    """What a walk found: entries checked, the last seq and hash, and the first break (if any)."""

    count: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    problem: Tampered | None = None

    @property
    def ok(self) -> bool:
        """Tell whether the chain was intact."""
        return self.problem is None


class ChainChecker:
    """Feed entries in seq order; raises Tampered at the first one that does not belong."""

    def __init__(
        self, *, first_seq: int = 1, prev_hash: str = GENESIS, contiguous_start: bool = True
    ) -> None:
        self.expected = first_seq
        self.prev = prev_hash
        # An export slice starts wherever the inspector cut it: take its first link on trust.
        self.trust_first = not contiguous_start
        self.count = 0

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
        """Check one entry against the one before it."""
        if self.trust_first and self.count == 0:
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
                "inserted",
                f"entry {seq} was inserted or replaced: its prev_hash does not link to entry {seq - 1}",
            )
        if entry_hash(prev_hash, seq, at, actor, action, subject, data) != digest:
            raise Tampered(seq, "altered", f"entry {seq} was altered: its hash does not match its content")
        self.expected = seq + 1
        self.prev = digest
        self.count += 1


def _head() -> tuple[int, str]:
    row = db.session.execute(sa.select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    return (int(row.seq), str(row.hash)) if row is not None else (0, GENESIS)


def _batches(after: int, batch_size: int) -> Iterator[list[Any]]:
    while True:
        stmt = sa.select(*COLUMNS).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(batch_size)
        rows = list(db.session.execute(stmt).all())
        if not rows:
            return
        yield rows
        after = rows[-1].seq
        # Keep memory flat over millions of rows: nothing here needs the identity map.
        db.session.expunge_all()


def verify_chain(*, batch_size: int = 5000, progress: Any = None) -> VerifyResult:
    """Walk the whole trail in seq order (keyset batches) and report the first break."""
    checker = ChainChecker()
    result = VerifyResult()
    head_seq, head_hash = _head()
    try:
        for rows in _batches(0, batch_size):
            for row in rows:
                if row.seq > head_seq:
                    # The head may have moved on while we walked (concurrent appenders commit the
                    # head with their entries): look again before calling the entry forged.
                    head_seq, head_hash = _head()
                    if row.seq > head_seq:
                        raise Tampered(
                            row.seq,
                            "inserted",
                            f"entry {row.seq} was inserted: it lies beyond the chain head (seq {head_seq})",
                        )
                checker.feed(
                    row.seq, row.at, row.actor, row.action, row.subject, row.data, row.prev_hash, row.hash
                )
            if progress is not None:
                progress.update(len(rows))
        last_seq, last_hash = checker.expected - 1, checker.prev
        head_seq, head_hash = _head()
        if head_seq > last_seq:
            # Entries appended after our last batch are fine; walk them too before judging.
            for rows in _batches(last_seq, batch_size):
                for row in rows:
                    if row.seq > head_seq:
                        break
                    checker.feed(
                        row.seq, row.at, row.actor, row.action, row.subject, row.data, row.prev_hash, row.hash
                    )
            last_seq, last_hash = checker.expected - 1, checker.prev
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
    except Tampered as problem:
        result.problem = problem
    result.count = checker.count
    result.last_seq = checker.expected - 1
    result.last_hash = checker.prev
    return result


def verify_lines(lines: Iterable[str]) -> VerifyResult:
    """Re-verify an export (JSON Lines): links inside the slice and every entry's hash."""
    checker = ChainChecker(contiguous_start=False)
    result = VerifyResult()
    try:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                at = to_naive_utc(datetime.fromisoformat(doc["at"]))
                fields = (
                    doc["actor"],
                    doc["action"],
                    doc["subject"],
                    doc["data"],
                    doc["prev_hash"],
                    doc["hash"],
                )
                seq = int(doc["seq"])
            except (ValueError, KeyError, TypeError) as exc:
                raise Tampered(0, "unreadable", f"line {number} is not an audit entry: {exc}") from None
            checker.feed(seq, at, *fields)
    except Tampered as problem:
        result.problem = problem
    result.count = checker.count
    result.last_seq = checker.expected - 1
    result.last_hash = checker.prev
    return result


def export_document(row: Any) -> dict[str, Any]:
    """Render one entry for export; ``at`` keeps microseconds since the hash covers them."""
    at = to_aware(row.at)
    assert at is not None
    return {
        "seq": row.seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "data": row.data,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def iter_export(
    *, since: datetime | None = None, until: datetime | None = None, batch_size: int = 5000
) -> Iterator[dict[str, Any]]:
    """Yield the entries of a time range in seq order, a keyset batch at a time."""
    after = 0
    if since is not None:
        # Start at the range's first entry rather than scanning the primary key from seq 1.
        first = db.session.scalar(sa.select(sa.func.min(AuditEntry.seq)).where(AuditEntry.at >= since))
        if first is None:
            return
        after = int(first) - 1
    while True:
        stmt = sa.select(*COLUMNS).where(AuditEntry.seq > after)
        if since is not None:
            stmt = stmt.where(AuditEntry.at >= since)
        if until is not None:
            stmt = stmt.where(AuditEntry.at < until)
        rows = db.session.execute(stmt.order_by(AuditEntry.seq).limit(batch_size)).all()
        if not rows:
            return
        for row in rows:
            yield export_document(row)
        after = rows[-1].seq
        db.session.expunge_all()
