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

    with statements(reader) as on_reader, statements(session_engine) as on_session:
        response = client.post(
            "/v1/check", json={"username": "someone", "phone": "13800138000"}, headers=headers
        )
    assert response.status_code == 200 and response.json["decision"] == "deny"
    # The confirmation query (the ban identifiers) and the stored check both went through the reader...
    assert touches(on_reader, "ban_identifiers"), on_reader
    assert any(s.startswith("INSERT INTO checks") for s in on_reader), on_reader
    # ... in autocommit: no transaction of its own around them.
    assert not any(s.upper() in ("BEGIN", "COMMIT", "ROLLBACK") for s in on_reader), on_reader
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
    with statements(reader) as on_reader:
        response = client.post("/v1/check", json=body, headers=headers)
    assert response.status_code == 200, response.json
    decision = response.json["decision"]
    assert decision in ("review", "deny")
    assert any(s.startswith("INSERT INTO checks") for s in on_reader), on_reader
    with app.app_context():
        reviews = db.session.scalar(
            sa.select(sa.func.count()).select_from(Review).where(Review.check_id == response.json["check_id"])
        )
    assert reviews == (1 if decision == "review" else 0)
    if decision == "review":
        assert any(s.startswith("INSERT INTO reviews") for s in on_reader), on_reader
