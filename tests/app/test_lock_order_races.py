"""Lifting a ban races every account write on the same account without a deadlock (PostgreSQL).

Before one lock order (registry/locking.py), a lift took the ban, the audit head and then the
account while account writes took the account and then the audit head: about half of such races
ended in a deadlock, answered 503. Real threads, real connections, real commits.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from registry.audit.checkpoints import app_keys
from registry.audit.verify import verify_chain
from registry.extensions import db

pytestmark = [pytest.mark.postgres_only, pytest.mark.committing]

RACES = int(os.environ.get("REGISTRY_LOCK_RACES", "200"))

Request = tuple[str, str, dict[str, Any], int]

WRITES: dict[str, Callable[[str, int], Request]] = {
    "ban": lambda acc, i: ("POST", "/v1/bans", {"account_id": acc, "reason": "race", "rule": "R1"}, 201),
    "violation": lambda acc, i: (
        "POST",
        f"/v1/accounts/{acc}/violations",
        {"rule": "R1", "severity": "minor"},
        201,
    ),
    "tier": lambda acc, i: (
        "PUT",
        f"/v1/accounts/{acc}/tier",
        {"tier": ("watch", "restricted")[i % 2], "reason": "race", "rule": "R1"},
        200,
    ),
    "verification": lambda acc, i: ("PUT", f"/v1/accounts/{acc}/verification", {"status": "pending"}, 200),
    "rename": lambda acc, i: ("PATCH", f"/v1/accounts/{acc}", {"display_name": f"racer {i}"}, 200),
}


class _Racer(threading.Thread):
    """A thread that sends one request per round, all rounds starting together at a barrier."""

    def __init__(self, app: Any, barrier: threading.Barrier, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.client = app.test_client()
        self.barrier, self.headers = barrier, headers
        self.job: Request | None = None
        self.ready = threading.Semaphore(0)
        self.done = threading.Semaphore(0)
        self.result: tuple[int, str] = (0, "")

    def run(self) -> None:
        while True:
            self.ready.acquire()
            if self.job is None:
                return
            method, path, body, _expected = self.job
            self.barrier.wait()
            response = self.client.open(path, method=method, json=body, headers=self.headers)
            self.result = (response.status_code, response.get_data(as_text=True)[:200])
            self.done.release()

    def send(self, job: Request | None) -> None:
        self.job = job
        self.ready.release()


@pytest.mark.parametrize("write", sorted(WRITES))
def test_lift_races_an_account_write_without_deadlock(committing_app, auth, write):
    app = committing_app
    h = auth("admin", app=app)
    client = app.test_client()
    account = f"race-{write}"
    assert (
        client.post("/v1/accounts", json={"id": account, "username": f"racer_{write}"}, headers=h).status_code
        == 201
    )
    barrier = threading.Barrier(2)
    lifter, writer = _Racer(app, barrier, h), _Racer(app, barrier, h)
    lifter.start()
    writer.start()
    failures: list[str] = []
    try:
        for i in range(RACES):
            made = client.post(
                "/v1/bans", json={"account_id": account, "reason": "setup", "rule": "R1"}, headers=h
            )
            assert made.status_code == 201, made.json
            lift: Request = ("POST", f"/v1/bans/{made.json['id']}/lift", {"reason": "race"}, 200)
            other = WRITES[write](account, i)
            lifter.send(lift)
            writer.send(other)
            lifter.done.acquire()
            writer.done.acquire()
            for job, (status, body) in ((lift, lifter.result), (other, writer.result)):
                if status != job[3]:
                    failures.append(f"race {i}: {job[0]} {job[1]} answered {status}: {body}")
    finally:
        lifter.send(None)
        writer.send(None)
        lifter.join()
        writer.join()
    assert not failures, f"{len(failures)} of {2 * RACES} requests failed; first: {failures[:3]}"
    with app.app_context():
        result = verify_chain(app_keys(), app.config["REGISTRY"].audit_checkpoints)
        db.session.remove()
    assert result.ok, result.problem and result.problem.message
