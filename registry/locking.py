"""The one lock order every write path follows, and the helpers that take row locks in it.

Every transaction that changes state takes its row locks in this order, never going back up:

1. **accounts**, sorted by id (``lock_accounts`` / ``lock_account``);
2. **bans**, sorted by id (``get_ban(..., for_update=True)``);
3. **reviews** (``get_review(..., for_update=True)``); appeals and violations take no row lock of
   their own: every write to them holds their account's lock (step 1) first;
4. the **audit head** last, just before the entries are appended (``registry.audit.service.record``
   takes it, and so does a commit that appends webhook events outside an audit append,
   registry/events; nothing is locked after it).

Two writers that follow one order can wait for each other but never deadlock. Before this order,
lifting a ban took the ban, the audit head and then the account while account writes took the account
and then the audit head, and PostgreSQL had to kill one of every such pair of racing transactions.
A path that learns which account it needs only from another row (a lift from its ban, a review
resolution from its review) reads that row unlocked, locks the account, then locks the row and checks
that the link it followed has not changed. On SQLite the database-wide write lock (BEGIN IMMEDIATE)
serialises writers and these row locks are no-ops.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from registry.extensions import db

if TYPE_CHECKING:
    from registry.accounts.models import Account

# Chunked IN lists keep each statement under every backend's parameter limit.
_CHUNK = 500


def lock_accounts(account_ids: Iterable[str]) -> dict[str, Account]:
    """Lock the accounts with these ids in id order (step 1); return the locked rows by id."""
    from registry.accounts.models import Account

    ids = sorted(set(account_ids))
    rows: dict[str, Account] = {}
    for start in range(0, len(ids), _CHUNK):
        stmt = (
            sa.select(Account)
            .where(Account.id.in_(ids[start : start + _CHUNK]))
            .order_by(Account.id)
            .with_for_update()
        )
        rows.update({a.id: a for a in db.session.scalars(stmt)})
    return rows


def lock_account_ids(where: sa.ColumnElement[bool]) -> list[str]:
    """Lock the accounts matching ``where`` in id order (step 1, for bulk paths); return their ids."""
    from registry.accounts.models import Account

    stmt = sa.select(Account.id).where(where).order_by(Account.id).with_for_update()
    return list(db.session.scalars(stmt))
