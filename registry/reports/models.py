"""Hourly counters of what no table keeps row by row: allowed checks, and checks by field and trick.

A check answering ``allow`` is not stored (registry/check), and a name refused by the name rules is a
422 whose transaction is rolled back, so the report could not count them from the records. Each process
adds such events to an in-memory tally (``note``, no I/O on the check path) and writes it out as one
upsert per (UTC hour, metric, key) at most every ``REGISTRY_REPORT_FLUSH_SECONDS`` (``flush_if_due``,
run after each request). A process killed hard loses at most that long of counts; counts from several
processes add up. Hours are UTC, so any zone whose offset is whole hours buckets them exactly.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import db
from registry.timeutil import utcnow

# Metrics, each with its key: check -> decision; check_field / check_trick / check_code ->
# "<decision>:<field|trick|code>" (checks answering deny or review); name_rule -> "<decision>:<rule>"
# (account names refused or sent to review at create/rename).
METRICS = ("check", "check_field", "check_trick", "check_code", "name_rule")


class ReportCount(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "report_counts"

    hour: Mapped[datetime] = mapped_column(sa.DateTime, primary_key=True)
    metric: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(96), primary_key=True)
    n: Mapped[int] = mapped_column(sa.BigInteger, default=0)


_lock = threading.Lock()
_tally: Counter[tuple[datetime, str, str]] = Counter()
_last_flush = [time.monotonic()]


def note(metric: str, keys: Iterable[str], at: datetime | None = None) -> None:
    """Add one to each (metric, key) for the current UTC hour (memory only)."""
    hour = (at or utcnow()).replace(minute=0, second=0, microsecond=0)
    with _lock:
        for key in keys:
            _tally[(hour, metric, key[:96])] += 1


def note_check(decision: str, reasons: Iterable[Mapping[str, Any]]) -> None:
    """Tally one check: its decision and, when it is not allowed, its fields, tricks and codes."""
    note("check", [decision])
    if decision == "allow":
        return
    reasons = list(reasons)
    fields = {str(r.get("field") or "-") for r in reasons}
    codes = {str(r.get("code") or "-") for r in reasons}
    tricks = {str(t) for r in reasons for t in (r.get("tricks") or ["none"])}
    note("check_field", [f"{decision}:{f}" for f in sorted(fields)])
    note("check_trick", [f"{decision}:{t}" for t in sorted(tricks)])
    note("check_code", [f"{decision}:{c}" for c in sorted(codes)])


def upsert(rows: Mapping[tuple[datetime, str, str], int], conn: Any) -> None:
    """Add ``rows`` to the table through ``conn`` (a Connection or the Session) in one statement."""
    if not rows:
        return
    values = [{"hour": h, "metric": m, "key": k, "n": n} for (h, m, k), n in sorted(rows.items())]
    dialect = conn.get_bind().dialect.name if hasattr(conn, "get_bind") else conn.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ReportCount.__table__).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["hour", "metric", "key"], set_={"n": ReportCount.__table__.c.n + stmt.excluded.n}
    )
    conn.execute(stmt)


def take() -> dict[tuple[datetime, str, str], int]:
    """Return and clear the pending tally."""
    with _lock:
        rows = dict(_tally)
        _tally.clear()
        _last_flush[0] = time.monotonic()
    return rows


def due(every: float) -> bool:
    """Tell whether a flush is due (something pending and ``every`` seconds since the last)."""
    return bool(_tally) and time.monotonic() - _last_flush[0] >= every


def restore(rows: Mapping[tuple[datetime, str, str], int]) -> None:
    """Put back a tally whose write failed, so the next flush retries it."""
    with _lock:
        _tally.update(rows)
