"""On PostgreSQL a check reads (and records a review or deny) through the autocommit reader only.

The session's connection would cost a BEGIN and a ROLLBACK around the one query; the reader is a
separate engine in autocommit (registry/check/service.py ``_reader``). These tests watch the SQL each
engine sends during real requests on a committing app.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from registry.check import service as check_service
from registry.check.models import CheckRecord
from registry.extensions import db
from registry.reviews.models import Review


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


@contextmanager
def driver_statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Note the SQL sent on the engine's pooled psycopg2 connections, past SQLAlchemy's events."""
    import psycopg2.extensions

    seen: list[str] = []

    class Tracing(psycopg2.extensions.cursor):  # type: ignore[misc]
        def execute(self, query: Any, vars: Any = None) -> Any:
            seen.append(" ".join(str(query).split()))
            return super().execute(query, vars)

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.cursor_factory = Tracing

    def on_checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            dbapi_connection.cursor_factory = psycopg2.extensions.cursor

    sa.event.listen(engine, "checkout", on_checkout)
    sa.event.listen(engine, "checkin", on_checkin)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "checkout", on_checkout)
        sa.event.remove(engine, "checkin", on_checkin)


def touches(seen: list[str], table: str) -> bool:
    return any(f" {table} " in f" {s} " or f"{table}." in s for s in seen)


@pytest.mark.postgres_only
def test_a_deny_check_reads_and_records_through_the_reader_not_the_session(committing_app, auth):
    app = committing_app
    headers = auth("check", "bans:write", app=app)
    client = app.test_client()
    ban = {"identifiers": {"phone": ["+86 138 0013 8000"]}, "reason": "spam ring", "rule": "R1"}
    assert client.post("/v1/bans", json=ban, headers=headers).status_code == 201
    # The first check builds this worker's index from the database (through the session): not watched.
    assert client.post("/v1/check", json={"username": "warm"}, headers=headers).status_code == 200
    with app.app_context():
        reader = check_service._reader()
        session_engine = db.engine
    assert reader is not None and reader is not session_engine

    with (
        statements(reader) as on_reader,
        statements(session_engine) as on_session,
        driver_statements(reader) as on_driver,
    ):
        response = client.post(
            "/v1/check", json={"username": "someone", "phone": "13800138000"}, headers=headers
        )
    assert response.status_code == 200 and response.json["decision"] == "deny"
    # The confirmation query (the ban identifiers, sent to the driver directly) and the stored check
    # both went through the reader...
    assert touches(on_driver, "ban_identifiers"), on_driver
    assert not touches(on_reader, "ban_identifiers"), on_reader
    assert any(s.startswith("INSERT INTO checks") for s in on_driver), on_driver
    # ... in autocommit: no transaction of its own around them.
    assert not any(s.upper() in ("BEGIN", "COMMIT", "ROLLBACK") for s in on_reader + on_driver), on_driver
    # The session saw neither (it may look up the API key and the ban log's head, nothing of the check).
    assert not touches(on_session, "ban_identifiers") and not touches(on_session, "checks"), on_session
    with app.app_context():
        stored = db.session.get(CheckRecord, response.json["check_id"])
        assert stored is not None and stored.decision == "deny"


@pytest.mark.postgres_only
def test_a_review_check_opens_its_review_through_the_reader(committing_app, auth):
    app = committing_app
    headers = auth("check", "bans:write", app=app)
    client = app.test_client()
    ban = {"identifiers": {"device_id": ["dev-1234567890"]}, "reason": "spam ring", "rule": "R1"}
    assert client.post("/v1/bans", json=ban, headers=headers).status_code == 201
    with app.app_context():
        reader = check_service._reader()
    assert reader is not None
    body = {"username": "newcomer", "device_id": "dev-1234567890"}
    with driver_statements(reader) as on_reader:
        response = client.post("/v1/check", json=body, headers=headers)
    assert response.status_code == 200, response.json
    decision = response.json["decision"]
    assert decision in ("review", "deny")
    assert any("INSERT INTO checks" in s for s in on_reader), on_reader
    with app.app_context():
        reviews = db.session.scalar(
            sa.select(sa.func.count()).select_from(Review).where(Review.check_id == response.json["check_id"])
        )
    assert reviews == (1 if decision == "review" else 0)
    if decision == "review":
        assert any("INSERT INTO reviews" in s for s in on_reader), on_reader


