"""``registry sweep`` on the real database: ladder, dry run, cap and exit codes, actor."""

from __future__ import annotations

from datetime import timedelta

import click
import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.cli_util import UtcTime
from registry.extensions import db
from registry.timeutil import to_aware, utcnow

BASE = (utcnow() - timedelta(days=1000)).replace(microsecond=0)


def at(n):
    return to_aware(BASE + timedelta(days=n)).isoformat()


@pytest.fixture
def seeded(app, client, auth):
    headers = auth("accounts:write")
    for i in range(3):
        body = {"id": f"u{i}", "username": f"user{i}", "registered_at": at(0), "email": f"u{i}@example.com"}
        assert client.post("/v1/accounts", json=body, headers=headers).status_code == 201
    body = {"id": "busy", "username": "busy", "registered_at": at(0)}
    assert client.post("/v1/accounts", json=body, headers=headers).status_code == 201
    events = [{"account_id": "busy", "kind": "post", "at": at(d)} for d in range(0, 400, 20)]
    assert client.post("/v1/activity", json={"events": events}, headers=headers).status_code == 202
    return app


def statuses(app):
    with app.app_context():
        return dict(db.session.execute(sa.select(Account.id, Account.status).order_by(Account.id)).all())


def test_ladder_through_the_command_line(seeded, runner, monkeypatch):
    monkeypatch.setenv("REGISTRY_ACTOR", "cron@host")
    result = runner.invoke(args=["sweep", "--as-of", at(40), "--force"])
    assert result.exit_code == 0, result.output
    assert "made 3 dormant (3 shell, 0 zombie), 0 suspended, 0 purged" in result.output
    assert statuses(seeded) == {"busy": "active", "u0": "dormant", "u1": "dormant", "u2": "dormant"}
    again = runner.invoke(args=["sweep", "--as-of", at(40)])
    assert again.exit_code == 0 and "made 0 dormant" in again.output
    assert runner.invoke(args=["sweep", "--as-of", at(70), "--force"]).exit_code == 0
    assert set(statuses(seeded).values()) == {"active", "suspended"}
    result = runner.invoke(args=["sweep", "--as-of", at(160), "--force", "--batch-size", "1"])
    assert result.exit_code == 0, result.output
    assert "3 purged" in result.output
    assert statuses(seeded) == {"busy": "active", "u0": "purged", "u1": "purged", "u2": "purged"}
    with seeded.app_context():
        actors = set(
            db.session.scalars(
                sa.select(AuditEntry.actor).where(
                    AuditEntry.action.like("account.%"), AuditEntry.action != "account.create"
                )
            )
        )
        assert db.session.scalar(sa.select(sa.func.count()).where(Account.email_hash.is_not(None))) == 0
    assert actors == {"cron@host"}


def test_dry_run_from_the_command_line(seeded, runner):
    result = runner.invoke(args=["sweep", "--dry-run", "--as-of", at(40), "--force"])
    assert result.exit_code == 0, result.output
    assert "(dry run)" in result.output and "would make 3 dormant" in result.output
    assert set(statuses(seeded).values()) == {"active"}


def test_refused_by_the_cap_exits_3_and_force_overrides(app_factory):
    # Default cap: more than 1,000 accounts AND more than 10%; lower the count for a small table.
    app = app_factory(sweep_cap_accounts=1)
    with app.app_context():
        for i in range(3):
            db.session.add(Account(id=f"c{i}", username=f"c{i}", tier="standard", registered_at=BASE))
        db.session.commit()
    cli = app.test_cli_runner()
    result = cli.invoke(args=["sweep", "--as-of", at(40)])
    assert result.exit_code == 3
    assert "refused" in result.output and "would make 3 dormant" in result.output
    assert "is the activity feed broken?" in result.output
    assert cli.invoke(args=["sweep", "--as-of", at(40), "--force"]).exit_code == 0


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01"])
def test_bad_as_of_is_a_usage_error(runner, value):
    result = runner.invoke(args=["sweep", "--as-of", value])
    assert result.exit_code == 2
    assert "--as-of" in result.output or "ISO 8601" in result.output


def test_future_as_of_is_a_usage_error(runner):
    result = runner.invoke(args=["sweep", "--as-of", (utcnow() + timedelta(days=3)).isoformat() + "Z"])
    assert result.exit_code == 2
    assert "future" in result.output


def test_times_take_zones_and_refuse_to_guess_one():
    parse = UtcTime().convert
    assert (
        parse("2024-05-01T08:00:00+08:00", None, None)
        == parse("2024-05-01T00:00:00Z", None, None)
        == parse("2024-05-01T00:00:00+00:00", None, None)
    )
    with pytest.raises(click.BadParameter, match="time zone"):
        parse("2024-05-01T00:00:00", None, None)


def test_as_of_without_a_zone_is_a_usage_error(runner):
    result = runner.invoke(args=["sweep", "--as-of", "2024-05-01T00:00:00"])
    assert result.exit_code == 2 and "time zone" in result.output
