"""The check index's build (COPY on PostgreSQL, batched cursor elsewhere) and its database round trips."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from registry.check.index import get_index
from registry.check.service import decide
from registry.extensions import db
from registry.pgcopy import unescape as _unescape

ODD_NAMES = ["back\\slash\\user", "tab\tname_x", "new\nline_y", "\\N_literal"]


def _copy_escape(text: str) -> str:
    # PostgreSQL's COPY text format, as documented.
    for raw, esc in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(raw, esc)
    return text.replace("\b", "\\b").replace("\f", "\\f").replace("\v", "\\v")


@given(st.text())
def test_unescape_undoes_copy_escaping(text):
    assert _unescape(_copy_escape(text)) == text


@pytest.fixture
def app(app_factory):
    return app_factory(ban_sync_seconds=3600)


@pytest.fixture
def headers(auth):
    return auth("check", "bans:write")


def test_a_fresh_build_reads_names_with_escaped_characters(app, client, headers):
    for name in ODD_NAMES:
        body = {"names": [name], "identifiers": {"phone": ["13900139000"]}, "reason": "r", "rule": "R1"}
        assert client.post("/v1/bans", json=body, headers=headers).status_code == 201
    with app.app_context():
        engine = get_index(app)
        engine.rebuild()
        assert engine.stats().bans == len(ODD_NAMES)
        for name in ODD_NAMES:
            found = engine.search_names(name, min_score=99)
            assert any(m.matched == name and m.exact for m in found), (name, found)
        assert engine.maybe_banned(_digest(app, "phone", "+8613900139000"))


def _digest(app, field, canonical):
    from registry.pii import hasher

    with app.app_context():
        return hasher().digest(field, canonical)


def _count_statements(app, body):
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        # Savepoints are the test fixture's (each test runs inside a transaction rolled back after).
        if not statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            statements.append(statement)

    with app.app_context():
        engine = get_index(app)
        engine.ensure_ready()
        sa.event.listen(db.engine, "before_cursor_execute", seen)
        try:
            result, _ = decide(body, engine)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", seen)
            db.session.rollback()
    return result.decision, statements


def test_an_allowed_check_makes_at_most_one_query(app, client, headers, auth):
    body = {
        "names": ["troll_returns"],
        "identifiers": {"phone": ["13900139000"]},
        "reason": "r",
        "rule": "R1",
    }
    assert client.post("/v1/bans", json=body, headers=headers).status_code == 201
    decision, statements = _count_statements(app, {"username": "maple_owl", "email": "maple@qq.com"})
    assert (decision, statements) == ("allow", [])
    fresh = {"username": "maple_owl", "phone": "13700137000", "device_id": "abc123", "id_number": None}
    # No account holds that phone or device (the index's account-identifier filter): nothing to ask.
    decision, statements = _count_statements(app, fresh)
    assert (decision, statements) == ("allow", [])
    # Once an account holds the device, its accounts are counted: one query.
    account = {"id": "owner-1", "username": "someone", "device_id": "ABC123"}
    assert client.post("/v1/accounts", json=account, headers=auth("admin")).status_code == 201
    decision, statements = _count_statements(app, fresh)
    assert decision == "allow" and len(statements) == 1, statements
    assert "accounts" in statements[0]
    # A returning person: Bloom hit, name candidate and reuse counts, still one query.
    decision, statements = _count_statements(app, {"username": "troll_returns", "phone": "13900139000"})
    assert decision == "deny" and len(statements) == 1, statements


def test_a_large_backlog_is_taken_a_chunk_per_sync_not_by_a_rebuild(app_factory, auth, monkeypatch):
    monkeypatch.setattr("registry.check.index.state.MAX_EVENTS_PER_SYNC", 3)
    app = app_factory(ban_sync_seconds=3600)
    headers = auth("check", "bans:write", app=app)
    with app.app_context():
        engine = get_index(app)
        engine.ensure_ready()
        built = engine.build_seconds
        shared = db.engines[None]
    # Another worker on the same database (the test's one connection) makes seven bans: more events
    # than one sync takes.
    other = app_factory(ban_sync_seconds=3600)
    with other.app_context():
        db.engines[None] = shared
        db.session.remove()
    names = [f"backlog_user_{i}" for i in range(7)]
    for name in names:
        body = {"names": [name], "reason": "r", "rule": "R1"}
        assert other.test_client().post("/v1/bans", json=body, headers=headers).status_code == 201
    applied = []
    with app.app_context():
        for _ in range(4):
            applied.append(engine.sync())
    assert applied == [3, 3, 1, 0]
    checker = app.test_client()
    decisions = [
        checker.post("/v1/check", json={"username": name}, headers=headers).json["decision"] for name in names
    ]
    assert decisions == ["deny"] * 7
    assert engine.build_seconds == built
