"""The fan-out in the deliverer: outbox positions, the cursor, subscription versions, crashes, order."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.audit.models import AuditHead
from registry.audit.service import record
from registry.events.models import OutboxCursor, OutboxEvent, WebhookDelivery, WebhookSubscriptionVersion
from registry.events.service import EventType, emit_event
from registry.extensions import db
from registry.webhooks.service import Deliverer

ALL = ["account.status_changed", "account.tier_changed", "ban.created", "ban.lifted"]


@pytest.fixture
def app(app_factory):
    return app_factory(webhook_allowed_hosts=("127.0.0.1/32",), webhook_retry_base_seconds=60)


@pytest.fixture
def admin(auth):
    return auth("admin", name="ops")


def subscribe(client, admin, receiver, events=ALL, **extra):
    response = client.post(
        "/v1/webhooks", json={"url": receiver.url, "events": events, **extra}, headers=admin
    )
    assert response.status_code == 201, response.json
    receiver.secrets.append(response.json["secret"])
    return response.json


def deliverer(app, **options):
    with app.app_context():
        return Deliverer(concurrency=2, **{"batch_size": 50, **options})


def deliver(app, **options):
    with app.app_context():
        d = Deliverer(concurrency=2, **{"batch_size": 50, **options})
        try:
            return d.run(once=True)
        finally:
            d.close()


def fan_out(app, **options):
    with app.app_context():
        d = Deliverer(**options)
        try:
            return d.fan_out()
        finally:
            d.close()


def ban(client, admin, account_id):
    response = client.post(
        "/v1/bans", json={"account_id": account_id, "reason": "x", "rule": "R1"}, headers=admin
    )
    assert response.status_code == 201, response.json
    return response.json


def lift(client, admin, ban_id):
    response = client.post(f"/v1/bans/{ban_id}/lift", json={"reason": "y"}, headers=admin)
    assert response.status_code == 200, response.json


def account(client, admin, account_id):
    body = {"id": account_id, "username": f"user_{account_id}"}
    assert client.post("/v1/accounts", json=body, headers=admin).status_code == 201


def rows(app, *columns, where=()):
    with app.app_context():
        return [tuple(r) for r in db.session.execute(sa.select(*columns).where(*where)).all()]


def cursor(app):
    with app.app_context():
        # No row counts as 0: the fan-out makes it again after a test that emptied every table.
        return db.session.scalar(sa.select(OutboxCursor.seq)) or 0


def test_the_write_path_writes_outbox_rows_only_at_gapless_positions(app, client, admin, receiver):
    subscribe(client, admin, receiver)
    account(client, admin, "u1")
    made = ban(client, admin, "u1")
    lift(client, admin, made["id"])
    events = rows(app, OutboxEvent.seq, OutboxEvent.type)
    assert sorted(events) == [
        (1, "ban.created"),
        (2, "account.status_changed"),
        (3, "ban.lifted"),
        (4, "account.status_changed"),
    ]
    assert rows(app, WebhookDelivery.id) == []  # no subscription read, no delivery written
    assert rows(app, AuditHead.event_seq) == [(4,)]
    assert fan_out(app) == 4 and cursor(app) == 4
    assert fan_out(app) == 0
    delivered = rows(app, WebhookDelivery.event_id)
    assert len(delivered) == 4
    assert deliver(app).delivered == 4 and len(receiver.requests) == 4


def test_a_ban_neither_reads_subscriptions_nor_writes_deliveries(app, client, admin, receiver, is_postgres):
    subscribe(client, admin, receiver)
    account(client, admin, "u1")
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def note(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        ban(client, admin, "u1")
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    assert not [q for q in seen if "webhook_subscriptions" in q or "webhook_deliveries" in q]
    outbox = [q for q in seen if "INSERT INTO webhook_events" in q]
    assert len(outbox) == 1
    if is_postgres:
        # One statement with the audit entries: the events add no round trip.
        assert outbox[0].startswith("WITH new_entries AS (INSERT INTO audit_log")
        assert not [q for q in seen if q.startswith("INSERT INTO audit_log")]


def test_a_subscription_made_after_an_event_does_not_get_it(app, client, admin, receiver):
    account(client, admin, "u1")
    account(client, admin, "u2")
    ban(client, admin, "u1")  # before the subscription; the deliverer has not run since
    subscribe(client, admin, receiver)
    ban(client, admin, "u2")
    deliver(app)
    assert {e["data"].get("account_id") for e in receiver.events()} == {"u2"}
    assert len(receiver.requests) == 2


def test_pause_and_types_apply_as_they_were_when_the_event_was_written(app, client, admin, receiver):
    sub = subscribe(client, admin, receiver, events=["ban.created"])
    for i in range(5):
        account(client, admin, f"u{i}")
    ban(client, admin, "u0")  # wanted: sent
    client.patch(f"/v1/webhooks/{sub['id']}", json={"paused": True}, headers=admin)
    ban(client, admin, "u1")  # written while paused: never sent
    client.patch(f"/v1/webhooks/{sub['id']}", json={"paused": False}, headers=admin)
    ban(client, admin, "u2")  # sent
    client.patch(f"/v1/webhooks/{sub['id']}", json={"events": ["ban.lifted"]}, headers=admin)
    ban(client, admin, "u3")  # no longer wanted
    client.patch(f"/v1/webhooks/{sub['id']}", json={"events": ["ban.created"], "paused": True}, headers=admin)
    ban(client, admin, "u4")  # paused again
    # One fan-out, long after all of it: each event got the subscription as it was at its position.
    assert deliver(app).sent == 0  # paused now: its deliveries wait
    client.patch(f"/v1/webhooks/{sub['id']}", json={"paused": False}, headers=admin)
    deliver(app)
    assert sorted(e["data"]["account_id"] for e in receiver.events()) == ["u0", "u2"]


def test_an_event_written_before_a_pause_waits_for_the_resume(app, client, admin, receiver):
    sub = subscribe(client, admin, receiver, events=["ban.created"])
    account(client, admin, "u1")
    ban(client, admin, "u1")
    client.patch(f"/v1/webhooks/{sub['id']}", json={"paused": True}, headers=admin)
    assert deliver(app).sent == 0  # fanned out while paused: pending, not sent
    assert rows(app, WebhookDelivery.status) == [("pending",)]
    client.patch(f"/v1/webhooks/{sub['id']}", json={"paused": False}, headers=admin)
    assert deliver(app).delivered == 1


def test_a_crash_between_the_deliveries_and_the_cursor_loses_and_repeats_nothing(
    app, client, admin, receiver
):
    subscribe(client, admin, receiver)
    for i in range(3):
        account(client, admin, f"u{i}")
        ban(client, admin, f"u{i}")

    def crash(session: Session) -> None:
        # The fan-out's deliveries are inserted, its cursor not yet written: die here.
        if any(isinstance(o, OutboxCursor) for o in session.dirty):
            raise RuntimeError("killed")

    sa.event.listen(Session, "before_commit", crash)
    try:
        with pytest.raises(RuntimeError, match="killed"):
            fan_out(app)
    finally:
        sa.event.remove(Session, "before_commit", crash)
    with app.app_context():
        db.session.rollback()
    assert rows(app, WebhookDelivery.id) == [] and cursor(app) == 0
    stats = deliver(app)
    assert stats.fanned == 6 and stats.delivered == 6
    ids = [e["id"] for e in receiver.events()]
    assert len(ids) == len(set(ids)) == 6


def test_the_cursor_resumes_where_it_stopped_and_keeps_the_order(app, client, admin, receiver):
    subscribe(client, admin, receiver, events=["account.status_changed"])
    account(client, admin, "u1")
    for _ in range(3):
        lift(client, admin, ban(client, admin, "u1")["id"])
    assert fan_out(app, fanout_batch=4) == 4 and cursor(app) == 4
    # Another deliverer (a restart) goes on from the stored cursor.
    assert fan_out(app, fanout_batch=4) == 4 and cursor(app) == 8
    assert fan_out(app, fanout_batch=4) == 4 and cursor(app) == 12
    assert fan_out(app, fanout_batch=4) == 0
    # Delivery ids follow the event positions across the fan-out transactions.
    pairs = sorted(
        rows(app, WebhookDelivery.id, OutboxEvent.seq, where=[OutboxEvent.id == WebhookDelivery.event_id])
    )
    assert [seq for _id, seq in pairs] == [2, 4, 6, 8, 10, 12]
    deliver(app, batch_size=1)
    statuses = [e["data"]["to"] for e in receiver.events("account.status_changed")]
    assert statuses == ["banned", "active"] * 3


def test_direct_events_are_positioned_at_the_commit_or_the_audit_append(app, client, admin, receiver):
    subscribe(client, admin, receiver, events=["review.opened"])
    with app.app_context():
        emit_event(db.session(), EventType.REVIEW_OPENED, "review:r0", {"review_id": "r0"})
        db.session.rollback()  # rolled back: nothing is written at the next commit
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent)) == 0
        emit_event(db.session(), EventType.REVIEW_OPENED, "review:r1", {"review_id": "r1"})
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent)) == 0
        db.session.commit()
        emit_event(db.session(), EventType.REVIEW_OPENED, "review:r2", {"review_id": "r2"})
        record("ban.create", "ban:b1", {"rule": "R1"}, actor="test")  # drains it, then its own
        db.session.commit()
        got = db.session.execute(sa.select(OutboxEvent.seq, OutboxEvent.subject).order_by(OutboxEvent.seq))
        assert [tuple(r) for r in got] == [(1, "review:r1"), (2, "review:r2"), (3, "ban:b1")]
        assert db.session.scalar(sa.select(AuditHead.event_seq)) == 3
    deliver(app)
    assert sorted(e["data"]["review_id"] for e in receiver.events()) == ["r1", "r2"]


def test_versions_are_pruned_once_no_event_can_be_under_them(app, client, admin, receiver):
    sub = subscribe(client, admin, receiver, events=["ban.created"])
    for paused in (True, False, True, False):
        client.patch(f"/v1/webhooks/{sub['id']}", json={"paused": paused}, headers=admin)
    assert len(rows(app, WebhookSubscriptionVersion.id)) == 5
    account(client, admin, "u1")
    ban(client, admin, "u1")
    deliver(app)
    assert rows(app, WebhookSubscriptionVersion.seq, WebhookSubscriptionVersion.paused) == [(0, False)]
    assert len(receiver.requests) == 1
    assert client.delete(f"/v1/webhooks/{sub['id']}", headers=admin).status_code == 204
    assert rows(app, WebhookSubscriptionVersion.id) == []


@pytest.mark.postgres_only
def test_a_deliverer_skips_the_fan_out_another_one_holds(committing_app, receiver):
    app = committing_app
    with app.app_context():
        emit_event(db.session(), EventType.BAN_CREATED, "ban:b1", {"ban_id": "b1"})
        db.session.commit()
        d = Deliverer()
        d.fan_out()  # makes the cursor row
        emit_event(db.session(), EventType.BAN_CREATED, "ban:b2", {"ban_id": "b2"})
        db.session.commit()
        with db.engine.connect() as other:
            other.execute(sa.text("SELECT seq FROM webhook_fanout WHERE id = 1 FOR UPDATE"))
            assert d.fan_out() == 0  # does not wait behind the other one
            other.rollback()
        assert d.fan_out() == 1
        d.close()
