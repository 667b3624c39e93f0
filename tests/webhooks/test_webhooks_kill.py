"""At least once, never twice at a time: SIGKILL a deliverer mid-batch, then run two at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from registry.extensions import db

REGISTRY = str(Path(sys.executable).parent / "registry")
ACCOUNTS = 20
BATCH = 4


def _env(settings, database_url, tmp_path):
    return {
        **os.environ,
        "REGISTRY_ENV": "testing",
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_PII_KEY": settings.pii_key,
        "REGISTRY_AUDIT_KEY": settings.audit_key,
        "REGISTRY_INSTANCE_PATH": str(tmp_path),
        "REGISTRY_AUDIT_CHECKPOINTS": str(tmp_path / "checkpoints.jsonl"),
        "REGISTRY_AUDIT_CHECKPOINT_SECONDS": "0",
        "REGISTRY_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1/32",
        "REGISTRY_WEBHOOK_CONNECT_TIMEOUT": "0.5",
        "REGISTRY_WEBHOOK_READ_TIMEOUT": "1",
    }


def _deliverer(env, log):
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                REGISTRY,
                "webhooks",
                "deliver",
                "--batch-size",
                str(BATCH),
                "--concurrency",
                "2",
                "--poll",
                "0.1",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def _wait(predicate, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sigkill_mid_batch_then_two_deliverers_every_event_arrives(
    committing_app, database_url, receiver, tmp_path
):
    app = committing_app
    client = app.test_client()
    with app.app_context():
        from registry.auth.service import create_key

        _key, secret = create_key("ops", ["admin"], "test")
        db.session.commit()
    admin = {"Authorization": f"Bearer {secret}"}
    app.config["REGISTRY"] = app.config["REGISTRY"].__class__(
        **{**app.config["REGISTRY"].__dict__, "webhook_allowed_hosts": ("127.0.0.1/32",)}
    )
    made = client.post(
        "/v1/webhooks",
        json={"url": receiver.url, "events": ["account.status_changed", "ban.created", "ban.lifted"]},
        headers=admin,
    )
    assert made.status_code == 201, made.json
    receiver.secrets.append(made.json["secret"])
    for i in range(ACCOUNTS):
        assert (
            client.post(
                "/v1/accounts", json={"id": f"k{i}", "username": f"killer_{i}"}, headers=admin
            ).status_code
            == 201
        )
        ban = client.post(
            "/v1/bans", json={"account_id": f"k{i}", "reason": "x", "rule": "R1"}, headers=admin
        ).json
        assert (
            client.post(f"/v1/bans/{ban['id']}/lift", json={"reason": "y"}, headers=admin).status_code == 200
        )
    total = ACCOUNTS * 4

    receiver.delay = 0.05
    env = _env(app.config["REGISTRY"], database_url, tmp_path)
    log = tmp_path / "deliverers.log"
    first = _deliverer(env, log)
    try:
        assert _wait(lambda: len(receiver.requests) >= 10, 60), log.read_text()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    at_kill = len(receiver.requests)
    assert at_kill < total  # killed mid-way
    others = [_deliverer(env, log), _deliverer(env, log)]
    try:
        assert _wait(lambda: len({e["id"] for e in receiver.events()}) >= total, 90)
        time.sleep(0.5)
    finally:
        for proc in others:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=30) for proc in others]
    assert codes == [0, 0], log.read_text()

    events = receiver.events()
    counts = Counter(e["id"] for e in events)
    assert len(counts) == total
    # Repeats only for what the killed deliverer held (one batch), each the same event, byte for byte.
    repeated = [i for i, n in counts.items() if n > 1]
    assert sum(counts[i] - 1 for i in repeated) <= BATCH, counts
    bodies: dict[str, set[bytes]] = {}
    for r in receiver.requests:
        bodies.setdefault(r["event"]["id"], set()).add(r["body"])
        assert r["verified"] == [True]
    assert all(len(b) == 1 for b in bodies.values())
    # Per subject, in order: each account's first arrivals read banned, then active again.
    firsts: dict[str, list[str]] = {}
    seen: set[str] = set()
    for e in events:
        if e["type"] == "account.status_changed" and e["id"] not in seen:
            seen.add(e["id"])
            firsts.setdefault(e["data"]["account_id"], []).append(e["data"]["to"])
    assert firsts == {f"k{i}": ["banned", "active"] for i in range(ACCOUNTS)}
