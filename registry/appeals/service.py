"""File, list and decide appeals; a granted appeal lifts the ban or voids the violation, all audited.

Every write to an appeal first locks its account (registry/locking.py, step 1), so filing and deciding
appeals of one account, and the ban lift or credit change they cause, are serialised by that lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from registry.accounts.models import Account
from registry.appeals.models import Appeal
from registry.audit.service import record
from registry.bans.models import Ban, ban_names_account
from registry.bans.service import lift, view_status
from registry.credit.models import Violation
from registry.credit.service import void_violation
from registry.db import get_or_404, keyset_page
from registry.domain_errors import Conflict, InvalidField, NotFound
from registry.extensions import db
from registry.ids import new_id
from registry.locking import lock_accounts
from registry.settings import app_settings
from registry.timeutil import utcnow

STATUSES = ("open", "overdue", "decided")


def due_at(appeal: Appeal) -> datetime:
    """Return when an open appeal becomes overdue."""
    return appeal.opened_at + timedelta(days=app_settings().appeal_decide_days)


def appeal_status(appeal: Appeal, now: datetime | None = None) -> str:
    """Return decided, overdue (open past its due time) or open."""
    if appeal.outcome is not None:
        return "decided"
    return "overdue" if due_at(appeal) < (now or utcnow()) else "open"


def appeal_doc(appeal: Appeal, now: datetime | None = None) -> dict[str, Any]:
    """Return an appeal as the API shows it, with its status and due time."""
    return {
        "id": appeal.id,
        "account_id": appeal.account_id,
        "ban_id": appeal.ban_id,
        "violation_id": appeal.violation_id,
        "statement": appeal.statement,
        "status": appeal_status(appeal, now),
        "due_at": due_at(appeal),
        "decision_by": appeal.decision_by,
        "decision_at": appeal.decision_at,
        "opened_at": appeal.opened_at,
        "opened_by": appeal.opened_by,
        "outcome": appeal.outcome,
        "note": appeal.note,
        "decided_at": appeal.decided_at,
        "decided_by": appeal.decided_by,
        "forced": bool(appeal.forced),
    }


def _locked_account(account_id: str) -> Account:
    account = lock_accounts([account_id]).get(account_id)
    if account is None:
        raise NotFound(f"No account {account_id!r}.")
    return account


def _decision_under_appeal(account: Account, data: Mapping[str, Any]) -> tuple[str, str, datetime]:
    """Return (field, who decided, when) of the ban or violation appealed; refuse one not appealable."""
    if data.get("ban_id"):
        # The account's own ban, or a registrant ban covering it (ban_accounts).
        ban = db.session.scalar(sa.select(Ban).where(Ban.id == data["ban_id"], ban_names_account(account.id)))
        if ban is None:
            raise InvalidField("ban_id", f"No ban {data['ban_id']!r} of account {account.id!r}.")
        state = view_status(ban)
        if state != "active":
            raise Conflict(f"Ban {ban.id!r} is {state}; there is nothing to appeal.")
        return "ban_id", ban.created_by, ban.created_at
    violation = db.session.get(Violation, data["violation_id"])
    if violation is None or violation.account_id != account.id:
        raise InvalidField(
            "violation_id", f"No violation {data['violation_id']!r} of account {account.id!r}."
        )
    if violation.voided_at is not None:
        raise Conflict(f"Violation {violation.id!r} is void; there is nothing to appeal.")
    return "violation_id", violation.actor, violation.at


def file_appeal(data: Mapping[str, Any], *, actor: str) -> Appeal:
    """Open an appeal of a ban or a violation of the account (409 outside the window or appealed); commit."""
    account = _locked_account(data["account_id"])
    if account.status == "purged":
        raise Conflict(f"Account {account.id!r} is purged; only its tombstone remains.")
    field, decision_by, decision_at = _decision_under_appeal(account, data)
    subject = data[field]
    column = Appeal.ban_id if field == "ban_id" else Appeal.violation_id
    existing = db.session.scalar(sa.select(Appeal).where(column == subject))
    if existing is not None:
        raise Conflict(f"That decision already has an appeal, {existing.id!r} ({appeal_status(existing)}).")
    now = utcnow()
    window = app_settings().appeal_window_days
    if now > decision_at + timedelta(days=window):
        raise Conflict(f"The appeal window closed {window} days after the decision ({decision_at:%Y-%m-%d}).")
    appeal = Appeal(
        id=new_id("apl_"),
        account_id=account.id,
        ban_id=subject if field == "ban_id" else None,
        violation_id=subject if field == "violation_id" else None,
        statement=data["statement"],
        decision_by=decision_by,
        decision_at=decision_at,
        opened_at=now,
        opened_by=actor,
        forced=False,
    )
    db.session.add(appeal)
    db.session.flush()
    # The statement is the user's own words and stays in the appeal row, out of the hash-chained trail.
    record(
        "appeal.open",
        f"appeal:{appeal.id}",
        {
            "account_id": account.id,
            field: subject,
            "decision_by": decision_by,
            "statement_chars": len(appeal.statement),
        },
        actor=actor,
    )
    db.session.commit()
    return appeal


def get_appeal(appeal_id: str) -> Appeal:
    """Return the appeal or raise NotFound."""
    return get_or_404(Appeal, appeal_id, "appeal")


def list_appeals(args: Mapping[str, Any]) -> tuple[list[Appeal], str | None]:
    """Return one page of appeals in filing order (oldest first), by status, and the next cursor."""
    stmt = sa.select(Appeal)
    status = args.get("status")
    cutoff = utcnow() - timedelta(days=app_settings().appeal_decide_days)
    if status == "decided":
        stmt = stmt.where(Appeal.outcome.is_not(None))
    elif status == "open":
        stmt = stmt.where(Appeal.outcome.is_(None), Appeal.opened_at >= cutoff)
    elif status == "overdue":
        stmt = stmt.where(Appeal.outcome.is_(None), Appeal.opened_at < cutoff)
    if args.get("account_id"):
        stmt = stmt.where(Appeal.account_id == args["account_id"])
    return keyset_page(stmt, Appeal.id, args)


def decide_appeal(
    appeal_id: str, data: Mapping[str, Any], *, actor: str, scopes: frozenset[str]
) -> dict[str, Any]:
    """Grant or deny an open appeal; granting lifts the ban or voids the violation. Commit once."""
    account_id = get_appeal(appeal_id).account_id  # never changes: enough to know what to lock
    account = _locked_account(account_id)
    appeal = db.session.get(Appeal, appeal_id, populate_existing=True)
    assert appeal is not None
    if appeal.outcome is not None:
        raise Conflict(f"Appeal {appeal_id!r} was decided already ({appeal.outcome}).")
    forced = False
    if appeal.decision_by == actor:
        if not (data.get("force") and "admin" in scopes):
            raise Conflict(
                f"{actor!r} made the decision under appeal and cannot decide its appeal; another member "
                'of staff must, or an admin key with "force": true.'
            )
        forced = True
    now = utcnow()
    outcome, note = data["outcome"], data.get("note")
    effect: dict[str, Any] = {}
    if outcome == "granted":
        reason = f"appeal {appeal.id} granted" + (f": {note}" if note else "")
        if appeal.ban_id is not None:
            ban = db.session.get(Ban, appeal.ban_id)
            # A ban lifted or expired since the filing has nothing left to lift.
            if ban is not None and view_status(ban, now) == "active":
                ban = lift(ban.id, reason, actor=actor)
            effect["ban_status"] = view_status(ban, now) if ban is not None else None
        else:
            assert appeal.violation_id is not None
            effect.update(void_violation(account, appeal.violation_id, reason=reason, actor=actor))
    appeal.outcome, appeal.note = outcome, note
    appeal.decided_at, appeal.decided_by, appeal.forced = now, actor, forced
    db.session.flush()
    record(
        "appeal.decide",
        f"appeal:{appeal.id}",
        {
            "outcome": outcome,
            "note": note,
            "forced": forced,
            "account_id": appeal.account_id,
            "ban_id": appeal.ban_id,
            "violation_id": appeal.violation_id,
        },
        actor=actor,
    )
    db.session.commit()
    return {**appeal_doc(appeal, now), **effect}
