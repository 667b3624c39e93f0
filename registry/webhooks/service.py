"""Webhook subscriptions (admin), their deliveries, and the deliverer that sends the outbox.

Fan-out: the write path only appends events to the outbox, at gapless positions in commit order
(registry/events). Each round, the deliverer first takes the events past the cursor
(``webhook_fanout``, one row) in position order, creates one pending delivery per subscription that
wanted the event when it was written, and moves the cursor, all in one transaction: killed at any
point, it leaves either nothing or all of it. What a subscription wanted at a position is its version
in force there (``webhook_subscription_versions``: one per creation, change and pause, stamped with
the last position at the time, under the audit head lock), so a subscription never receives events
older than itself, nor events written while it was paused or not subscribed to their type, however
late the fan-out runs. One deliverer fans out at a time (the cursor row is locked; PostgreSQL: the
others skip it, SKIP LOCKED; SQLite: the claim's ``BEGIN IMMEDIATE``), in position order, so the
deliveries' ids follow the events' order.

Delivery is at least once: a delivery row stays ``pending`` until a receiver answered 2xx, so a
deliverer killed between sending and recording sends it again, with the same event id. Deliverers
claim due rows under a lease (``lease_until``, ``leased_by``) in a short transaction: on PostgreSQL
``SELECT ... FOR UPDATE SKIP LOCKED`` lets several claim at once without waiting for each other, on
SQLite the claim runs in a ``BEGIN IMMEDIATE`` transaction (the database-wide write lock serialises
claimers). A leased row is not claimed again before its lease ends, and a deliverer does not send a
row whose lease it no longer holds, so no two deliverers send one event at the same time. Order per
subject: a row is due only when no earlier row of the same subscription and subject is still pending.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from registry.audit.service import record
from registry.db import get_or_404, keyset_page, writing
from registry.domain_errors import Conflict, InvalidField
from registry.events.models import (
    OutboxCursor,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    WebhookSubscriptionVersion,
)
from registry.events.service import EVENT_TYPES, last_position
from registry.extensions import db
from registry.ids import new_id
from registry.settings import Settings, app_settings
from registry.timeutil import json_default, utcnow
from registry.webhooks.net import Policy, Refused, Sender, resolve, split_url
from registry.webhooks.signing import SIGNATURE_HEADER, new_secret, seal, signature_header, unseal

log = logging.getLogger(__name__)
LOG_KEEP = 20  # attempts kept on a delivery row
FANOUT_BATCH = 1000  # outbox events one fan-out transaction takes


def policy(settings: Settings | None = None) -> Policy:
    return Policy.parse((settings or app_settings()).webhook_allowed_hosts)


def _events_text(events: list[str]) -> str:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise InvalidField("events", f"Unknown event type(s): {', '.join(unknown)}.")
    return "," + ",".join(sorted(set(events))) + ","


def _check_url(url: str) -> None:
    try:
        split_url(url)
        resolve(url, policy())
    except Refused as exc:
        raise InvalidField("url", str(exc)) from None


def subscription_doc(sub: WebhookSubscription, secret: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": sub.id,
        "url": sub.url,
        "events": [e for e in sub.events.split(",") if e],
        "paused": sub.paused,
        "paused_reason": sub.paused_reason,
        "created_at": sub.created_at,
        "updated_at": sub.updated_at,
        "previous_secret_until": sub.previous_until,
    }
    if secret is not None:
        doc["secret"] = secret
    return doc


def _audit(sub: WebhookSubscription, action: str, actor: str, **extra: Any) -> None:
    data = {"url": sub.url, "events": [e for e in sub.events.split(",") if e], "paused": sub.paused, **extra}
    record(action, f"webhook:{sub.id}", data, actor=actor)


def _version(sub: WebhookSubscription) -> None:
    """Record what the subscription wants from the next event on; call after its audit entry."""
    # The audit append holds the head, where the positions are taken, to the commit: an event has a
    # position above this one exactly when it was written after this change.
    db.session.add(
        WebhookSubscriptionVersion(
            subscription_id=sub.id,
            seq=last_position(db.session()),
            events=sub.events,
            paused=sub.paused,
            at=utcnow(),
        )
    )


def create_subscription(data: Mapping[str, Any], *, actor: str) -> dict[str, Any]:
    """Create a subscription; the answer holds its signing secret, the only time it is shown; commit."""
    _check_url(data["url"])
    now = utcnow()
    sub_id = new_id("whk_")
    secret = new_secret()
    sub = WebhookSubscription(
        id=sub_id,
        url=data["url"],
        events=_events_text(list(data["events"])),
        paused=bool(data.get("paused", False)),
        secret_sealed=seal(app_settings().audit_key, sub_id, secret),
        created_at=now,
        created_by=actor,
        updated_at=now,
    )
    db.session.add(sub)
    db.session.flush()
    _audit(sub, "webhook.create", actor)
    _version(sub)
    db.session.commit()
    return subscription_doc(sub, secret)


def get_subscription(sub_id: str, *, for_update: bool = False) -> WebhookSubscription:
    return get_or_404(WebhookSubscription, sub_id, "webhook", for_update=for_update)


def list_subscriptions(args: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    rows, nxt = keyset_page(sa.select(WebhookSubscription), WebhookSubscription.id, args)
    return [subscription_doc(r) for r in rows], nxt


def update_subscription(sub_id: str, data: Mapping[str, Any], *, actor: str) -> dict[str, Any]:
    """Change url, events or paused (un-pausing clears the reason); commit."""
    sub = get_subscription(sub_id, for_update=True)
    if "url" in data and data["url"] != sub.url:
        _check_url(data["url"])
        sub.url = data["url"]
    if "events" in data:
        sub.events = _events_text(list(data["events"]))
    if "paused" in data:
        sub.paused = bool(data["paused"])
        sub.paused_reason = "paused by staff" if sub.paused else None
    sub.updated_at = utcnow()
    db.session.flush()
    _audit(sub, "webhook.update", actor)
    _version(sub)
    db.session.commit()
    return subscription_doc(sub)


def delete_subscription(sub_id: str, *, actor: str) -> None:
    """Delete a subscription and its deliveries (sent or not); commit."""
    sub = get_subscription(sub_id, for_update=True)
    _audit(sub, "webhook.delete", actor)
    mine = sa.select(WebhookDelivery.id).where(WebhookDelivery.subscription_id == sub_id)
    db.session.execute(sa.delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(mine)))
    db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id))
    db.session.execute(
        sa.delete(WebhookSubscriptionVersion).where(WebhookSubscriptionVersion.subscription_id == sub_id)
    )
    db.session.delete(sub)
    db.session.commit()


def rotate_secret(sub_id: str, *, actor: str) -> dict[str, Any]:
    """Mint a new secret (shown once); the old one keeps signing for REGISTRY_WEBHOOK_SECRET_OVERLAP."""
    settings = app_settings()
    sub = get_subscription(sub_id, for_update=True)
    secret = new_secret()
    now = utcnow()
    sub.previous_secret_sealed = sub.secret_sealed
    sub.previous_until = now + timedelta(seconds=float(settings.webhook_secret_overlap))
    sub.secret_sealed = seal(settings.audit_key, sub.id, secret)
    sub.updated_at = now
    db.session.flush()
    _audit(sub, "webhook.rotate_secret", actor, previous_secret_until=sub.previous_until)
    db.session.commit()
    return subscription_doc(sub, secret)


def _attempts(ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The last LOG_KEEP attempts of each delivery, oldest first."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return out
    a = WebhookAttempt
    rows = db.session.execute(
        sa.select(a.delivery_id, a.at, a.status, a.error, a.ms)
        .where(a.delivery_id.in_(ids))
        .order_by(a.id.desc())
    ).all()
    for delivery_id, at, status, error, ms in rows:
        kept = out[delivery_id]
        if len(kept) < LOG_KEEP:
            kept.insert(0, {"at": json_default(at), "status": status, "error": error, "ms": ms})
    return out


def delivery_doc(
    row: WebhookDelivery, event_type: str | None = None, log: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "id": row.id,
        "subscription_id": row.subscription_id,
        "event_id": row.event_id,
        "event_type": event_type,
        "subject": row.subject,
        "status": row.status,
        "attempts": row.attempts,
        "created_at": row.created_at,
        "next_at": row.next_at if row.status == "pending" else None,
        "give_up_at": row.give_up_at,
        "delivered_at": row.delivered_at,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "log": log if log is not None else _attempts([row.id])[row.id],
    }


def list_deliveries(sub_id: str, args: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """Deliveries of one subscription, newest first, with their attempts."""
    get_subscription(sub_id)
    stmt = sa.select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id)
    if args.get("status"):
        stmt = stmt.where(WebhookDelivery.status == args["status"])
    rows, nxt = keyset_page(stmt, WebhookDelivery.id, args, cast=int, descending=True)
    types = dict(
        db.session.execute(
            sa.select(OutboxEvent.id, OutboxEvent.type).where(OutboxEvent.id.in_({r.event_id for r in rows}))
        ).all()
    )
    logs = _attempts([r.id for r in rows])
    return [delivery_doc(r, types.get(r.event_id), logs[r.id]) for r in rows], nxt


def retry_delivery(delivery_id: int, *, actor: str) -> dict[str, Any]:
    """Send a delivery again (delivered or dead ones too): pending now, retried for the whole window."""
    settings = app_settings()
    row = get_or_404(WebhookDelivery, delivery_id, "delivery", for_update=True)  # type: ignore[arg-type]
    now = utcnow()
    if row.status == "pending" and row.lease_until is not None and row.lease_until > now:
        raise Conflict(f"Delivery {delivery_id} is being sent right now; look again in a moment.")
    row.status = "pending"
    row.next_at = now
    row.give_up_at = now + timedelta(seconds=float(settings.webhook_retry_seconds))
    row.lease_until = None
    row.leased_by = None
    db.session.flush()
    record(
        "webhook.retry",
        f"webhook:{row.subscription_id}",
        {"delivery_id": row.id, "event_id": row.event_id},
        actor=actor,
    )
    db.session.commit()
    event_type = db.session.scalar(sa.select(OutboxEvent.type).where(OutboxEvent.id == row.event_id))
    return delivery_doc(row, event_type)


# --- the deliverer -----------------------------------------------------------------------------------


def event_body(event: OutboxEvent) -> bytes:
    """The request body: ``{"id", "type", "at", "data"}``, compact, keys sorted (same bytes on a repeat)."""
    return event_body_of(event.id, event.type, event.at, event.data)


def event_body_of(event_id: str, event_type: str, at: datetime, data: Any) -> bytes:
    doc = {"id": event_id, "type": event_type, "at": json_default(at), "data": data}
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=json_default
    ).encode()


def backoff(attempts: int, settings: Settings, rng: Callable[[], float] = random.random) -> float:
    """Seconds before the next try: base * 2^(attempts-1), capped, with jitter (half to all of it)."""
    delay = min(
        settings.webhook_retry_max_seconds, settings.webhook_retry_base_seconds * 2 ** max(0, attempts - 1)
    )
    return float(delay * (0.5 + 0.5 * rng()))


@dataclass
class _Job:
    delivery_id: int
    subscription_id: str
    url: str
    secrets: list[str]
    body: bytes
    event_id: str
    event_type: str
    deadline: float  # time.monotonic() by which the send must start (the lease, minus a margin)


@dataclass
class _Outcome:
    job: _Job
    status: int | None = None
    error: str | None = None
    ms: int = 0
    skipped: bool = False


@dataclass
class DeliverStats:
    fanned: int = 0  # outbox events fanned out
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    paused: int = 0
    batches: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class Deliverer:
    """Fans the outbox out, claims due deliveries, sends them signed (several at once), records outcomes."""

    def __init__(
        self,
        *,
        batch_size: int = 100,
        concurrency: int = 8,
        fanout_batch: int = FANOUT_BATCH,
        worker_id: str | None = None,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = app_settings()
        self.policy = policy(self.settings)
        self.batch_size = batch_size
        self.fanout_batch = max(1, fanout_batch)
        self.concurrency = max(1, concurrency)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
        s = self.settings
        self.sender = Sender(
            connect_timeout=s.webhook_connect_timeout,
            read_timeout=s.webhook_read_timeout,
            pool_size=self.concurrency,
        )
        # Every send of a batch may take both timeouts; the lease covers the batch with room to spare.
        rounds = -(-batch_size // self.concurrency)
        self.send_bound = s.webhook_connect_timeout + s.webhook_read_timeout + 1.0
        self.lease_seconds = rounds * self.send_bound * 1.5 + 5.0
        self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="webhook")
        self.on_sent = on_sent
        self.stats = DeliverStats()
        self.stop = threading.Event()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.sender.close()

    def fan_out(self) -> int:
        """Create the deliveries of the events past the cursor and move it; commit; return the events taken.

        0 when nothing is new, or when another deliverer is fanning out (PostgreSQL).
        """
        e = OutboxEvent
        db.session.rollback()
        # Idle rounds take no lock (nor SQLite's write lock): is anything past the cursor at all?
        at = sa.func.coalesce(sa.select(OutboxCursor.seq).where(OutboxCursor.id == 1).scalar_subquery(), 0)
        new = db.session.scalar(sa.select(e.seq).where(e.seq > at).limit(1))
        db.session.rollback()
        if new is None:
            return 0
        with writing():
            cursor = self._lock_cursor()
            if cursor is None:
                db.session.rollback()
                return 0
            events = db.session.execute(
                sa.select(e.seq, e.id, e.type, e.subject)
                .where(e.seq > cursor.seq)
                .order_by(e.seq)
                .limit(self.fanout_batch)
            ).all()
            if not events:
                db.session.rollback()
                return 0
            # Read after the events: a change whose version is below one of them has committed (it
            # held the audit head until then), so its version is seen here.
            deliveries = self._deliveries_of(events, upto=int(events[-1].seq))
            if deliveries:
                dialect = db.session.get_bind().dialect.name
                table = WebhookDelivery.__table__
                insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
                # Idempotent: a cursor row made again from 0 re-creates no delivery.
                db.session.execute(insert.on_conflict_do_nothing(), deliveries)
            cursor.seq = int(events[-1].seq)
            cursor.updated_at = utcnow()
            db.session.commit()
        self.stats.fanned += len(events)
        return len(events)

    def _lock_cursor(self) -> OutboxCursor | None:
        stmt = sa.select(OutboxCursor).where(OutboxCursor.id == 1)
        dialect = db.session.get_bind().dialect.name
        if dialect == "postgresql":
            # One fan-out at a time; the others go on to claim deliveries instead of waiting.
            stmt = stmt.with_for_update(skip_locked=True)
        cursor = db.session.scalar(stmt)
        if cursor is None:
            # The migration makes the row; made again from 0 if it went (table emptied by hand).
            values = {"id": 1, "seq": 0, "updated_at": utcnow()}
            insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(OutboxCursor)
            db.session.execute(insert.values(values).on_conflict_do_nothing(index_elements=["id"]))
            cursor = db.session.scalar(stmt.execution_options(populate_existing=True))
        return cursor

    def _deliveries_of(self, events: Sequence[Any], *, upto: int) -> list[dict[str, Any]]:
        """The delivery rows of events, in their order: one per subscription wanting it when written."""
        w, v = WebhookSubscription, WebhookSubscriptionVersion
        subs = sa.select(w.id)
        if db.session.get_bind().dialect.name == "postgresql":
            # A subscription being deleted is waited for, then not seen: no delivery for a gone row.
            subs = subs.with_for_update(read=True, key_share=True)
        sub_ids = list(db.session.scalars(subs))
        if not sub_ids:
            return []
        versions: dict[str, list[Any]] = {}
        for row in db.session.execute(
            sa.select(v.id, v.subscription_id, v.seq, v.events, v.paused)
            .where(v.subscription_id.in_(sub_ids))
            .order_by(v.subscription_id, v.seq, v.id)
        ):
            versions.setdefault(row.subscription_id, []).append(row)
        self._prune(versions, upto)
        now = utcnow()
        give_up = now + timedelta(seconds=float(self.settings.webhook_retry_seconds))
        positions = {sub_id: [r.seq for r in rows] for sub_id, rows in versions.items()}
        out = []
        for event in events:
            wanted = f",{event.type},"
            for sub_id, rows in versions.items():
                # In force when the event was written: the last version below its position.
                at = bisect_left(positions[sub_id], event.seq) - 1
                if at < 0 or rows[at].paused or wanted not in rows[at].events:
                    continue
                out.append(
                    {
                        "subscription_id": sub_id,
                        "event_id": event.id,
                        "subject": event.subject,
                        "status": "pending",
                        "attempts": 0,
                        "created_at": now,
                        "next_at": now,
                        "give_up_at": give_up,
                    }
                )
        return out

    def _prune(self, versions: Mapping[str, list[Any]], upto: int) -> None:
        """Delete the versions no event past ``upto`` can be under: before the last one at or below it."""
        gone: list[int] = []
        for rows in versions.values():
            below = bisect_left([r.seq for r in rows], upto + 1)  # how many are at or below upto
            if below > 1:
                gone.extend(r.id for r in rows[: below - 1])
        if gone:
            v = WebhookSubscriptionVersion
            db.session.execute(sa.delete(v).where(v.id.in_(gone)))

    def claim(self) -> list[int]:
        """Lease up to batch_size due deliveries to this worker; commit; return their ids in order."""
        d = WebhookDelivery
        earlier = aliased(WebhookDelivery)
        now = utcnow()
        blocked = (
            sa.exists()
            .where(
                earlier.subscription_id == d.subscription_id,
                earlier.subject == d.subject,
                earlier.id < d.id,
                earlier.status == "pending",
            )
            .correlate(d)
        )
        stmt = (
            sa.select(d.id)
            .join(WebhookSubscription, WebhookSubscription.id == d.subscription_id)
            .where(
                d.status == "pending",
                d.next_at <= now,
                sa.or_(d.lease_until.is_(None), d.lease_until < now),
                WebhookSubscription.paused.is_(False),
                ~blocked,
            )
            .order_by(d.id)
            .limit(self.batch_size)
        )
        db.session.rollback()
        with writing():
            if db.session.get_bind().dialect.name == "postgresql":
                # Claimers skip each other's rows instead of queueing behind them.
                stmt = stmt.with_for_update(skip_locked=True, of=d)
            ids = list(db.session.scalars(stmt))
            if ids:
                db.session.execute(
                    sa.update(d)
                    .where(d.id.in_(ids))
                    .values(lease_until=now + timedelta(seconds=self.lease_seconds), leased_by=self.worker_id)
                )
            db.session.commit()
        return ids

    def _jobs(self, ids: list[int], claimed_at: float) -> list[_Job]:
        d, e, w = WebhookDelivery, OutboxEvent, WebhookSubscription
        rows = db.session.execute(
            sa.select(
                d.id,
                w.id,
                w.url,
                w.secret_sealed,
                w.previous_secret_sealed,
                w.previous_until,
                e.id,
                e.type,
                e.at,
                e.data,
            )
            .join(e, e.id == d.event_id)
            .join(w, w.id == d.subscription_id)
            .where(d.id.in_(ids))
            .order_by(d.id)
        ).all()
        db.session.rollback()
        now = utcnow()
        key = self.settings.audit_key
        secrets: dict[str, list[str]] = {}
        deadline = claimed_at + self.lease_seconds - self.send_bound - 2.0
        jobs = []
        for delivery_id, sub_id, url, sealed, previous, until, event_id, event_type, at, data in rows:
            if sub_id not in secrets:
                current = [unseal(key, sub_id, sealed)]
                if previous and until and until > now:
                    current.append(unseal(key, sub_id, previous))
                secrets[sub_id] = current
            body = event_body_of(event_id, event_type, at, data)
            jobs.append(_Job(delivery_id, sub_id, url, secrets[sub_id], body, event_id, event_type, deadline))
        return jobs

    def _send(self, job: _Job) -> _Outcome:
        if time.monotonic() > job.deadline:
            return _Outcome(job, skipped=True)  # the lease may have passed to another deliverer
        started = time.perf_counter()
        out = _Outcome(job)
        try:
            target = resolve(job.url, self.policy)
            stamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "registry-webhooks/1",
                "Registry-Event-Id": job.event_id,
                "Registry-Event-Type": job.event_type,
                "Registry-Delivery-Id": str(job.delivery_id),
                SIGNATURE_HEADER: signature_header(job.secrets, stamp, job.body),
            }
            answer = self.sender.post(target, job.body, headers)
            out.status = answer.status
            if not 200 <= answer.status < 300:
                out.error = f"HTTP {answer.status}" + (
                    " (redirects are not followed)" if 300 <= answer.status < 400 else ""
                )
        except Refused as exc:
            out.error = f"refused: {exc}"
        except Exception as exc:  # noqa: BLE001 - any failure of one send is that delivery's error, retried
            out.error = f"{type(exc).__name__}: {exc}"[:400]
        out.ms = int((time.perf_counter() - started) * 1000)
        return out

    def _record(self, outcomes: list[_Outcome]) -> None:
        """Write every outcome of a batch in one transaction (a few statements); release the leases."""
        now = utcnow()
        s = self.settings
        d = WebhookDelivery
        with writing():
            rows = {
                r.id: r
                for r in db.session.execute(
                    sa.select(d.id, d.subscription_id, d.attempts, d.give_up_at).where(
                        d.id.in_([o.job.delivery_id for o in outcomes]), d.leased_by == self.worker_id
                    )
                )
            }
            released: list[int] = []
            delivered: list[tuple[int, int]] = []  # (id, 2xx status)
            failed: list[dict[str, Any]] = []
            tries: list[dict[str, Any]] = []
            pause: dict[str, str] = {}
            for out in outcomes:
                row = rows.get(out.job.delivery_id)
                if row is None:
                    continue  # retried by staff or taken over meanwhile: theirs to record
                if out.skipped:
                    released.append(row.id)
                    continue
                tries.append(
                    {"delivery_id": row.id, "at": now, "status": out.status, "error": out.error, "ms": out.ms}
                )
                self.stats.sent += 1
                if out.error is None:
                    delivered.append((row.id, int(out.status or 200)))
                    self.stats.delivered += 1
                    continue
                self.stats.failed += 1
                attempts = row.attempts + 1
                change = {
                    "b_id": row.id,
                    "b_status": "pending",
                    "b_next": now,
                    "b_code": out.status,
                    "b_error": out.error,
                }
                if out.status == 410:
                    # The receiver says it is gone: pause; this delivery waits for an un-pause.
                    pause[row.subscription_id] = f"the receiver answered 410 Gone at {json_default(now)}"
                elif now >= row.give_up_at:
                    change["b_status"] = "dead"
                    self.stats.dead += 1
                else:
                    change["b_next"] = now + timedelta(seconds=backoff(attempts, s))
                failed.append(change)
            lease_off = {"lease_until": None, "leased_by": None}
            if released:
                db.session.execute(sa.update(d).where(d.id.in_(released)).values(**lease_off))
            for code in sorted({c for _i, c in delivered}):
                db.session.execute(
                    sa.update(d)
                    .where(d.id.in_([i for i, c in delivered if c == code]))
                    .values(
                        status="delivered",
                        delivered_at=now,
                        attempts=d.attempts + 1,
                        last_status=code,
                        last_error=None,
                        **lease_off,
                    )
                )
            if failed:
                # Core, so that executemany binds each row's values (the ORM wants primary keys by name).
                t = WebhookDelivery.__table__
                db.session.execute(
                    sa.update(t)
                    .where(t.c.id == sa.bindparam("b_id"))
                    .values(
                        status=sa.bindparam("b_status"),
                        next_at=sa.bindparam("b_next"),
                        last_status=sa.bindparam("b_code"),
                        last_error=sa.bindparam("b_error"),
                        attempts=t.c.attempts + 1,
                        lease_until=None,
                        leased_by=None,
                    ),
                    failed,
                )
            if tries:
                db.session.execute(sa.insert(WebhookAttempt), tries)
            for sub_id, reason in pause.items():
                sub = db.session.get(WebhookSubscription, sub_id)
                if sub is not None and not sub.paused:
                    sub.paused, sub.paused_reason, sub.updated_at = True, reason, now
                    self.stats.paused += 1
                    db.session.flush()
                    _audit(sub, "webhook.pause", "system:webhooks", reason="410")
                    _version(sub)
            db.session.commit()

    def run_batch(self) -> int:
        """Fan out new events, then claim, send and record one batch; return the events and rows taken."""
        fanned = self.fan_out()
        claimed_at = time.monotonic()
        ids = self.claim()
        if not ids:
            return fanned
        jobs = self._jobs(ids, claimed_at)
        outcomes = list(self.pool.map(self._send, jobs))
        self._record(outcomes)
        self.stats.batches += 1
        if self.on_sent is not None:
            self.on_sent(len(ids))
        return fanned + len(ids)

    def run(self, *, once: bool = False, poll_seconds: float = 1.0) -> DeliverStats:
        """Deliver until stopped; with ``once``, until nothing is due."""
        while not self.stop.is_set():
            try:
                n = self.run_batch()
            except sa.exc.OperationalError as exc:
                db.session.rollback()
                if once:
                    raise
                log.warning("webhook deliverer: database unavailable (%s); retrying", exc.__class__.__name__)
                n = 0
            if n == 0:
                if once:
                    break
                self.stop.wait(poll_seconds)
        return self.stats


def next_due(now: datetime | None = None) -> int:
    """Count deliveries due now (for tests and the command's summary)."""
    now = now or utcnow()
    d = WebhookDelivery
    return int(
        db.session.scalar(
            sa.select(sa.func.count()).select_from(d).where(d.status == "pending", d.next_at <= now)
        )
        or 0
    )
