"""Append to the hash-chained audit trail inside the caller's transaction."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from registry import pgcopy
from registry.actor import current_actor
from registry.audit.checkpoints import app_keys, note_append
from registry.audit.keys import AuditKeys
from registry.audit.models import AuditEntry, AuditHead
from registry.audit.personal import KeyRing, needs_key, open_entries
from registry.db import keyset_page
from registry.events.models import OutboxEvent
from registry.events.service import events_for_audit
from registry.extensions import db
from registry.pgcopy import COPY_MIN_ROWS
from registry.timeutil import json_default, utcnow

GENESIS = "0" * 64
# Entries and events written together in one statement up to this many rows (a request's few);
# bulk appends keep their executemany or COPY.
_ONE_STATEMENT_ROWS = 64
# The one serialisation an entry's hash covers, written and verified alike: what
# json.dumps(..., sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str) returns,
# without building an encoder per entry (the chain walk hashes millions of them).
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode


def entry_hash(
    keys: AuditKeys, prev_hash: str, seq: int, at: datetime, actor: str, action: str, subject: str, data: Any
) -> str:
    """Return the keyed hash (HMAC-SHA256 under REGISTRY_AUDIT_KEY) of one entry and the one before."""
    return keys.mac(canonical_entry(prev_hash, seq, at, actor, action, subject, data))


def canonical_entry(
    prev_hash: str, seq: int, at: datetime, actor: str, action: str, subject: str, data: Any
) -> bytes:
    """Return the bytes an entry's hash covers (data as stored, so sealed fields as ciphertext)."""
    return _CANONICAL(
        [prev_hash, seq, at.isoformat(timespec="microseconds"), actor, action, subject, data]
    ).encode("utf-8")


def lock_head(session: Session | None = None) -> AuditHead:
    """Lock the audit head (the last lock of a transaction), creating it on first use; return it."""
    # FOR UPDATE serialises appenders on PostgreSQL until their transaction ends; on SQLite the
    # database-wide write lock does the same. The head is the LAST lock of every transaction (the lock
    # order is in registry/locking.py): callers lock their accounts, bans and reviews first and lock
    # nothing after appending, so a writer holding the head never waits for another writer's row.
    session = session or db.session()
    stmt = sa.select(AuditHead).where(AuditHead.id == 1).with_for_update()
    head = session.scalar(stmt)
    if head is None:
        # The very first appenders may race to create the head: ON CONFLICT lets the losers wait on
        # the winner's row instead of failing with a duplicate key. The webhook outbox positions go
        # on from the last one written (none on a new database): still unique if the row was deleted.
        dialect = session.get_bind().dialect.name
        last_event = sa.select(sa.func.coalesce(sa.func.max(OutboxEvent.seq), 0)).scalar_subquery()
        values = {"id": 1, "seq": 0, "hash": GENESIS, "event_seq": last_event}
        if dialect == "postgresql":
            session.execute(pg_insert(AuditHead).values(values).on_conflict_do_nothing(index_elements=["id"]))
        elif dialect == "sqlite":
            session.execute(
                sqlite_insert(AuditHead).values(values).on_conflict_do_nothing(index_elements=["id"])
            )
        else:
            session.execute(sa.insert(AuditHead).values(values))
        head = session.scalar(stmt.execution_options(populate_existing=True))
        assert head is not None
    return head


