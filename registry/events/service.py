"""Write events to the outbox in the caller's transaction; a rolled-back change sends nothing.

``emit_event(session, type, subject, data)`` stores one event and one pending delivery per subscription
that wants its type (read in the same transaction: a subscription made later never receives it).
Data carries ids, statuses and masked values only, never a raw identifier nor free text.

Every audited change that is an event is also emitted from the audit append itself
(``events_for_audit``, called by ``registry.audit.service.record_many``): the audit entry is written
in the change's own transaction by every path (HTTP, CLI, bulk imports, the sweep's batches), so no
path can change a status without telling the subscribers. What is not audited (a review opened by a
check) calls ``emit_event`` directly.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.events.models import OutboxEvent, WebhookDelivery, WebhookSubscription
from registry.ids import new_id
from registry.settings import app_settings
from registry.timeutil import json_default, utcnow


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
    """Write one event (and its deliveries) in the session's transaction; return the event id."""
    return emit_events(session, [(type, subject, data)])[0]


def emit_events(session: Session, events: Iterable[Event]) -> list[str]:
    """Write events in the order given (bulk paths); deliveries keep that order per subscription."""
    events = list(events)
    if not events:
        return []
    now = utcnow()
    rows = []
    for type_, subject, data in events:
        name = EventType(type_).value
        clean = json.loads(json.dumps(dict(data), default=json_default))
        rows.append({"id": new_id("evt_"), "type": name, "subject": subject, "at": now, "data": clean})
    session.execute(sa.insert(OutboxEvent), rows)
    subs = session.execute(
        sa.select(WebhookSubscription.id, WebhookSubscription.events).where(
            WebhookSubscription.paused.is_(False)
        )
    ).all()
    if subs:
        give_up = now + timedelta(seconds=float(app_settings().webhook_retry_seconds))
        deliveries = [
            {
                "subscription_id": sub_id,
                "event_id": row["id"],
                "subject": row["subject"],
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "next_at": now,
                "give_up_at": give_up,
            }
            for row in rows
            for sub_id, wanted in subs
            if f",{row['type']}," in wanted
        ]
        if deliveries:
            session.execute(sa.insert(WebhookDelivery), deliveries)
    return [row["id"] for row in rows]


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


def events_for_audit(session: Session, entries: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
    """Emit the events of audit entries being appended (same transaction, same order)."""
    out = [e for e in (_one(a, s, d or {}) for a, s, d in entries) if e is not None]
    if out:
        emit_events(session, out)
