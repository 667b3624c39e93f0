"""Tell every worker's check index that something it holds changed: ``notify_index_changed``.

A writer calls it inside its transaction: the change log row commits (or rolls back) with the change
itself. Other processes see the row on their next poll (``ban_sync_seconds``). For a ban created,
lifted or suppressed this process's index is also woken, only after the commit (an SQLAlchemy
``after_commit`` hook), so it never reads the log before the change is there to read; name protection
and name counts changes wait for the poll here too, as they always have (the contract's sweep test
verifies two entities of one name within a poll interval).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from registry.index_changes.models import ChangeKind, IndexChange
from registry.timeutil import utcnow

__all__ = [
    "INDEX_EXTENSION_KEY",
    "ChangeKind",
    "IndexChange",
    "note_held_identifiers",
    "notify_index_changed",
    "notify_index_changes",
]

# Where the app keeps its check index (registry/check/index): looked up here, never imported.
INDEX_EXTENSION_KEY = "registry.check_index"
_PENDING = "registry.index_changed"
_HELD = "registry.index_held_identifiers"
# The kinds that make this process's index read the log at its next check instead of at its next poll.
WAKING_KINDS = frozenset({ChangeKind.BAN_CREATED, ChangeKind.BAN_LIFTED, ChangeKind.BAN_SUPPRESSED})


def notify_index_changed(session: Session | Any, kind: ChangeKind, subject: str | None = None) -> IndexChange:
    """Log one change in the session's transaction (flushed: its id is known); wake the index after commit."""
    change = IndexChange(kind=kind.value, subject=subject, at=utcnow())
    session.add(change)
    session.flush()
    if kind in WAKING_KINDS:
        session.info[_PENDING] = True
    return change


def notify_index_changes(session: Session | Any, kind: ChangeKind, subjects: Iterable[str]) -> int:
    """Log one change per subject in one insert (bulk writers); wake this process's index after commit."""
    now = utcnow()
    rows = [{"kind": kind.value, "subject": s, "at": now} for s in subjects]
    if rows:
        session.execute(sa.insert(IndexChange), rows)
        if kind in WAKING_KINDS:
            session.info[_PENDING] = True
    return len(rows)


def note_held_identifiers(session: Session | Any, digests: Iterable[str | None]) -> None:
    """Tell this process's index, after the commit, the identifier digests accounts now hold.

    The other workers learn them from the change log at their next poll (``Account.index_event_id``);
    this one at once, without a read, so a check right after an account write here counts it.
    """
    session.info.setdefault(_HELD, []).extend(d for d in digests if d)


@sa.event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    wake = session.info.pop(_PENDING, False)
    held = session.info.pop(_HELD, None)
    if (wake or held) and has_app_context():
        index = current_app.extensions.get(INDEX_EXTENSION_KEY)
        if index is not None:
            if wake:
                index.mark_stale()
            if held:
                index.note_held(held)


@sa.event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_HELD, None)
