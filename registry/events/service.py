"""Write events to the outbox in the caller's transaction; a rolled-back change sends nothing.

``emit_event(session, type, subject, data)`` adds one event to the session's transaction. Data carries
ids, statuses and masked values only, never a raw identifier nor free text.

Every audited change that is an event is also emitted from the audit append itself
(``events_for_audit``, called by ``registry.audit.service.record_many``): the audit entry is written
in the change's own transaction by every path (HTTP, CLI, bulk imports, the sweep's batches), so no
path can change a status without telling the subscribers. What is not audited (a review opened by a
check) calls ``emit_event`` directly.

Each event gets a position (``seq``: 1, 2, 3 ...) from the audit head's ``event_seq``, under the
head's lock, which its holder keeps to the commit: positions are gapless and follow the commit order,
so the deliverer fans events out past a cursor and never skips one that commits late (registry/
webhooks). The audit append positions its events in the UPDATE of the head it makes anyway; an event
emitted directly waits in the session until that append or, failing one, until the commit, which then
locks the head (the last lock, as registry/locking.py orders them). The write path reads no
subscription and writes no delivery: the fan-out does, in the deliverer's own transaction.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, SessionTransaction

from registry.audit.models import AuditHead
from registry.events.models import OutboxEvent
from registry.ids import new_id
from registry.timeutil import json_default, utcnow

# session.info: the rows of events emitted directly, not yet positioned and written.
_PENDING = "registry.outbox_pending"


class EventType(enum.StrEnum):
    """Every event type a subscription may ask for; extend here."""

    ACCOUNT_STATUS_CHANGED = "account.status_changed"
    ACCOUNT_TIER_CHANGED = "account.tier_changed"
    BAN_CREATED = "ban.created"
    BAN_LIFTED = "ban.lifted"
    REVIEW_OPENED = "review.opened"
    REVIEW_RESOLVED = "review.resolved"
    # Emitted from the appeals' audit entries (appeal.open, appeal.decide).
    APPEAL_OPENED = "appeal.opened"
    APPEAL_DECIDED = "appeal.decided"


EVENT_TYPES = tuple(t.value for t in EventType)
Event = tuple[EventType | str, str, Mapping[str, Any]]


def emit_event(session: Session, type: EventType | str, subject: str, data: Mapping[str, Any]) -> str:
    """Add one event to the session's transaction (written by its audit append or commit); return its id."""
    return emit_events(session, [(type, subject, data)])[0]


def emit_events(session: Session, events: Iterable[Event]) -> list[str]:
    """Add events in the order given (bulk paths) to the session's transaction; return their ids."""
    rows = _rows(events)
    if rows:
        session.connection()  # in a transaction now: a rollback before the commit forgets them
        session.info.setdefault(_PENDING, []).extend(rows)
    return [row["id"] for row in rows]


def _rows(events: Iterable[Event]) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for type_, subject, data in events:
        name = EventType(type_).value
        clean = json.loads(json.dumps(dict(data), default=json_default))
        rows.append({"id": new_id("evt_"), "type": name, "subject": subject, "at": now, "data": clean})
    return rows


