"""The bulk account import: lines prepared in worker processes, rows loaded by COPY on PostgreSQL.

Preparing a line (JSON, the schema, identifier hashing and masking, name match keys, the audit data)
is the CPU-heavy part and needs no database: it runs in forked worker processes, chunk by chunk, in
file order. The importing process keeps what needs the database and the order of the file: the
in-file duplicate check, the already-present check, the insert, the name-key counts (one set-based
upsert per batch) and the audit entries (``record_many``).
"""

from __future__ import annotations

import io
import multiprocessing
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from marshmallow import ValidationError

from registry import pgcopy
from registry.accounts.models import Account
from registry.jsonlines import flatten_errors, in_order, numbered_chunks, parse_numbered
from registry.matching.commonness import account_keys, key_hash
from registry.pgcopy import COPY_MIN_ROWS


@dataclass(slots=True)
class PreparedAccount:
    """One line made ready to insert, or the reason it cannot be."""

    number: int
    # The document's id once the schema accepted it (the in-file duplicate check needs it even when
    # a later step refused the line).
    id: str | None
    row: dict[str, Any] | None
    error: str | None
    unassigned_phone: bool = False
    # Stable digests of the distinct name match keys the account holds (commonness counts).
    keys: tuple[int, ...] = ()
    audit: dict[str, Any] | None = None


def prepare_lines(numbered: Sequence[tuple[int, str]], now: datetime) -> list[PreparedAccount]:
    """Parse, validate and prepare numbered JSON lines; needs an app context, never the database."""
    from registry.accounts.schemas import AccountIn
    from registry.accounts.service import AccountInputError, account_values, audit_values
    from registry.identifiers import is_assigned_phone

    schema = AccountIn()
    out: list[PreparedAccount] = []
    for number, doc, error in parse_numbered(numbered):
        if error is not None:
            out.append(PreparedAccount(number, None, None, error))
            continue
        try:
            data = schema.load(doc)
        except ValidationError as exc:
            out.append(PreparedAccount(number, None, None, flatten_errors(exc.messages)))
            continue
        try:
            values, _findings = account_values(data)
        except AccountInputError as exc:
            out.append(PreparedAccount(number, data["id"], None, flatten_errors(exc.errors)))
            continue
        row = account_row(values, now)
        keys = tuple(sorted(key_hash(k) for k in account_keys(row["username"], row["display_name"])))
        out.append(
            PreparedAccount(
                number,
                row["id"],
                row,
                None,
                bool(data.get("phone")) and not is_assigned_phone(data["phone"]),
                keys,
                {**audit_values(row), "source": "import"},
            )
        )
    return out


_COLUMNS = tuple(c.name for c in Account.__table__.columns)


def account_row(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Return every column of a new account as the insert writes it (the rest NULL, as the ORM does)."""
    row = dict.fromkeys(_COLUMNS)
    row.update(values)
    row["created_at"] = row["updated_at"] = now
    return row


def insert_rows(session: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert account rows: COPY on PostgreSQL from COPY_MIN_ROWS rows, else one executemany."""
    import sqlalchemy as sa

    if not rows:
        return
    if len(rows) < COPY_MIN_ROWS or session.get_bind().dialect.name != "postgresql":
        session.execute(sa.insert(Account), list(rows))
        return
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(pgcopy.value(row[c]) for c in _COLUMNS))
        buffer.write("\n")
    pgcopy.copy_in(session, [(Account.__tablename__, ", ".join(_COLUMNS), buffer)])


# --- worker processes -------------------------------------------------------------------------

_worker_app: Flask | None = None


def _init_worker(app: Flask) -> None:
    # Forked: the app (settings, keys, loaded tables) is inherited; its pooled database connections
    # are never used here (pool workers leave by os._exit, so nothing closes them under the parent).
    global _worker_app
    _worker_app = app
    app.app_context().push()


def _prepare_in_worker(numbered: list[tuple[int, str]], now: datetime) -> list[PreparedAccount]:
    return prepare_lines(numbered, now)


def prepared_chunks(
    lines: Iterable[str], now: datetime, *, workers: int, chunk_size: int
) -> Iterator[list[PreparedAccount]]:
    """Yield prepared chunks in file order; with workers > 1, lines are prepared in parallel."""
    chunks = numbered_chunks(lines, chunk_size)
    if workers <= 1:
        for chunk in chunks:
            yield prepare_lines(chunk, now)
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(app,)) as pool:
        yield from in_order(
            pool, _prepare_in_worker, ((chunk, now) for chunk in chunks), window=2 * workers + 2
        )
