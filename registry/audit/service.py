"""Append to the hash-chained audit trail inside the caller's transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context

from registry.audit.models import AuditEntry, AuditHead
from registry.extensions import db
from registry.timeutil import utcnow

GENESIS = "0" * 64


def entry_hash(
    prev_hash: str, seq: int, at: datetime, actor: str, action: str, subject: str, data: Any
) -> str:
    """Return the hash of one entry: its content and the previous entry's hash."""
    canonical = json.dumps(
        [prev_hash, seq, at.isoformat(timespec="microseconds"), actor, action, subject, data],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _lock_head() -> AuditHead:
    # FOR UPDATE serialises appenders on PostgreSQL until their transaction ends; on SQLite the
    # database-wide write lock does the same.
    head = db.session.scalar(sa.select(AuditHead).where(AuditHead.id == 1).with_for_update())
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        db.session.add(head)
        db.session.flush()
    return head


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    if has_request_context() and g.get("actor"):
        return str(g.actor)
    return "system"


def record(
    action: str, subject: str, data: dict[str, Any] | None = None, *, actor: str | None = None
) -> dict[str, Any]:
    """Append one entry for a change made in the current transaction; never pass raw identifiers."""
    return record_many([(action, subject, data or {})], actor=actor)[0]


def record_many(
    entries: Iterable[tuple[str, str, dict[str, Any]]], *, actor: str | None = None
) -> list[dict[str, Any]]:
    """Append several entries at once (bulk paths), chained in the order given; return the rows."""
    who = _actor(actor)
    head = _lock_head()
    seq, prev = head.seq, head.hash
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for action, subject, data in entries:
        seq += 1
        clean = json.loads(json.dumps(data, default=str))
        digest = entry_hash(prev, seq, now, who, action, subject, clean)
        rows.append(
            {"seq": seq, "at": now, "actor": who, "action": action, "subject": subject, "data": clean,
             "prev_hash": prev, "hash": digest}
        )
        prev = digest
    if rows:
        # Core insert: bulk paths append thousands of entries and need no ORM objects back.
        db.session.execute(sa.insert(AuditEntry), rows)
        head.seq, head.hash = seq, prev
        db.session.flush()
    return rows
