"""Keep the last activity time per account (not an event log) and reactivate dormant accounts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.service import record_many
from registry.domain_errors import Invalid
from registry.extensions import db
from registry.settings import app_settings
from registry.timeutil import utcnow

# Statuses activity brings back to ``active``; banned and purged accounts stay as they are.
REACTIVATABLE = ("dormant", "suspended")


def latest_per_account(events: Sequence[Mapping[str, Any]]) -> dict[str, datetime]:
    """Fold events into the latest time per account id."""
    latest: dict[str, datetime] = {}
    for event in events:
        account_id, at = event["account_id"], event["at"]
        if account_id not in latest or at > latest[account_id]:
            latest[account_id] = at
    return latest


def ingest(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Apply a batch of events: last_active_at = max(stored, at); reactivate dormant/suspended accounts."""
    settings = app_settings()
    now = utcnow()
    # A clock far ahead would shield an account from every future sweep: refuse rather than clamp.
    horizon = now + timedelta(seconds=settings.activity_future_skew_seconds)
    future = {
        str(i): {"at": [f"More than {settings.activity_future_skew_seconds} s in the future."]}
        for i, event in enumerate(events)
        if event["at"] > horizon
    }
    if future:
        raise Invalid("Activity events in the future.", {"json": {"events": future}})

    latest = latest_per_account(events)
    if not latest:
        return {"accepted": 0, "unknown_accounts": [], "reactivated": []}
    ids = sorted(latest)
    rows = db.session.execute(
        # Lock order (registry/locking.py): accounts in id order, the audit head last.
        sa.select(Account.id, Account.status)
        .where(Account.id.in_(ids))
        .order_by(Account.id)
        .with_for_update()
    ).all()
    status = {row.id: row.status for row in rows}
    unknown = [i for i in ids if i not in status]
    live = [i for i in ids if i in status and status[i] != "purged"]
    if live:
        # One statement per call: the newer of the stored time and the batch's latest for that id.
        new_at = sa.case({i: latest[i] for i in live}, value=Account.id)
        db.session.execute(
            sa.update(Account)
            .where(Account.id.in_(live))
            .where(sa.or_(Account.last_active_at.is_(None), Account.last_active_at < new_at))
            .values(last_active_at=new_at, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    back = [i for i in live if status[i] in REACTIVATABLE]
    if back:
        db.session.execute(
            sa.update(Account)
            .where(Account.id.in_(back), Account.status.in_(REACTIVATABLE))
            .values(status="active", status_changed_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        record_many(
            [
                ("account.reactivate", f"account:{i}", {"from": status[i], "activity_at": latest[i]})
                for i in back
            ]
        )
    db.session.commit()
    accepted = sum(1 for event in events if event["account_id"] in status)
    return {"accepted": accepted, "unknown_accounts": unknown, "reactivated": back}
