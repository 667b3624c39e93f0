"""Bring a trail written before the keyed chain (plain SHA-256, personal fields in clear) under the key.

Run once by migration 0002_audit: the legacy chain is verified as it was (a broken one stops the
upgrade, unless REGISTRY_AUDIT_REKEY_BROKEN=1), every entry's personal fields are sealed under its
subject's key and the chain is recomputed with the keyed hash; an ``audit.rekey`` entry then records
how many entries were re-keyed and the legacy head hash, so an export made before the upgrade still
ties to the trail.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import sqlalchemy as sa

from registry.audit.keys import AuditKeys
from registry.audit.personal import KeyRing, needs_key
from registry.audit.service import GENESIS, canonical_entry, entry_hash
from registry.timeutil import utcnow

_BATCH = 2000


class LegacyChainBroken(RuntimeError):
    """The trail was already broken before the upgrade."""


def _tables() -> tuple[Any, Any]:
    log = sa.table(
        "audit_log",
        sa.column("seq"),
        sa.column("at", sa.DateTime),
        sa.column("actor"),
        sa.column("action"),
        sa.column("subject"),
        sa.column("data", sa.JSON),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    head = sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
    return log, head


def check_legacy(conn: Any) -> str | None:
    """Verify the legacy (plain SHA-256) chain; raise LegacyChainBroken unless overridden; return why."""
    log, head = _tables()
    problem = None
    prev, expected, after = GENESIS, 1, 0
    while problem is None:
        rows = conn.execute(sa.select(log).where(log.c.seq > after).order_by(log.c.seq).limit(_BATCH)).all()
        if not rows:
            break
        for r in rows:
            canonical = canonical_entry(r.prev_hash, r.seq, r.at, r.actor, r.action, r.subject, r.data)
            if r.seq != expected or r.prev_hash != prev or hashlib.sha256(canonical).hexdigest() != r.hash:
                problem = f"legacy entry {r.seq} does not verify"
                break
            prev, expected = r.hash, r.seq + 1
        after = rows[-1].seq
    legacy_head = conn.execute(sa.select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
    if (
        problem is None
        and legacy_head is not None
        and (legacy_head.seq, legacy_head.hash) != (expected - 1, prev)
    ):
        problem = "the legacy chain head does not match its last entry"
    if problem is not None and os.environ.get("REGISTRY_AUDIT_REKEY_BROKEN") != "1":
        raise LegacyChainBroken(
            f"audit trail: {problem}; it was tampered with before this upgrade. Keep a copy of the "
            "database as evidence, then set REGISTRY_AUDIT_REKEY_BROKEN=1 to re-key it anyway"
        )
    return problem


def rekey(conn: Any, keys: AuditKeys, problem: str | None) -> int:
    """Re-key every legacy entry over ``conn`` (inside the caller's transaction); return how many."""
    log, head = _tables()
    total = int(conn.execute(sa.select(sa.func.count()).select_from(log)).scalar() or 0)
    if total == 0:
        return 0
    legacy_head = conn.execute(sa.select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
    # Seal personal fields, chain with the keyed hash.
    prev, after, seq = GENESIS, 0, 0
    last_legacy = None
    while True:
        rows = conn.execute(sa.select(log).where(log.c.seq > after).order_by(log.c.seq).limit(_BATCH)).all()
        if not rows:
            break
        ring = KeyRing(keys, conn)
        ring.prepare(r.subject for r in rows if isinstance(r.data, dict) and needs_key(r.data))
        for r in rows:
            data = r.data if isinstance(r.data, dict) else {"value": r.data}
            sealed = json.loads(json.dumps(ring.seal_entry(r.subject, data), default=str))
            digest = entry_hash(keys, prev, r.seq, r.at, r.actor, r.action, r.subject, sealed)
            conn.execute(
                sa.update(log).where(log.c.seq == r.seq).values(data=sealed, prev_hash=prev, hash=digest)
            )
            prev, seq, last_legacy = digest, r.seq, r.hash
        after = rows[-1].seq
    at = utcnow()
    seq += 1
    data = {"legacy_entries": total, "legacy_head": last_legacy, "legacy_problem": problem}
    digest = entry_hash(keys, prev, seq, at, "migration", "audit.rekey", "audit", data)
    conn.execute(
        sa.insert(log).values(
            seq=seq,
            at=at,
            actor="migration",
            action="audit.rekey",
            subject="audit",
            data=data,
            prev_hash=prev,
            hash=digest,
        )
    )
    if legacy_head is None:
        conn.execute(sa.insert(head).values(id=1, seq=seq, hash=digest))
    else:
        conn.execute(sa.update(head).where(head.c.id == 1).values(seq=seq, hash=digest))
    return total
