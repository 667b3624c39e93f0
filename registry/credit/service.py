"""Violations and credit (用户信用记录): deductions by severity, recovery over time, tiers that follow.

Credit model: an account stores ``credit`` and ``credit_at``, the moment that stored value was
last set (a violation, or a recovery applied by ``registry credit recover``). Its *effective* credit
at time T is the stored value plus ``credit_recovery_points`` for every whole
``credit_recovery_days`` since ``credit_at``, capped at 100. A violation first takes the effective
value, deducts by severity (floor 0), and restarts the recovery clock, so recovery only counts time
without violations. The account document always shows the effective credit; the job writes it down
and moves tiers back up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from registry import rules
from registry.accounts.models import Account
from registry.accounts.service import get_account
from registry.audit.service import record, record_many
from registry.credit.models import Violation
from registry.db import keyset_batches
from registry.domain_errors import Conflict
from registry.extensions import db
from registry.ids import new_id
from registry.locking import lock_account_ids
from registry.settings import Settings, app_settings
from registry.tiers.service import change_tier
from registry.timeutil import utcnow

MAX_CREDIT = 100
# The tiers credit moves accounts into; a ladder without them simply has no credit-driven moves.
CREDIT_TIERS = ("watch", "restricted")


def _settings() -> Settings:
    return app_settings()


def recovered(
    credit: int, credit_at: datetime | None, as_of: datetime, settings: Settings
) -> tuple[int, int]:
    """Return (effective credit, whole recovery periods elapsed) of a stored credit at ``as_of``."""
    if credit >= MAX_CREDIT or credit_at is None or settings.credit_recovery_days <= 0:
        return min(credit, MAX_CREDIT), 0
    periods = max(0, (as_of - credit_at) // timedelta(days=settings.credit_recovery_days))
    return min(MAX_CREDIT, credit + periods * settings.credit_recovery_points), periods


def effective_credit(account: Account, as_of: datetime | None = None) -> int:
    """Return the account's credit now (or at ``as_of``), recovery included."""
    return recovered(account.credit, account.credit_at, as_of or utcnow(), _settings())[0]


def deduction(severity: str, settings: Settings) -> int:
    """Return the points a violation of ``severity`` costs."""
    return int(getattr(settings, f"credit_{severity}"))


def credit_tier(credit: int, settings: Settings) -> str:
    """Return the tier credit alone calls for: restricted, watch, or the default tier."""
    ladder = settings.tiers
    if credit < settings.credit_restricted_below and "restricted" in ladder:
        return "restricted"
    if credit < settings.credit_watch_below and "watch" in ladder:
        return "watch"
    return settings.default_tier


def tier_move(current: str, credit: int, settings: Settings) -> str | None:
    """Return where credit moves an account from ``current``, or None to stay.

    Down whenever credit calls for a worse tier; back up only out of a credit tier (watch,
    restricted) and no higher than the default tier, so credit never promotes anyone to trusted.
    """
    ladder = settings.tiers
    target = credit_tier(credit, settings)
    if current not in ladder or target == current:
        return None
    if ladder.index(target) > ladder.index(current):
        # Only a credit tier is a demotion credit can call for: a trusted account in good credit stays.
        return target if target in CREDIT_TIERS else None
    if current in CREDIT_TIERS:
        return target
    return None


def _follow_credit(account: Account, credit: int, *, rule: str | None, actor: str, why: str) -> str | None:
    settings = _settings()
    target = tier_move(account.tier, credit, settings)
    if target is None:
        return None
    change = change_tier(account, target, reason=why, rule=rule, actor=actor, automatic=True)
    return target if change is not None else None


def add_violation(account_id: str, data: Mapping[str, Any], *, actor: str) -> dict[str, Any]:
    """Record a violation, deduct credit, move the tier if a threshold is crossed; commit."""
    rules.check_rule(data["rule"], "violation")
    settings = _settings()
    account = get_account(account_id, for_update=True)
    if account.status == "purged":
        raise Conflict(f"Account {account_id!r} is purged; only its tombstone remains.")
    now = utcnow()
    before = effective_credit(account, now)
    points = deduction(data["severity"], settings)
    after = max(0, before - points)
    violation = Violation(
        id=new_id(),
        account_id=account.id,
        rule=data["rule"],
        severity=data["severity"],
        note=data.get("note"),
        deduction=before - after,
        actor=actor,
        at=now,
    )
    db.session.add(violation)
    account.credit, account.credit_at = after, now
    db.session.flush()
    record(
        "violation.create",
        f"account:{account.id}",
        {
            "violation_id": violation.id,
            "rule": violation.rule,
            "severity": violation.severity,
            "note": violation.note,
            "credit_before": before,
            "credit_after": after,
        },
        actor=actor,
    )
    moved = _follow_credit(
        account,
        after,
        rule=violation.rule,
        actor=actor,
        why=f"credit {after} after {violation.severity} violation {violation.id}",
    )
    db.session.commit()
    return {**_violation_doc(violation), "credit": after, "tier": account.tier, "tier_changed_to": moved}