@pytest.mark.postgres_only
def test_the_driver_level_confirmation_answers_as_the_sqlalchemy_query_does(committing_app, auth):
    """_pg_confirm (psycopg2 directly, arrays bound) returns the rows _confirm_statement returns."""
    from registry.bans.models import Ban, BanIdentifier
    from registry.timeutil import utcnow

    app = committing_app
    headers = auth("bans:write", "accounts:write", app=app)
    client = app.test_client()
    made = [
        client.post(
            "/v1/bans",
            json={
                "identifiers": {"phone": [f"+86 138 0013 80{i:02d}"]},
                "names": [f"ring{i}"],
                "reason": "r",
                "rule": "R1",
            },
            headers=headers,
        )
        for i in range(3)
    ]
    assert all(r.status_code == 201 for r in made), [r.json for r in made]
    ban_ids = [r.json["id"] for r in made]
    for i in range(2):
        body = {
            "id": f"acct-{i}",
            "username": f"shared{i}",
            "phone": "13900139000",
            "device_id": "dev-shared-1",
        }
        assert client.post("/v1/accounts", json=body, headers=headers).status_code == 201
    with app.app_context():
        reader = check_service._reader()
        assert reader is not None
        hashes = list(
            db.session.scalars(sa.select(BanIdentifier.value_hash).where(BanIdentifier.kind == "phone"))
        )
        live_hash = db.session.scalar(
            sa.select(BanIdentifier.value_hash).where(BanIdentifier.ban_id == ban_ids[2])
        )
        from registry.accounts.models import Account

        phone, device = db.session.execute(
            sa.select(Account.phone_hash, Account.device_id_hash).limit(1)
        ).one()
        # Lift one ban: neither query may name it.
        db.session.execute(sa.update(Ban).where(Ban.id == ban_ids[0]).values(status="lifted"))
        db.session.commit()
    now = utcnow()
    shapes = [
        ({"hashes": hashes + ["0" * 64]}, True, False, ()),
        ({"ban_ids": ban_ids + ["ban_missing"]}, False, True, ()),
        ({"reuse_phone": phone, "reuse_device_id": device}, False, False, ("phone", "device_id")),
        (
            {"hashes": [live_hash], "ban_ids": ban_ids, "reuse_phone": "f" * 64},
            True,
            True,
            ("phone",),
        ),
    ]
    for params, identifiers, bans, reuse in shapes:
        bound = {"now": now, **params}
        with reader.connect() as conn:
            expected = conn.execute(check_service._confirm_statement(identifiers, bans, reuse), bound).all()
        got = check_service._pg_confirm(reader, identifiers, bans, reuse, dict(bound))
        assert sorted(map(tuple, got), key=repr) == sorted(map(tuple, expected), key=repr), params
        if reuse == ("phone", "device_id"):
            # Both accounts share the phone and the device: the counts are real, not zeros.
            assert sorted((r[1], r[4]) for r in got) == [("device_id", 2), ("phone", 2)], got
        if identifiers:
            # The lifted ban's phone is not confirmed; the two live ones are.
            assert {r[3] for r in got if r[0] == "i"} <= set(ban_ids[1:]) and any(r[0] == "i" for r in got)


@pytest.mark.postgres_only
def test_a_dropped_reader_connection_fails_one_check_with_503_then_the_next_reconnects(committing_app, auth):
    app = committing_app
    headers = auth("check", "accounts:write", app=app)
    client = app.test_client()
    # An account holds the phone, so every check sending it counts that phone's accounts: one read.
    account = {"id": "holder-1", "username": "holder", "phone": "13800138000"}
    assert client.post("/v1/accounts", json=account, headers=headers).status_code == 201
    body = {"username": "someone", "phone": "13800138000"}
    assert client.post("/v1/check", json=body, headers=headers).status_code == 200
    with app.app_context():
        reader = check_service._reader()
        assert reader is not None
        with reader.connect() as conn:
            pids = [conn.connection.dbapi_connection.get_backend_pid()]
        with db.engine.connect() as admin:
            for pid in pids:
                admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    first = client.post("/v1/check", json=body, headers=headers)
    assert first.status_code == 503, first.json
    assert "retry" in first.json["message"].lower()
    again = client.post("/v1/check", json=body, headers=headers)
    assert again.status_code == 200 and again.json["decision"] == "allow", again.json


