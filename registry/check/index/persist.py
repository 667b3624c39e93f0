"""Saving a built check index to its snapshot file and loading one back (the file format: ../snapshot.py).

A snapshot is used only when it was written under this database's change log (the change it is current
to is there, with the same subject and time), the same PII key version and match settings, and is not
too far behind the log; anything else means a fresh build.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from registry.bans.models import ban_is_live
from registry.check import snapshot as snap
from registry.check.index.build import database_side
from registry.check.index.state import SNAPSHOT_MAX_BACKLOG, IndexState
from registry.identifiers.bloom import IdentifierFilter
from registry.index_changes import IndexChange
from registry.matching import MatchConfig, NameIndex
from registry.matching.commonness import KeyCounts
from registry.timeutil import utcnow


def _at_text(at: datetime) -> str:
    """Return a change's time as the snapshot header records it (as the database hands it back)."""
    return at.isoformat()


def snapshot_parts(
    state: IndexState, session: Any, match_config: MatchConfig, pii_key_version: int
) -> tuple[snap.SnapshotHeader, dict[str, Any]] | None:
    """Return the header and payload describing the state, or None when the log it follows is empty."""
    if state.low_water <= 0:
        return None
    row = session.execute(
        sa.select(IndexChange.subject, IndexChange.at).where(IndexChange.id == state.low_water)
    ).first()
    if row is None:
        return None
    header = snap.SnapshotHeader(
        format=snap.FORMAT_VERSION,
        low_water=state.low_water,
        event_subject=row.subject or "",
        event_at=_at_text(row.at),
        config=repr(match_config),
        pii_key_version=pii_key_version,
        bans=state.ban_count,
        names=len(state.names),
        written_at=utcnow().isoformat(),
    )
    payload = {
        "bloom": _filter_doc(state.bloom),
        "names": state.names,
        "expiring": state.expiring,
        "ban_count": state.ban_count,
        "applied": sorted(state.applied),
        "removed": state.removed,
        "name_count": state.name_count,
        "avatars": state.avatars,
        "counts": state.counts,
        "held": None if state.held is None else _filter_doc(state.held),
    }
    return header, payload


def _filter_doc(f: IdentifierFilter) -> dict[str, Any]:
    """Return what a snapshot keeps of an identifier filter (``_filter_from`` reads it back)."""
    return {"bits": f.to_bytes(), "capacity": f.capacity, "fp": f.false_positive_rate, "count": len(f)}


def _filter_from(doc: dict[str, Any]) -> IdentifierFilter:
    return IdentifierFilter.from_bytes(
        doc["bits"], capacity=doc["capacity"], false_positive_rate=doc["fp"], count=doc["count"]
    )


def check_snapshot(
    header: snap.SnapshotHeader, session: Any, match_config: MatchConfig, pii_key_version: int
) -> None:
    """Raise SnapshotRefused unless the snapshot was written under this database and these settings."""
    if header.config != repr(match_config):
        raise snap.SnapshotRefused("built with other match settings")
    if header.pii_key_version != pii_key_version:
        raise snap.SnapshotRefused(f"built under PII key version {header.pii_key_version}")
    row = session.execute(
        sa.select(IndexChange.subject, IndexChange.at).where(IndexChange.id == header.low_water)
    ).first()
    if row is None or (row.subject or "") != header.event_subject or _at_text(row.at) != header.event_at:
        raise snap.SnapshotRefused(f"event {header.low_water} is not in this database's change log")
    behind = int(
        session.scalar(
            sa.select(sa.func.count()).select_from(
                sa.select(IndexChange.id)
                .where(IndexChange.id > header.low_water)
                .limit(SNAPSHOT_MAX_BACKLOG + 1)
                .subquery()
            )
        )
        or 0
    )
    if behind > SNAPSHOT_MAX_BACKLOG:
        raise snap.SnapshotRefused(f"stale: more than {SNAPSHOT_MAX_BACKLOG} events behind the log")


def state_from_snapshot(
    header: snap.SnapshotHeader,
    payload: dict[str, Any],
    session: Any,
    match_config: MatchConfig,
    name_rules_file: str | None,
) -> IndexState:
    """Rebuild the state from a checked snapshot, reading ranges, policy and suppressions afresh."""
    names = payload["names"]
    if not isinstance(names, NameIndex) or not isinstance(payload["counts"], KeyCounts):
        raise snap.SnapshotRefused("unexpected payload")
    bloom = _filter_from(payload["bloom"])
    held = None if payload["held"] is None else _filter_from(payload["held"])
    names.config = match_config
    ranges, policy, protected, suppressed = database_side(session, ban_is_live(utcnow()), name_rules_file)
    return IndexState(
        bloom,
        ranges,
        names,
        payload["expiring"],
        payload["ban_count"],
        policy,
        protected,
        suppressed,
        header.low_water,
        applied=set(payload["applied"]),
        removed=payload["removed"],
        name_count=payload["name_count"],
        avatars=payload["avatars"],
        counts=payload["counts"],
        held=held,
    )
