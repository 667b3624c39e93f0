"""Bulk imports leave the planner statistics of what they loaded (ANALYZE), on both backends."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.bans.models import Ban, BanIdentifier
from registry.extensions import db


def planner_rows(table: str) -> int | None:
    """Return the row count the query planner has on record for ``table`` (None: no statistics)."""
    bind = db.session.get_bind()
    if bind.dialect.name == "sqlite":
        if not db.session.scalar(sa.text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")):
            return None
        stmt = sa.text("SELECT stat FROM sqlite_stat1 WHERE tbl = :t LIMIT 1")
        stat = db.session.scalar(stmt, {"t": table})
        return int(stat.split()[0]) if stat else None
    stmt = sa.text("SELECT reltuples FROM pg_class WHERE relname = :t")
    reltuples = db.session.scalar(stmt, {"t": table})
    return int(reltuples) if reltuples is not None and reltuples >= 0 else None


def column_statistics(table: str, column: str) -> bool:
    """Tell whether PostgreSQL holds per-column statistics (SQLite keeps per-index ones only)."""
    stmt = sa.text("SELECT count(*) FROM pg_stats WHERE tablename = :t AND attname = :c")
    return bool(db.session.scalar(stmt, {"t": table, "c": column}))


def rows(model: type) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_ban_import_analyses_the_ban_tables(app, runner, tmp_path, is_postgres):
    n = 260  # above the COPY threshold on PostgreSQL
    lines = [
        json.dumps(
            {
                "names": [f"stat_user_{i}"],
                "identifiers": {"phone": [f"1390000{i:04d}"], "email": [f"stat{i}@example.com"]},
                "reason": "spam ring",
                "rule": "R1",
            }
        )
        for i in range(n)
    ]
    path = tmp_path / "bans.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["bans", "import", "--workers", "1", str(path)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert rows(Ban) == n
        assert planner_rows("bans") == n
        assert planner_rows("ban_identifiers") == rows(BanIdentifier) == 2 * n
        assert planner_rows("audit_log") is not None
        if is_postgres:
            assert column_statistics("bans", "status")
            assert column_statistics("ban_identifiers", "value_hash")


def test_account_import_analyses_the_accounts_table(app, runner, tmp_path, is_postgres):
    n = 120
    lines = [
        json.dumps({"id": f"stat{i}", "username": f"stat_user_{i}", "phone": f"1380000{i:04d}"})
        for i in range(n)
    ]
    path = tmp_path / "accounts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["accounts", "import", str(path)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert rows(Account) == n
        assert planner_rows("accounts") == n
        if is_postgres:
            assert column_statistics("accounts", "display_key")
            assert column_statistics("accounts", "phone_hash")


def test_sqlite_analysis_limit_is_restored(app, runner, tmp_path, is_postgres):
    if is_postgres:
        pytest.skip("SQLite's analysis_limit")
    path = tmp_path / "accounts.jsonl"
    path.write_text(json.dumps({"id": "lim1", "username": "limit_user"}) + "\n", encoding="utf-8")
    with app.app_context():
        db.session.execute(sa.text("PRAGMA analysis_limit=7"))
    assert runner.invoke(args=["accounts", "import", str(path)]).exit_code == 0
    with app.app_context():
        assert db.session.scalar(sa.text("PRAGMA analysis_limit")) == 7
