"""Fixtures: ``app``, ``client``, ``runner``, ``auth`` on SQLite or PostgreSQL.

The backend is chosen by REGISTRY_TEST_BACKEND (``sqlite``, the default, or ``postgres``) or given
outright by REGISTRY_TEST_DATABASE_URL. For PostgreSQL without a URL, a throwaway database is created
(from REGISTRY_TEST_PG_URL, default ``postgresql://127.0.0.1:5432/postgres``) and dropped at the end.
Each test runs inside one outer transaction that is rolled back ("join an external transaction"):
services commit as in production, but their commits only release savepoints.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url

from registry import create_app
from registry.extensions import db

TEST_PII_KEY = "test-pii-key-0123456789abcdef"
TEST_AUDIT_KEY = "test-audit-key-0123456789abcdef"

# Timing is not what the property tests assert, and CI shares 2 cores with PostgreSQL: no deadlines.
# Under CI the examples are derived from each test, so a run is repeatable; locally they vary, which
# is where new counterexamples get found.
hypothesis_settings.register_profile(
    "registry", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
hypothesis_settings.register_profile(
    "registry-ci", parent=hypothesis_settings.get_profile("registry"), derandomize=True
)
hypothesis_settings.load_profile("registry-ci" if os.environ.get("CI") else "registry")


def _postgres_database() -> Iterator[str]:
    import psycopg2

    admin_url = make_url(os.environ.get("REGISTRY_TEST_PG_URL", "postgresql://127.0.0.1:5432/postgres"))
    name = f"registry_test_{os.getpid()}_{secrets.token_hex(3)}"
    params = {
        "host": admin_url.host or "127.0.0.1",
        "port": admin_url.port or 5432,
        "dbname": admin_url.database or "postgres",
        "user": admin_url.username or os.environ.get("PGUSER") or "postgres",
    }
    conn = psycopg2.connect(**params)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name, username=params["user"]).render_as_string(hide_password=False)
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Create the test database and migrate it once per session."""
    explicit = os.environ.get("REGISTRY_TEST_DATABASE_URL")
    backend = os.environ.get("REGISTRY_TEST_BACKEND", "sqlite")
    if explicit:
        urls: Iterator[str] = iter([explicit])
    elif backend == "postgres":
        urls = _postgres_database()
    elif backend == "sqlite":
        urls = iter([f"sqlite:///{tmp_path_factory.mktemp('db') / 'registry-test.sqlite3'}"])
    else:
        raise pytest.UsageError(f"REGISTRY_TEST_BACKEND must be sqlite or postgres, not {backend!r}")
    url = next(urls)
    app = create_app(
        {
            "database_url": url,
            "env": "testing",
            "pii_key": TEST_PII_KEY,
            "audit_key": TEST_AUDIT_KEY,
            "audit_checkpoints": str(tmp_path_factory.mktemp("audit") / "checkpoints.jsonl"),
        }
    )
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield url
    for _ in urls:  # let the generator drop a throwaway database
        pass


@pytest.fixture
def app_factory(database_url: str, tmp_path: Any) -> Iterator[Callable[..., Flask]]:
    """Build apps whose database work joins one transaction rolled back when the test ends."""
    made: list[tuple[Flask, Any, Any, Any]] = []

    def make(**overrides: Any) -> Flask:
        config = {
            "database_url": database_url,
            "env": "testing",
            "pii_key": TEST_PII_KEY,
            "audit_key": TEST_AUDIT_KEY,
            # Each test holds its trail against its own checkpoint file; no timer thread.
            "audit_checkpoints": str(tmp_path / "audit-checkpoints.jsonl"),
            "audit_checkpoint_seconds": 0,
            **overrides,
        }
        app = create_app(config)
        app.config["TESTING"] = True
        with app.app_context():
            engine = db.engine
            conn = engine.connect()
            trans = conn.begin()
            # Every session of this app binds to the one connection; commits become savepoints.
            db.engines[None] = conn
            db.session.remove()
            db.session.session_factory.kw["join_transaction_mode"] = "create_savepoint"
        made.append((app, engine, conn, trans))
        return app

    yield make
    for app, engine, conn, trans in made:
        with app.app_context():
            db.session.remove()
        trans.rollback()
        conn.close()
        engine.dispose()


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    """The application with default settings."""
    return app_factory()


@pytest.fixture
def committing_app(database_url: str, tmp_path: Any) -> Iterator[Flask]:
    """An app that really commits (for concurrency tests); every table is emptied afterwards."""
    app = create_app(
        {
            "database_url": database_url,
            "env": "testing",
            "pii_key": TEST_PII_KEY,
            "audit_key": TEST_AUDIT_KEY,
            "audit_checkpoints": str(tmp_path / "audit-checkpoints.jsonl"),
            "audit_checkpoint_seconds": 0,
        }
    )
    app.config["TESTING"] = True
    yield app
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner of ``app``."""
    return app.test_cli_runner()


@pytest.fixture
def auth(app: Flask) -> Callable[..., dict[str, str]]:
    """Return headers with a fresh key holding the given scopes (``admin`` when none given)."""
    from registry.auth.service import create_key

    def make(*scopes: str, name: str | None = None, app: Flask = app) -> dict[str, str]:
        with app.app_context():
            _key, secret = create_key(
                name or f"test-{secrets.token_hex(3)}", list(scopes or ["admin"]), "test"
            )
            db.session.commit()
        return {"Authorization": f"Bearer {secret}"}

    return make


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    """Tell whether the tests run on PostgreSQL."""
    return make_url(database_url).get_backend_name() == "postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip PostgreSQL-only tests on SQLite."""
    url = os.environ.get("REGISTRY_TEST_DATABASE_URL", "")
    on_pg = url.startswith("postgresql") or (
        not url and os.environ.get("REGISTRY_TEST_BACKEND") == "postgres"
    )
    if on_pg:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (REGISTRY_TEST_BACKEND=postgres)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


def count(model: Any, *where: Any) -> int:
    """Count rows of a model (call inside an app context)."""
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Any) -> Iterator[str]:
    """A database of its own for migration tests (the suite's stays at head): SQLite file or PostgreSQL."""
    if make_url(database_url).get_backend_name() != "postgresql":
        yield f"sqlite:///{tmp_path / 'migrate.sqlite3'}"
        return
    import psycopg2

    url = make_url(database_url)
    name = f"registry_migrate_{os.getpid()}_{secrets.token_hex(3)}"
    conn = psycopg2.connect(host=url.host, port=url.port, dbname=url.database, user=url.username)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


# --- webhooks: a real HTTP receiver on 127.0.0.1, checking signatures with the README's recipe ---


# --- the README's verification recipe, verbatim ---------------------------------------------------
def verify_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    items = [part.strip().split("=", 1) for part in header.split(",")]
    stamps = [v for k, v in items if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(time.time() - int(stamps[0])) > tolerance:
        return False
    signed = stamps[0].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in items if k == "v1")


# ---------------------------------------------------------------------------------------------------


class Receiver:
    """Records every request; ``answer(event)`` picks the status code (default 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.secrets: list[str] = []
        self.answer: Callable[[dict[str, Any]], int] = lambda _event: 200
        self.delay = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                header = self.headers.get("Registry-Signature", "")
                event = json.loads(body)
                entry = {
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                    "event": event,
                    "verified": [verify_signature(s, header, body) for s in list(receiver.secrets)],
                    "at": time.time(),
                }
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.requests.append(entry)
                status = receiver.answer(event)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a deliverer killed mid-request resets its connection: expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r["event"] for r in self.requests if type_ is None or r["event"]["type"] == type_]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