def _actor(actor: str | None) -> str:
    return actor or current_actor()


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
    keys = app_keys()
    entries = list(entries)
    head = lock_head()
    seq, prev = head.seq, head.hash
    before = seq
    rows: list[dict[str, Any]] = []
    texts: list[str] = []
    now = utcnow()
    # Under the head lock, so two appenders never both create a key for one subject.
    ring = KeyRing(keys, db.session)
    ring.prepare(subject for _action, subject, data in entries if data and needs_key(data))
    for action, subject, data in entries:
        seq += 1
        text = json.dumps(ring.seal_entry(subject, data or {}), default=json_default)
        clean = json.loads(text)
        # json.dumps(clean) == text, which is what the JSON column would store: COPY can send it as is.
        texts.append(text)
        digest = entry_hash(keys, prev, seq, now, who, action, subject, clean)
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
        # The audited changes that are events go to the webhook outbox in this same transaction, at
        # the next positions under this lock (the head's one UPDATE moves both counters).
        events = events_for_audit(db.session(), head, entries)
        head.seq, head.hash = seq, prev
        db.session.flush()
        postgres = db.session.get_bind().dialect.name == "postgresql"
        if len(rows) >= COPY_MIN_ROWS and postgres:
            _copy_entries(rows, texts)
        elif postgres and events and len(rows) + len(events) <= _ONE_STATEMENT_ROWS:
            # The outbox rows ride along with the entries as a data-modifying CTE: one statement, one
            # round trip, so the events cost the write path no statement of their own.
            entries_cte = sa.insert(AuditEntry.__table__).values(rows).cte("new_entries")
            db.session.execute(sa.insert(OutboxEvent.__table__).values(events).add_cte(entries_cte))
            events = []
        else:
            # Core insert: bulk paths append thousands of entries and need no ORM objects back.
            db.session.execute(sa.insert(AuditEntry), rows)
        if events:
            db.session.execute(sa.insert(OutboxEvent), events)
        note_append(db.session(), before, seq, prev)
    return rows


def _copy_entries(rows: list[dict[str, Any]], texts: list[str]) -> None:
    """Append entries with COPY (text format); ``texts`` are their data as the JSON column stores it."""
    buffer = io.StringIO()
    for row, text in zip(rows, texts, strict=True):
        at = row["at"].isoformat(sep=" ")
        actor, action, subject, data = (
            pgcopy.field(f) for f in (row["actor"], row["action"], row["subject"], text)
        )
        buffer.write(
            f"{row['seq']}\t{at}\t{actor}\t{action}\t{subject}\t{data}\t{row['prev_hash']}\t{row['hash']}\n"
        )
    columns = "seq, at, actor, action, subject, data, prev_hash, hash"
    pgcopy.copy_in(db.session, [(AuditEntry.__tablename__, columns, buffer)])


def list_entries(args: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """Return a page of matching entries (newest first unless ``order=asc``) and the next cursor."""
    stmt = sa.select(AuditEntry)
    for name in ("subject", "actor", "action"):
        if args.get(name):
            stmt = stmt.where(getattr(AuditEntry, name) == args[name])
    if args.get("since") is not None:
        stmt = stmt.where(AuditEntry.at >= args["since"])
    if args.get("until") is not None:
        stmt = stmt.where(AuditEntry.at < args["until"])
    rows, nxt = keyset_page(stmt, AuditEntry.seq, args, cast=int, descending=args.get("order") != "asc")
    return readable(rows), nxt


def readable(rows: list[AuditEntry]) -> list[dict[str, Any]]:
    """Render entries with their sealed fields opened, or null and listed under ``erased`` once shredded."""
    opened = open_entries(app_keys(), db.session, [(row.subject, row.data) for row in rows])
    out = []
    for row, (data, erased) in zip(rows, opened, strict=True):
        out.append(
            {
                "seq": row.seq,
                "at": row.at,
                "actor": row.actor,
                "action": row.action,
                "subject": row.subject,
                "data": data,
                "erased": erased,
                "prev_hash": row.prev_hash,
                "hash": row.hash,
            }
        )
    return out


def init_app(app: Any) -> None:
    """Checkpoint committed entries (see registry.audit.checkpoints)."""
    from registry.audit.checkpoints import init_app as init_checkpoints

    init_checkpoints(app)


def opened_entries(rows: Iterable[AuditEntry]) -> list[SimpleNamespace]:
    """Return entries as objects (``.seq``, ``.data``...) with sealed fields opened (for tools and tests)."""
    return [SimpleNamespace(**doc) for doc in readable(list(rows))]
