"""Database wiring: engine options per backend, SQLite's pragmas, and the migration folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine, make_url

from registry.domain_errors import InvalidCursor, NotFound
from registry.settings import app_settings

if TYPE_CHECKING:
    from registry.extensions import Model

M = TypeVar("M", bound="Model")

# SQLite lets a read transaction upgrade to a write only if nobody wrote meanwhile, failing at once
# otherwise; transactions that mean to write take the write lock up front (BEGIN IMMEDIATE) and so
# queue behind each other under busy_timeout instead.
write_intent: ContextVar[bool] = ContextVar("registry_write_intent", default=False)


@contextmanager
def writing() -> Iterator[None]:
    """Mark the transactions begun inside this block as writers (matters on SQLite only)."""
    token = write_intent.set(True)
    try:
        yield
    finally:
        write_intent.reset(token)


def engine_options(url: str) -> dict[str, Any]:
    """Return SQLAlchemy engine options suited to the database behind ``url``."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    # No pool_pre_ping: it costs a round trip on every checkout, i.e. on every signup check. A
    # connection dropped by a database restart fails one request (503, "retry shortly"), SQLAlchemy
    # then discards the whole pool, and the next request reconnects.
    return {"pool_size": 5, "max_overflow": 5, "pool_recycle": 1800}


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # pysqlite's own transaction handling breaks SAVEPOINT and transactional DDL; take it over
    # (SQLAlchemy's documented recipe) so that SQLite behaves like PostgreSQL for our purposes.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn: Any) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")


# Rows SQLite's ANALYZE reads per index: enough for the planner, bounded on a table of millions.
SQLITE_ANALYSIS_LIMIT = 1000


def analyze(tables: Iterable[str]) -> None:
    """Refresh the query planner's statistics of tables a bulk load just filled; the caller commits.

    Autovacuum analyses a table only a minute or more after a load, and until then PostgreSQL plans
    with no statistics: the check's confirmation query then hash-joins every active ban (29 ms at
    100k bans instead of 0.06 ms). SQLite has no statistics at all until ANALYZE writes sqlite_stat1.
    Neither blocks readers or writers of the tables (PostgreSQL takes SHARE UPDATE EXCLUSIVE).
    """
    from registry.extensions import db

    names = list(dict.fromkeys(tables))
    if not names:
        return
    if db.session.get_bind().dialect.name == "sqlite":
        previous = db.session.execute(text("PRAGMA analysis_limit")).scalar()
        db.session.execute(text(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}"))
        try:
            for name in names:
                db.session.execute(text(f'ANALYZE "{name}"'))
        finally:
            db.session.execute(text(f"PRAGMA analysis_limit={int(previous or 0)}"))
    else:
        db.session.execute(text("ANALYZE " + ", ".join(f'"{name}"' for name in names)))


def get_or_404(model: type[M], key: str, noun: str, *, for_update: bool = False) -> M:
    """Return the row of ``model`` with primary key ``key`` (locked if asked) or abort with 404."""
    from registry.extensions import db

    stmt = select(model).where(model.__mapper__.primary_key[0] == key)
    if for_update:
        stmt = stmt.with_for_update()
    row = db.session.scalar(stmt)
    if row is None:
        raise NotFound(f"No {noun} {key!r}.")
    return row


def keyset_page(
    stmt: Any,
    key: Any,
    args: Mapping[str, Any],
    *,
    cast: Callable[[Any], Any] = str,
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """Return one page of ``stmt`` in ``key`` order after the request's cursor, and the next cursor.

    For listings ordered by one unique column (newest first if ``descending``); the cursor is the last
    key of the previous page.
    """
    from marshmallow import ValidationError

    from registry.extensions import db
    from registry.schemas import decode_cursor, encode_cursor

    if args.get("cursor"):
        try:
            (after,) = decode_cursor(args["cursor"])
            after = cast(after)
        except (ValidationError, ValueError, TypeError):
            raise InvalidCursor() from None
        stmt = stmt.where(key < after if descending else key > after)
    limit = args.get("limit", 100)
    rows = list(db.session.scalars(stmt.order_by(key.desc() if descending else key).limit(limit + 1)))
    nxt = encode_cursor([getattr(rows[limit - 1], key.key)]) if len(rows) > limit else None
    return rows[:limit], nxt


def keyset_batches(stmt: Any, key: Any, size: int, *, after: Any = "") -> Iterator[list[Any]]:
    """Yield the rows of ``stmt`` in ``key`` order, ``size`` at a time: a keyset walk over the table.

    The batch walk of the sweep, the expiries, credit recovery and the audit check: ``stmt`` selects
    ``key`` among its columns (rows name it by ``key.key``); ``after`` is the key before the first row
    ("" for text ids, 0 for numbers). Each batch is read when the previous one has been handled, so a
    caller may change and commit the rows between batches.
    """
    from registry.extensions import db

    name = key.key
    while True:
        rows = list(db.session.execute(stmt.where(key > after).order_by(key).limit(size)).all())
        if not rows:
            return
        yield rows
        after = getattr(rows[-1], name)


def migrations_directory() -> str:
    """Find Alembic's folder: inside the installed package, else at the top of the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_migrations", here.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return str(candidate)
    raise RuntimeError("migrations folder not found; reinstall the package")


def database_uri(url: str) -> str:
    """Return the URL with an explicit driver: plain ``postgresql://`` means psycopg2 here."""
    parsed = make_url(url)
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the service ships psycopg2-binary.
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def init_app(app: Flask) -> None:
    """Point Flask-SQLAlchemy and Flask-Migrate at the configured database."""
    from registry.extensions import db, migrate

    settings = app_settings(app)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri(settings.database_url)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(settings.database_url)
    db.init_app(app)
    migrate.init_app(app, db, directory=os.environ.get("REGISTRY_MIGRATIONS_DIR") or migrations_directory())
