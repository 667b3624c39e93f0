"""Keeping a built check index in step with the change log (``index_changes``), incrementally.

Each sync reads the changes past the state's ``low_water`` (and past any gap still awaiting a slower
transaction), applies them in place and advances ``low_water`` over the contiguous ids applied.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from registry.accounts.models import NameKeyCount
from registry.bans.models import Ban, BanIdentifier, BanName, ban_is_live
from registry.check.index import state as limits
from registry.check.index.build import add_held, add_range, load_avatars, protect_many, protected_names
from registry.check.index.state import GAP_GRACE_SECONDS, IndexState
from registry.index_changes import ChangeKind, IndexChange
from registry.reviews.models import NameSuppression
from registry.timeutil import utcnow


def apply_new_changes(state: IndexState, session: Any, lock: threading.Lock) -> tuple[int, bool]:
    """Apply the changes not yet applied (a chunk at most); return (how many, whether more are waiting)."""
    most = limits.MAX_EVENTS_PER_SYNC
    # Changes already applied above a gap (awaiting a slower transaction) are read again; ask for
    # enough rows to still find a chunk of fresh ones behind them.
    rows = session.execute(
        sa.select(IndexChange.id, IndexChange.kind, IndexChange.subject)
        .where(IndexChange.id > state.low_water)
        .order_by(IndexChange.id)
        .limit(most + len(state.applied) + 1)
    ).all()
    fresh = [r for r in rows if r.id not in state.applied]
    more = len(fresh) > most
    if more:
        # A bulk import is landing. Rebuilding here would hold this request (and, past gunicorn's
        # timeout, get the worker killed mid-build); take the backlog a chunk per sync instead.
        fresh = fresh[:most]
    if fresh:
        with lock:
            _apply(state, session, fresh)
        state.applied.update(r.id for r in fresh)
    _advance(state)
    return len(fresh), more


def _advance(state: IndexState) -> None:
    now = time.monotonic()
    while state.applied:
        nxt = state.low_water + 1
        if nxt in state.applied:
            state.applied.discard(nxt)
            state.gap_seen.pop(nxt, None)
            state.low_water = nxt
            continue
        first_seen = state.gap_seen.setdefault(nxt, now)
        if now - first_seen < GAP_GRACE_SECONDS:
            break
        # Still missing after the grace period: a rolled-back insert, nothing will ever fill it.
        state.gap_seen.pop(nxt, None)
        state.low_water = nxt


def _apply(state: IndexState, session: Any, rows: Iterable[Any]) -> None:
    created: list[str] = []
    protect: set[str] = set()
    suppress: set[str] = set()
    counted: list[int] = []
    for row in rows:
        kind, subject = row.kind, row.subject
        if kind == ChangeKind.NAME_COUNTS:
            counted.append(row.id)
        elif kind == ChangeKind.BAN_CREATED:
            created.append(subject)
        elif kind == ChangeKind.BAN_LIFTED:
            _remove_ban(state, subject)
        elif kind in (ChangeKind.ACCOUNT_PROTECTED, ChangeKind.ACCOUNT_UNPROTECTED):
            protect.add(subject)
        elif kind == ChangeKind.BAN_SUPPRESSED:
            suppress.add(subject)
    if counted:
        # Absolute values: a count a later change changed again is read again with that change.
        for i in range(0, len(counted), 500):
            state.counts.set_many(
                session.execute(
                    sa.select(NameKeyCount.key_hash, NameKeyCount.accounts).where(
                        NameKeyCount.event_id.in_(counted[i : i + 500])
                    )
                )
            )
        add_held(state.held, session, counted)
    if created:
        _load_bans(state, session, created)
    if protect:
        _refresh_protected(state, session, protect)
    if suppress:
        fresh: dict[str, set[str]] = {b: set() for b in suppress}
        for ban_id, key in session.execute(
            sa.select(NameSuppression.ban_id, NameSuppression.name_key).where(
                NameSuppression.ban_id.in_(suppress)
            )
        ):
            fresh[ban_id].add(key)
        state.suppressed.update(fresh)


def _remove_ban(state: IndexState, ban_id: str) -> None:
    # Bloom bits stay: every Bloom hit is confirmed against the database anyway.
    before = len(state.names)
    state.names.remove_ban(ban_id)
    state.removed += before - len(state.names)
    state.ranges.remove_payload(ban_id)
    state.avatars.remove_bans([ban_id])
    state.expiring.pop(ban_id, None)
    state.ban_count = max(0, state.ban_count - 1)


def _load_bans(state: IndexState, session: Any, ban_ids: list[str]) -> None:
    if not ban_ids:
        return
    now = utcnow()
    found = {
        ban_id: expires_at
        for ban_id, expires_at in session.execute(
            sa.select(Ban.id, Ban.expires_at).where(Ban.id.in_(ban_ids), ban_is_live(now))
        )
    }
    if not found:
        return
    ids = list(found)
    # A create change can name a ban the build already read (it committed between the build's read
    # of the log's end and its read of the bans): drop whatever is loaded first, so loading twice
    # leaves one copy.
    for ban_id in ids:
        before = len(state.names)
        state.names.remove_ban(ban_id)
        again = len(state.names) < before
        state.removed += before - len(state.names)
        state.ranges.remove_payload(ban_id)
        if not again:
            state.ban_count += 1
    digests: list[str] = []
    for ban_id, kind, digest, value in session.execute(
        sa.select(
            BanIdentifier.ban_id, BanIdentifier.kind, BanIdentifier.value_hash, BanIdentifier.value
        ).where(BanIdentifier.ban_id.in_(ids))
    ):
        if kind == "ip_range":
            add_range(state.ranges, ban_id, value)
        elif digest:
            digests.append(digest)
    state.bloom.add_many(digests)
    for ban_id, name, encoded in session.execute(
        sa.select(BanName.ban_id, BanName.name, BanName.encoded)
        .where(BanName.ban_id.in_(ids))
        .order_by(BanName.ban_id)
    ):
        state.names.add(ban_id, name, encoded)
        state.name_count += 1
    load_avatars(state.avatars, session, ids)
    state.expiring.update({b: e for b, e in found.items() if e is not None})


def _refresh_protected(state: IndexState, session: Any, account_ids: set[str]) -> None:
    current = protected_names(session, account_ids)
    for account_id in account_ids:
        old = state.protected.pop(account_id, None)
        new = current.get(account_id)
        if old is not None and old != new and not any(other == old for other in state.protected.values()):
            state.policy.remove_protected(old)
        if new is not None:
            state.protected[account_id] = new
            protect_many(state.policy, [new])
