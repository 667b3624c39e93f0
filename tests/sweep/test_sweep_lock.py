"""One sweep at a time: a second sweep is refused while one runs (both backends), stale SQLite locks."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.db import database_uri, writing
from registry.extensions import db
from registry.sweep import service
from registry.sweep.models import Lock, SweepRun
from registry.timeutil import utcnow

BASE = (utcnow() - timedelta(days=1000)).replace(microsecond=0)


def test_a_second_sweep_is_refused_while_one_runs(committing_app, auth):
    app = committing_app
    headers = auth("sweeps:run", app=app)
    with app.app_context():
        db.session.add_all(
            Account(id=f"u{i}", username=f"u{i}", tier="standard", registered_at=BASE) for i in range(3)
        )
        db.session.commit()
    inside, release, outcome = threading.Event(), threading.Event(), {}

    def hold(done: int, total: int) -> None:
        inside.set()
        release.wait(20)

    def first() -> None:
        with app.app_context(), writing():
            try:
                outcome["run"] = service.run_sweep(
                    actor="first", as_of=BASE + timedelta(days=40), batch_size=1, force=True, progress=hold
                ).counts
            except BaseException as exc:  # noqa: BLE001 - reported below
                outcome["error"] = exc
            finally:
                db.session.remove()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert inside.wait(20), outcome
        client = app.test_client()
        second = client.post("/v1/sweeps", json={"dry_run": True}, headers=headers)
        assert second.status_code == 409
        assert "another sweep is running" in second.json["message"]
        assert "started by first" in second.json["message"]
        result = app.test_cli_runner().invoke(args=["sweep"])
        assert result.exit_code == 4
        assert "another sweep is running" in result.output
    finally:
        release.set()
        thread.join(30)
    assert outcome.get("run", {}).get("dormant") == 3, outcome
    # The lock is free again.
    assert app.test_client().post("/v1/sweeps", json={"dry_run": True}, headers=headers).status_code == 201


@pytest.mark.postgres_only
def test_an_advisory_lock_held_elsewhere_blocks_the_sweep(client, auth, database_url):
    engine = sa.create_engine(database_uri(database_url))
    try:
        with engine.connect() as other:
            other.execute(sa.select(sa.func.pg_advisory_lock(service.PG_LOCK_KEY)))
            response = client.post("/v1/sweeps", json={}, headers=auth("sweeps:run"))
            assert response.status_code == 409
            other.execute(sa.select(sa.func.pg_advisory_unlock(service.PG_LOCK_KEY)))
        assert client.post("/v1/sweeps", json={}, headers=auth("sweeps:run")).status_code == 201
    finally:
        engine.dispose()


def test_sqlite_lock_row_blocks_until_stale(app, client, auth, is_postgres):
    if is_postgres:
        pytest.skip("PostgreSQL uses an advisory lock, not the lock row")
    headers = auth("sweeps:run")
    with app.app_context():
        db.session.add(
            Lock(name="sweep", holder="cron pid 1 ab", acquired_at=utcnow() - timedelta(seconds=60))
        )
        db.session.commit()
    busy = client.post("/v1/sweeps", json={}, headers=headers)
    assert busy.status_code == 409
    assert "cron pid 1 ab" in busy.json["message"]
    with app.app_context():
        db.session.execute(sa.update(Lock).values(acquired_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    taken = client.post("/v1/sweeps", json={}, headers=headers)
    assert taken.status_code == 201
    with app.app_context():
        row = db.session.get(Lock, "sweep")
        assert row.holder is None  # released at the end of the run
        assert db.session.get(SweepRun, taken.json["id"]).status == "completed"
