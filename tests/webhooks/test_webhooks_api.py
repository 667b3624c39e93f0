"""Webhooks over HTTP, delivered to a real receiver on 127.0.0.1: signed, retried, ordered, paused."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry.events.models import OutboxEvent, WebhookDelivery
from registry.extensions import db
from registry.timeutil import utcnow
from registry.webhooks.net import Policy
from registry.webhooks.service import Deliverer

ALL = [
    "account.status_changed",
    "account.tier_changed",
    "ban.created",
    "ban.lifted",
    "review.opened",
    "review.resolved",
]


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


def deliver(app, **options):
    with app.app_context():
        deliverer = Deliverer(batch_size=options.pop("batch_size", 50), concurrency=2, **options)
        try:
            return deliverer.run(once=True)
        finally:
            deliverer.close()


def fan_out(app):
    with app.app_context():
        deliverer = Deliverer()
        try:
            return deliverer.fan_out()
        finally:
            deliverer.close()


def account(client, admin, account_id, **extra):
    body = {"id": account_id, "username": f"user_{account_id}", **extra}
    response = client.post("/v1/accounts", json=body, headers=admin)
    assert response.status_code == 201, response.json


def test_subscribe_read_patch_delete_and_the_secret_is_shown_once(client, admin, receiver, auth):
    made = subscribe(client, admin, receiver)
    assert made["secret"].startswith("whsec_") and made["events"] == sorted(ALL) and made["paused"] is False
    got = client.get(f"/v1/webhooks/{made['id']}", headers=admin)
    assert got.status_code == 200 and "secret" not in got.json
    assert [w["id"] for w in client.get("/v1/webhooks", headers=admin).json["items"]] == [made["id"]]
    patched = client.patch(
        f"/v1/webhooks/{made['id']}", json={"events": ["ban.created"], "paused": True}, headers=admin
    )
    assert patched.status_code == 200, patched.json
    assert patched.json["events"] == ["ban.created"] and patched.json["paused"] is True
    check_key = auth("check")
    assert client.get(f"/v1/webhooks/{made['id']}", headers=check_key).status_code == 403
    assert client.delete(f"/v1/webhooks/{made['id']}", headers=admin).status_code == 204
    assert client.get(f"/v1/webhooks/{made['id']}", headers=admin).status_code == 404
    actions = [e["action"] for e in client.get("/v1/audit?order=asc", headers=admin).json["items"]]
    assert [a for a in actions if a.startswith("webhook.")] == [
        "webhook.create",
        "webhook.update",
        "webhook.delete",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://127.0.0.1/x", "events": ["ban.created"]}, "url"),
        ({"url": "http://127.0.0.1/x", "events": ["ban.nope"]}, "events"),
        ({"url": "http://127.0.0.1/x", "events": []}, "events"),
        ({"url": "http://user:pw@127.0.0.1/x", "events": ["ban.created"]}, "url"),
        ({"events": ["ban.created"]}, "url"),
    ],
)
def test_bad_subscriptions_are_422_naming_the_field(client, admin, body, field):
    response = client.post("/v1/webhooks", json=body, headers=admin)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]


def test_loopback_and_private_addresses_are_refused_unless_listed(app_factory, auth):
    app = app_factory(webhook_allowed_hosts=("10.1.0.0/16", "hooks.internal"))
    client = app.test_client()
    admin = auth("admin", app=app)
    for url in (
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://169.254.169.254/latest",
        "http://10.2.0.1/x",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://192.168.1.1/x",
    ):
        response = client.post("/v1/webhooks", json={"url": url, "events": ["ban.created"]}, headers=admin)
        assert response.status_code == 422, (url, response.json)
        assert "url" in response.json["errors"]["json"]
    ok = client.post(
        "/v1/webhooks", json={"url": "http://10.1.2.3/x", "events": ["ban.created"]}, headers=admin
    )
    assert ok.status_code == 201, ok.json


def test_events_arrive_signed_with_ids_statuses_and_masks_only(app, client, admin, receiver):
    sub = subscribe(client, admin, receiver)
    account(client, admin, "u1", phone="13800138000")
    ban = client.post(
        "/v1/bans",
        json={"account_id": "u1", "reason": "fraud", "rule": "R1", "identifiers": {"phone": ["13912345678"]}},
        headers=admin,
    )
    assert ban.status_code == 201, ban.json
    lifted = client.post(f"/v1/bans/{ban.json['id']}/lift", json={"reason": "appeal upheld"}, headers=admin)
    assert lifted.status_code == 200, lifted.json
    tier = client.put(
        "/v1/accounts/u1/tier", json={"tier": "watch", "reason": "spam", "rule": "R2"}, headers=admin
    )
    assert tier.status_code == 200, tier.json
    stats = deliver(app)
    assert stats.delivered == 5 and stats.failed == 0
    types = [e["type"] for e in receiver.events()]
    assert sorted(types) == sorted(
        [
            "ban.created",
            "account.status_changed",
            "ban.lifted",
            "account.status_changed",
            "account.tier_changed",
        ]
    )
    for r in receiver.requests:
        assert r["verified"] == [True], r["headers"]
        assert r["headers"]["Registry-Event-Id"] == r["event"]["id"]
        assert set(r["event"]) == {"id", "type", "at", "data"}
        for raw in (b"13912345678", b"13800138000", b"fraud", b"appeal upheld", b"spam", b"user_u1"):
            assert raw not in r["body"]
    by_type = {e["type"]: e["data"] for e in receiver.events()}
    assert by_type["ban.created"]["ban_id"] == ban.json["id"]
    assert sorted(by_type["ban.created"]["identifiers"]["phone"]) == ["+86 138****8000", "+86 139****5678"]
    assert by_type["account.tier_changed"] == {
        "account_id": "u1",
        "from": "standard",
        "to": "watch",
        "rule": "R2",
        "automatic": False,
    }
    statuses = [(e["data"]["from"], e["data"]["to"]) for e in receiver.events("account.status_changed")]
    assert statuses == [("active", "banned"), ("banned", "active")]  # one subject, in order
    page = client.get(f"/v1/webhooks/{sub['id']}/deliveries", headers=admin).json
    assert len(page["items"]) == 5 and all(
        d["status"] == "delivered" and d["last_status"] == 200 for d in page["items"]
    )
    assert page["items"][0]["log"][0]["status"] == 200


def test_a_rolled_back_change_sends_nothing(app, client, admin, receiver):
    subscribe(client, admin, receiver)
    refused = client.post(
        "/v1/bans",
        json={"account_id": "nobody", "reason": "x", "rule": "R1", "names": ["zhangsan"]},
        headers=admin,
    )
    assert refused.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent)) == 0
    assert deliver(app).sent == 0 and receiver.requests == []


def test_only_the_subscribed_types_and_not_while_paused(app, client, admin, receiver):
    subscribe(client, admin, receiver, events=["ban.lifted"])
    paused = subscribe(client, admin, receiver, events=["ban.created"], paused=True)
    account(client, admin, "u1")
    assert (
        client.post(
            "/v1/bans", json={"account_id": "u1", "reason": "x", "rule": "R1"}, headers=admin
        ).status_code
        == 201
    )
    assert deliver(app).sent == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0
    assert paused["paused"] is True


def test_checks_open_reviews_and_resolving_tells_it(app, client, admin, receiver):
    subscribe(client, admin, receiver, events=["review.opened", "review.resolved"])
    assert (
        client.post(
            "/v1/bans", json={"names": ["zhangsan_88"], "reason": "spam", "rule": "R3"}, headers=admin
        ).status_code
        == 201
    )
    check = client.post(
        "/v1/check", json={"username": "zhangsam_88", "phone": "13700001111"}, headers=admin
    ).json
    assert check["decision"] == "review", check
    review = client.get("/v1/reviews?status=open", headers=admin).json["items"][0]
    done = client.post(
        f"/v1/reviews/{review['id']}/resolve", json={"outcome": "false_positive"}, headers=admin
    )
    assert done.status_code == 200, done.json
    deliver(app)
    opened, resolved = receiver.events("review.opened"), receiver.events("review.resolved")
    assert [e["data"]["review_id"] for e in opened] == [review["id"]]
    assert opened[0]["data"]["check_id"] == check["check_id"]
    assert resolved[0]["data"]["review_id"] == review["id"] and resolved[0]["data"]["status"] == "resolved"
    assert all(b"13700001111" not in r["body"] and b"zhangsam" not in r["body"] for r in receiver.requests)


def test_failures_back_off_keep_the_subject_order_then_die(app_factory, auth, receiver):
    app = app_factory(
        webhook_allowed_hosts=("127.0.0.1/32",), webhook_retry_base_seconds=60, webhook_retry_seconds=3600
    )
    client, admin = app.test_client(), auth("admin", app=app)
    sub = subscribe(client, admin, receiver, events=["account.status_changed", "ban.created"])
    account(client, admin, "u1")
    ban = client.post("/v1/bans", json={"account_id": "u1", "reason": "x", "rule": "R1"}, headers=admin).json
    client.post(f"/v1/bans/{ban['id']}/lift", json={"reason": "y"}, headers=admin)
    receiver.answer = lambda event: 500 if event["type"] == "account.status_changed" else 200
    stats = deliver(app)
    # The first status change failed; the second (same account) waits behind it; the ban went out.
    assert sorted(e["type"] for e in receiver.events()) == ["account.status_changed", "ban.created"]
    assert stats.failed == 1
    page = client.get(f"/v1/webhooks/{sub['id']}/deliveries?status=pending", headers=admin).json["items"]
    assert len(page) == 2
    failed = [d for d in page if d["attempts"] == 1][0]
    assert failed["last_status"] == 500 and failed["log"][0]["error"] == "HTTP 500"
    now = utcnow().replace(tzinfo=None)
    wait = (failed["next_at"], now)
    assert 25 <= (json_time(failed["next_at"]) - now).total_seconds() <= 61, wait
    # Due again, answered: both arrive in order.
    receiver.answer = lambda event: 200
    make_due(app)
    deliver(app)
    statuses = [(e["data"]["from"], e["data"]["to"]) for e in receiver.events("account.status_changed")]
    assert statuses == [("active", "banned"), ("active", "banned"), ("banned", "active")]
    first = receiver.events("account.status_changed")
    assert first[0]["id"] == first[1]["id"]  # a repeat carries the same event id
    # A receiver failing past the retry window: the delivery is dead.
    receiver.answer = lambda event: 503
    client.post("/v1/bans", json={"names": ["someone"], "reason": "x", "rule": "R1"}, headers=admin)
    fan_out(app)  # the delivery row exists once the deliverer has fanned the event out
    with app.app_context():
        db.session.execute(sa.update(WebhookDelivery).values(give_up_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert deliver(app).dead == 1
    dead = client.get(f"/v1/webhooks/{sub['id']}/deliveries?status=dead", headers=admin).json["items"]
    assert len(dead) == 1 and dead[0]["last_status"] == 503
    # Replayed by staff: sent again with the same event id.
    receiver.answer = lambda event: 200
    again = client.post(f"/v1/webhooks/deliveries/{dead[0]['id']}/retry", headers=admin)
    assert again.status_code == 200 and again.json["status"] == "pending"
    deliver(app)
    assert receiver.events()[-1]["id"] == dead[0]["event_id"]
    assert client.post("/v1/webhooks/deliveries/999999/retry", headers=admin).status_code == 404


def json_time(text):
    from datetime import datetime

    return datetime.fromisoformat(text).replace(tzinfo=None)


def make_due(app):
    with app.app_context():
        db.session.execute(sa.update(WebhookDelivery).values(next_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def test_410_pauses_and_redirects_are_not_followed(app, client, admin, receiver):
    sub = subscribe(client, admin, receiver, events=["ban.created"])
    receiver.answer = lambda event: 302
    client.post("/v1/bans", json={"names": ["a_name"], "reason": "x", "rule": "R1"}, headers=admin)
    deliver(app)
    item = client.get(f"/v1/webhooks/{sub['id']}/deliveries", headers=admin).json["items"][0]
    assert item["status"] == "pending" and item["last_status"] == 302 and "not followed" in item["last_error"]
    receiver.answer = lambda event: 410
    make_due(app)
    assert deliver(app).paused == 1
    got = client.get(f"/v1/webhooks/{sub['id']}", headers=admin).json
    assert got["paused"] is True and "410" in got["paused_reason"]
    n = len(receiver.requests)
    make_due(app)
    assert deliver(app).sent == 0 and len(receiver.requests) == n
    receiver.answer = lambda event: 200
    client.patch(f"/v1/webhooks/{sub['id']}", json={"paused": False}, headers=admin)
    make_due(app)
    assert deliver(app).delivered == 1


def test_rotation_signs_with_both_secrets_during_the_overlap(app, client, admin, receiver):
    sub = subscribe(client, admin, receiver, events=["ban.created"])
    rotated = client.post(f"/v1/webhooks/{sub['id']}/rotate-secret", headers=admin)
    assert rotated.status_code == 200 and rotated.json["secret"] != sub["secret"]
    assert rotated.json["previous_secret_until"] is not None
    receiver.secrets.append(rotated.json["secret"])
    client.post("/v1/bans", json={"names": ["b_name"], "reason": "x", "rule": "R1"}, headers=admin)
    deliver(app)
    request = receiver.requests[-1]
    assert request["headers"]["Registry-Signature"].count("v1=") == 2
    assert request["verified"] == [True, True]
    # After the overlap only the new secret signs.
    from registry.events.models import WebhookSubscription

    with app.app_context():
        db.session.execute(
            sa.update(WebhookSubscription).values(previous_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    client.post("/v1/bans", json={"names": ["c_name"], "reason": "x", "rule": "R1"}, headers=admin)
    deliver(app)
    assert receiver.requests[-1]["verified"] == [False, True]
    assert receiver.requests[-1]["headers"]["Registry-Signature"].count("v1=") == 1


def test_the_secret_is_sealed_at_rest(app, client, admin, receiver):
    sub = subscribe(client, admin, receiver, events=["ban.created"])
    with app.app_context():
        stored = db.session.execute(sa.text("SELECT secret_sealed FROM webhook_subscriptions")).scalar_one()
    assert sub["secret"] not in stored and sub["secret"][6:] not in stored and stored.startswith("v1.")


def test_a_refused_address_at_send_time_is_an_error_not_a_request(app_factory, auth, receiver):
    app = app_factory(webhook_allowed_hosts=("127.0.0.1/32",))
    client, admin = app.test_client(), auth("admin", app=app)
    sub = subscribe(client, admin, receiver, events=["ban.created"])
    client.post("/v1/bans", json={"names": ["d_name"], "reason": "x", "rule": "R1"}, headers=admin)
    with app.app_context():
        deliverer = Deliverer(batch_size=10, concurrency=1)
        deliverer.policy = Policy.parse(())  # the operator took the allowance back
        deliverer.run(once=True)
        deliverer.close()
    assert receiver.requests == []
    item = client.get(f"/v1/webhooks/{sub['id']}/deliveries", headers=admin).json["items"][0]
    assert item["last_error"].startswith("refused:") and item["last_status"] is None
    assert json.dumps(item)