def _review_check(client: Any, headers: dict[str, str], n: int) -> Any:
    # An address inside a banned range is review, never deny (addresses are shared behind NAT).
    response = client.post(
        "/v1/check", json={"username": f"neighbour{n}", "ip": f"198.51.100.{10 + n}"}, headers=headers
    )
    assert response.status_code == 200 and response.json["decision"] == "review", response.json
    return response


def _range_banned(app: Any, auth: Any) -> tuple[Any, dict[str, str]]:
    """Ban an address range and make one review check (which builds the index); return client, headers."""
    headers = auth("check", "bans:write", app=app)
    client = app.test_client()
    ban = {"identifiers": {"ip": ["198.51.100.0/24"]}, "reason": "spam ring", "rule": "R1"}
    assert client.post("/v1/bans", json=ban, headers=headers).status_code == 201
    _review_check(client, headers, 0)
    return client, headers


def _opened_events(app: Any, check_id: str) -> list[Any]:
    from registry.events.models import OutboxEvent

    with app.app_context():
        review_id = db.session.scalar(sa.select(Review.id).where(Review.check_id == check_id))
        assert review_id is not None
        return list(
            db.session.execute(
                sa.select(OutboxEvent.seq, OutboxEvent.type, OutboxEvent.data).where(
                    OutboxEvent.subject == f"review:{review_id}"
                )
            )
        )


@pytest.mark.postgres_only
def test_a_review_its_check_and_its_event_are_one_autocommit_statement(committing_app, auth):
    from registry.audit.models import AuditHead

    app = committing_app
    client, headers = _range_banned(app, auth)
    with app.app_context():
        reader = check_service._reader()
        before = db.session.scalar(sa.select(AuditHead.event_seq).where(AuditHead.id == 1))
    assert reader is not None and before is not None
    with statements(reader) as on_reader, driver_statements(reader) as on_driver:
        response = _review_check(client, headers, 1)
    writes = [s for s in on_driver if "INSERT" in s]
    assert len(writes) == 1 and not any("INSERT" in s for s in on_reader), (on_driver, on_reader)
    assert "INSERT INTO checks" in writes[0] and "INSERT INTO reviews" in writes[0], writes
    assert "UPDATE audit_head" in writes[0] and "INSERT INTO webhook_events" in writes[0], writes
    assert not any(s.upper() in ("BEGIN", "COMMIT", "ROLLBACK") for s in on_reader + on_driver), on_driver
    ((seq, kind, data),) = _opened_events(app, response.json["check_id"])
    assert kind == "review.opened" and seq == before + 1
    assert data["check_id"] == response.json["check_id"] and data["reasons"], data
    with app.app_context():
        assert db.session.scalar(sa.select(AuditHead.event_seq).where(AuditHead.id == 1)) == before + 1


@pytest.mark.postgres_only
def test_without_an_audit_head_a_review_still_gets_its_event(committing_app, auth):
    from registry.audit.models import AuditHead

    app = committing_app
    client, headers = _range_banned(app, auth)
    with app.app_context():
        db.session.execute(sa.delete(AuditHead))
        db.session.commit()
    response = _review_check(client, headers, 1)
    ((seq, kind, _data),) = _opened_events(app, response.json["check_id"])
    assert kind == "review.opened" and seq is not None
    with app.app_context():
        # Written once, whole: the one statement wrote nothing without the head, the session all three.
        count = sa.select(sa.func.count())
        assert (
            db.session.scalar(
                count.select_from(CheckRecord).where(CheckRecord.id == response.json["check_id"])
            )
            == 1
        )
        assert (
            db.session.scalar(count.select_from(Review).where(Review.check_id == response.json["check_id"]))
            == 1
        )
        assert db.session.scalar(count.select_from(Review)) == 2  # the two review checks, nothing more
        # The head is back, positioned past every event written.
        assert db.session.scalar(sa.select(AuditHead.event_seq).where(AuditHead.id == 1)) == seq
