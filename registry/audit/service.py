"""Append to the hash-chained audit trail inside the caller's transaction."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context
from marshmallow import ValidationError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from registry.audit.models import AuditEntry, AuditHead
from registry.errors import abort
from registry.extensions import db
from registry.schemas import decode_cursor, encode_cursor
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
    # database-wide write lock does the same. The head is the LAST lock of every transaction (the lock
    # order is in registry/locking.py): callers lock their accounts, bans and reviews first and lock
    # nothing after appending, so a writer holding the head never waits for another writer's row.
    stmt = sa.select(AuditHead).where(AuditHead.id == 1).with_for_update()
    head = db.session.scalar(stmt)
    if head is None:
        # The very first appenders may race to create the head: ON CONFLICT lets the losers wait on
        # the winner's row instead of failing with a duplicate key.
        dialect = db.session.get_bind().dialect.name
        values = {"id": 1, "seq": 0, "hash": GENESIS}
        if dialect == "postgresql":
            db.session.execute(
                pg_insert(AuditHead).values(values).on_conflict_do_nothing(index_elements=["id"])
            )
        elif dialect == "sqlite":
            db.session.execute(
                sqlite_insert(AuditHead).values(values).on_conflict_do_nothing(index_elements=["id"])
            )
        else:
            db.session.add(AuditHead(**values))
            db.session.flush()
        head = db.session.scalar(stmt.execution_options(populate_existing=True))
        assert head is not None
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
    texts: list[str] = []
    now = utcnow()
    for action, subject, data in entries:
        seq += 1
        text = json.dumps(data, default=str)
        clean = json.loads(text)
        # json.dumps(clean) == text, which is what the JSON column would store: COPY can send it as is.
        texts.append(text)
        digest = entry_hash(prev, seq, now, who, action, subject, clean)
        rows.append(
            {
                "seq": seq,
                "at": now,
                "actor": who,
                "action": action,
                "subject": subject,
                "data": clean,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    if rows:
        if len(rows) >= COPY_MIN_ROWS and db.session.get_bind().dialect.name == "postgresql":
            _copy_entries(rows, texts)
        else:
            # Core insert: bulk paths append thousands of entries and need no ORM objects back.
            db.session.execute(sa.insert(AuditEntry), rows)
        head.seq, head.hash = seq, prev
        db.session.flush()
    return rows


# From this many entries on, PostgreSQL gets them by COPY (one round trip, no per-row INSERT work).
COPY_MIN_ROWS = 200
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_entries(rows: list[dict[str, Any]], texts: list[str]) -> None:
    """Append entries with COPY (text format); ``texts`` are their data as the JSON column stores it."""
    buffer = io.StringIO()
    for row, text in zip(rows, texts, strict=True):
        at = row["at"].isoformat(sep=" ")
        fields = (row["actor"], row["action"], row["subject"], text)
        actor, action, subject, data = (f.translate(_COPY_ESCAPES) for f in fields)
        buffer.write(
            f"{row['seq']}\t{at}\t{actor}\t{action}\t{subject}\t{data}\t{row['prev_hash']}\t{row['hash']}\n"
        )
    buffer.seek(0)
    db.session.flush()
    cursor = db.session.connection().connection.cursor()
    try:
        columns = "seq, at, actor, action, subject, data, prev_hash, hash"
        cursor.copy_expert(f"COPY {AuditEntry.__tablename__} ({columns}) FROM STDIN", buffer)
    finally:
        cursor.close()


def list_entries(args: Mapping[str, Any]) -> tuple[list[AuditEntry], str | None]:
    """Return a page of matching entries (newest first unless ``order=asc``) and the next cursor."""
    stmt = sa.select(AuditEntry)
    for name in ("subject", "actor", "action"):
        if args.get(name):
            stmt = stmt.where(getattr(AuditEntry, name) == args[name])
    if args.get("since") is not None:
        stmt = stmt.where(AuditEntry.at >= args["since"])
    if args.get("until") is not None:
        stmt = stmt.where(AuditEntry.at < args["until"])
    ascending = args.get("order") == "asc"
    if args.get("cursor"):
        try:
            (after,) = decode_cursor(args["cursor"])
            after = int(after)
        except (ValidationError, ValueError, TypeError):
            abort(422, "Invalid cursor.", {"query": {"cursor": ["Not a cursor this service issued."]}})
        stmt = stmt.where(AuditEntry.seq > after if ascending else AuditEntry.seq < after)
    limit = args.get("limit", 100)
    stmt = stmt.order_by(AuditEntry.seq.asc() if ascending else AuditEntry.seq.desc()).limit(limit + 1)
    rows = list(db.session.scalars(stmt))
    nxt = encode_cursor([rows[limit - 1].seq]) if len(rows) > limit else None
    return rows[:limit], nxt