def void_violation(account: Account, violation_id: str, *, reason: str, actor: str) -> dict[str, Any]:
    """Void a violation of a locked account, give its deduction back and re-decide the tier; no commit.

    The points come back on top of the stored credit with its recovery clock left running, so the
    account ends where it would be had the violation never counted (capped at 100).
    """
    violation = db.session.get(Violation, violation_id)
    if violation is None or violation.account_id != account.id:
        raise Conflict(f"No violation {violation_id!r} of account {account.id!r}.")
    if violation.voided_at is not None:
        raise Conflict(f"Violation {violation_id!r} is already void.")
    now = utcnow()
    before = effective_credit(account, now)
    account.credit = min(MAX_CREDIT, account.credit + violation.deduction)
    after = effective_credit(account, now)
    violation.voided_at, violation.voided_by, violation.void_reason = now, actor, reason
    db.session.flush()
    record(
        "violation.void",
        f"account:{account.id}",
        {"violation_id": violation.id, "reason": reason, "credit_before": before, "credit_after": after},
        actor=actor,
    )
    moved = _follow_credit(
        account,
        after,
        rule=violation.rule,
        actor=actor,
        why=f"credit {after} after violation {violation.id} voided",
    )
    return {"credit": after, "tier": account.tier, "tier_changed_to": moved}


def _violation_doc(v: Violation) -> dict[str, Any]:
    return {
        "id": v.id,
        "account_id": v.account_id,
        "rule": v.rule,
        "severity": v.severity,
        "note": v.note,
        "deduction": v.deduction,
        "actor": v.actor,
        "at": v.at,
        "voided_at": v.voided_at,
    }


def list_violations(account_id: str) -> list[Violation]:
    """Return an account's violations, newest first; 404 if the account is unknown."""
    get_account(account_id)
    stmt = (
        sa.select(Violation)
        .where(Violation.account_id == account_id)
        .order_by(Violation.at.desc(), Violation.id.desc())
    )
    return list(db.session.scalars(stmt))


@dataclass
class RecoveryReport:
    """What a recovery run did."""

    examined: int = 0
    recovered: int = 0
    tiers_moved: int = 0


def recover(*, as_of: datetime | None = None, actor: str, batch_size: int = 1000) -> RecoveryReport:
    """Write down recovered credit and move tiers back up, a committed keyset batch at a time."""
    settings = _settings()
    as_of = as_of or utcnow()
    report = RecoveryReport()
    if settings.credit_recovery_days <= 0 or settings.credit_recovery_points <= 0:
        return report
    period = timedelta(days=settings.credit_recovery_days)
    due_before = as_of - period
    # Only accounts with at least one whole period due: the (credit < 100) set is small in practice.
    due = sa.select(Account.id, Account.credit, Account.credit_at, Account.tier, Account.tier_pinned).where(
        Account.credit < MAX_CREDIT, Account.credit_at <= due_before
    )
    for rows in keyset_batches(due, Account.id, batch_size):
        report.examined += len(rows)
        updates: list[dict[str, Any]] = []
        audit: list[tuple[str, str, dict[str, Any]]] = []
        movers: list[str] = []
        for row in rows:
            credit, periods = recovered(row.credit, row.credit_at, as_of, settings)
            if periods == 0:
                continue
            # Advance the clock by whole periods only, so a partly elapsed period is not lost.
            updates.append(
                {
                    "b_id": row.id,
                    "b_old": row.credit,
                    "b_credit": credit,
                    "b_at": row.credit_at + periods * period,
                }
            )
            audit.append(
                (
                    "credit.recover",
                    f"account:{row.id}",
                    {"credit_before": row.credit, "credit_after": credit, "as_of": as_of, "automatic": True},
                )
            )
            if not row.tier_pinned and tier_move(row.tier, credit, settings) is not None:
                movers.append(row.id)
        if updates or movers:
            # Lock order (registry/locking.py): every account this batch touches, in id order, before
            # the audit head; the tier moves below then find their rows locked already.
            lock_account_ids(Account.id.in_(sorted({u["b_id"] for u in updates} | set(movers))))
        if updates:
            # The old value in the WHERE makes a concurrent violation win: its row is skipped here.
            table = Account.__table__
            stmt_update = (
                table.update()
                .where(table.c.id == sa.bindparam("b_id"), table.c.credit == sa.bindparam("b_old"))
                .values(credit=sa.bindparam("b_credit"), credit_at=sa.bindparam("b_at"))
            )
            db.session.execute(stmt_update, updates)
            record_many(audit, actor=actor)
            report.recovered += len(updates)
        for account_id in movers:
            account = db.session.get(Account, account_id, with_for_update=True, populate_existing=True)
            if account is None:
                continue
            # Judge from the locked row: a violation may have landed since the batch was read.
            credit = effective_credit(account, as_of)
            if _follow_credit(account, credit, rule=None, actor=actor, why=f"credit recovered to {credit}"):
                report.tiers_moved += 1
        db.session.commit()
        db.session.expunge_all()
    return report