def event_row(type: EventType | str, subject: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Return one event's row, not yet positioned (for append_event_statement)."""
    return _rows([(type, subject, data)])[0]


def event_head_cte() -> Any:
    """Return ``UPDATE audit_head SET event_seq = event_seq + 1 RETURNING event_seq`` as a CTE.

    For append_event_statement; a change written in the same statement may select its rows FROM it,
    so that without a head row nothing at all is written (see there).
    """
    return (
        sa.update(AuditHead)
        .where(AuditHead.id == 1)
        .values(event_seq=AuditHead.event_seq + 1)
        .returning(AuditHead.event_seq)
        .cte("event_head")
    )


def append_event_statement(head: Any, *ctes: Any) -> Any:
    """Return one INSERT that positions an event under the head and writes it (PostgreSQL only).

    ``WITH <ctes>, event_head AS (UPDATE audit_head SET event_seq = event_seq + 1 RETURNING event_seq)
    INSERT INTO webhook_events SELECT :event_id, event_head.event_seq, ... FROM event_head RETURNING
    id``, its values bound as event_id, event_type, event_subject, event_at and event_data (an
    event_row's); ``head`` is event_head_cte(). Run in autocommit, the change (the ``ctes``,
    data-modifying) and its event are one statement and one transaction, and the head's row lock is
    held from the UPDATE to the commit only, not across round trips. Without a head row no event is
    inserted (no id returned): the change's own CTEs should select FROM the head too, so that they
    insert nothing either, and the caller writes all of it through the session (lock_head recreates
    the head).
    """
    table = OutboxEvent.__table__
    select = sa.select(
        sa.bindparam("event_id", type_=sa.String),
        head.c.event_seq,
        sa.bindparam("event_type", type_=sa.String),
        sa.bindparam("event_subject", type_=sa.String),
        sa.bindparam("event_at", type_=sa.DateTime),
        sa.bindparam("event_data", type_=table.c.data.type),
    )
    stmt = sa.insert(table).from_select(["id", "seq", "type", "subject", "at", "data"], select)
    return stmt.add_cte(*ctes, head).returning(table.c.id)


def event_params(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return append_event_statement's values for an event_row (its data as JSON text)."""
    return {
        "event_id": row["id"],
        "event_type": row["type"],
        "event_subject": row["subject"],
        "event_at": row["at"],
        "event_data": json.dumps(row["data"]),
    }


def position_events(session: Session, head: AuditHead, events: Iterable[Event] = ()) -> list[dict[str, Any]]:
    """Give the session's waiting events, then ``events``, the next positions (head held); return the rows."""
    rows: list[dict[str, Any]] = session.info.pop(_PENDING, []) + _rows(events)
    if not rows:
        return rows
    first = head.event_seq + 1
    for offset, row in enumerate(rows):
        row["seq"] = first + offset
    head.event_seq = first + len(rows) - 1
    return rows


def append_events(session: Session, head: AuditHead, events: Iterable[Event] = ()) -> None:
    """Write the session's waiting events, then ``events``, at the next positions; the head is locked."""
    rows = position_events(session, head, events)
    if rows:
        session.flush()  # the head's UPDATE
        session.execute(sa.insert(OutboxEvent), rows)


def last_position(session: Session) -> int:
    """Return the position of the last event appended (0 before the first); read under the head lock."""
    return int(session.scalar(sa.select(AuditHead.event_seq).where(AuditHead.id == 1)) or 0)


@sa.event.listens_for(Session, "before_commit")
def _append_before_commit(session: Session) -> None:
    if session.info.get(_PENDING) and not session.in_nested_transaction():
        # Imported here: the audit service imports this module (the two sit on one layer).
        from registry.audit.service import lock_head

        append_events(session, lock_head(session))


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_at_the_end(session: Session, transaction: SessionTransaction) -> None:
    # Written at the commit or rolled back with the change; a SAVEPOINT's end keeps them (no caller
    # emits inside one).
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def review_reasons(reasons: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return a check's reasons as events carry them: code, field, ban id and score, nothing typed in."""
    return [_pick(r, "code", "field", "ban_id", "score", "distance", "accounts") for r in reasons]


# --- audited changes that are events ----------------------------------------------------------------


def _pick(data: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {n: data[n] for n in names if data.get(n) is not None}


def _account_id(subject: str) -> str:
    return subject.split(":", 1)[1]


def _status(subject: str, data: Mapping[str, Any], from_: Any, to: str, *extra: str) -> Event:
    body = {"account_id": _account_id(subject), "from": from_, "to": to, **_pick(data, *extra)}
    return (EventType.ACCOUNT_STATUS_CHANGED, subject, body)


def _one(action: str, subject: str, data: Mapping[str, Any]) -> Event | None:
    if action == "account.status":
        return _status(subject, data, data.get("from"), str(data.get("to")), "ban_id")
    if action == "account.dormant":
        return _status(subject, data, "active", "dormant", "rule", "run", "suspend_after")
    if action == "account.suspend":
        return _status(subject, data, data.get("from", "dormant"), "suspended", "run")
    if action == "account.purge":
        return _status(subject, data, "suspended", "purged", "run")
    if action == "account.reactivate":
        return _status(subject, data, data.get("from"), "active")
    if action == "tier.change":
        body = {"account_id": _account_id(subject), **_pick(data, "from", "to", "rule", "automatic")}
        return (EventType.ACCOUNT_TIER_CHANGED, subject, body)
    if action == "ban.create":
        # Masks only ("138****0000"): the audit data of a ban never holds a raw identifier.
        body = {
            "ban_id": _account_id(subject),
            **_pick(data, "account_id", "rule", "expires_at", "source", "identifiers"),
        }
        return (EventType.BAN_CREATED, subject, body)
    if action == "ban.lift":
        return (
            EventType.BAN_LIFTED,
            subject,
            {"ban_id": _account_id(subject), **_pick(data, "account_id", "rule")},
        )
    if action == "appeal.open":
        body = {"appeal_id": _account_id(subject), **_pick(data, "account_id", "ban_id", "violation_id")}
        return (EventType.APPEAL_OPENED, subject, body)
    if action == "appeal.decide":
        # The staff note stays out: free text, like the user's statement.
        body = {
            "appeal_id": _account_id(subject),
            **_pick(data, "account_id", "ban_id", "violation_id", "outcome", "forced"),
        }
        return (EventType.APPEAL_DECIDED, subject, body)
    if action == "review.resolve":
        body = {
            "review_id": _account_id(subject),
            **_pick(data, "check_id", "account_id", "status", "ban_id", "rule"),
        }
        return (EventType.REVIEW_RESOLVED, subject, body)
    return None


def events_for_audit(
    session: Session, head: AuditHead, entries: Sequence[tuple[str, str, Mapping[str, Any]]]
) -> list[dict[str, Any]]:
    """Return the outbox rows of audit entries being appended, positioned after the waiting ones.

    Same transaction, same order, head held: the caller inserts the rows with its entries.
    """
    out = [e for e in (_one(a, s, d or {}) for a, s, d in entries) if e is not None]
    return position_events(session, head, out)
