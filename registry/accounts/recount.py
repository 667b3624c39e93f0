"""Recount the name key counts from the accounts in good standing (``registry index recount``).

The counts are kept current change by change (create, import, rename, ban, purge). When what an
account counts changes (a new statistics key in registry.matching.commonness, a new match key), or a
database was restored from parts, the kept numbers describe older code: this recomputes every count
from the accounts table and writes only the differences, under one ``index_changes`` name-counts row, so
every worker re-reads exactly the counts that moved on its next poll. One transaction, one audit entry.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa

from registry.accounts.models import Account, NameKeyCount
from registry.audit.service import record
from registry.extensions import db
from registry.matching.commonness import GOOD_STANDING, account_keys, key_hash


@dataclass(frozen=True)
class RecountResult:
    """What a recount found and changed."""

    accounts: int
    keys: int
    changed: int
    added: int
    zeroed: int
    event_id: int | None


def recount_name_keys(*, batch: int = 5_000, dry_run: bool = False) -> RecountResult:
    """Recompute every name key count from the accounts in good standing; write the differences."""
    from registry.accounts.service import _add_key_counts
    from registry.index_changes import ChangeKind, notify_index_changed

    tally: Counter[int] = Counter()
    n_accounts = 0
    rows = db.session.execute(
        sa.select(Account.username, Account.display_name)
        .where(Account.status.in_(GOOD_STANDING))
        .execution_options(yield_per=batch)
    )
    for username, display_name in rows:
        n_accounts += 1
        for k in account_keys(username, display_name):
            tally[key_hash(k)] += 1
    kept: dict[int, int] = {
        h: n for h, n in db.session.execute(sa.select(NameKeyCount.key_hash, NameKeyCount.accounts))
    }
    added = [(h, n) for h, n in tally.items() if h not in kept]
    changed = [(h, n) for h, n in tally.items() if h in kept and kept[h] != n]
    zeroed = [h for h, n in kept.items() if n and h not in tally]
    event_id: int | None = None
    if not dry_run and (added or changed or zeroed):
        event = notify_index_changed(db.session, ChangeKind.NAME_COUNTS)
        event_id = event.id
        _add_key_counts(sorted(added), event.id, db.session.get_bind().dialect.name)
        table = NameKeyCount.__table__
        updates = [{"h": h, "n": n} for h, n in sorted(changed)] + [{"h": h, "n": 0} for h in sorted(zeroed)]
        for i in range(0, len(updates), batch):
            db.session.execute(
                table.update()
                .where(table.c.key_hash == sa.bindparam("h"))
                .values(accounts=sa.bindparam("n"), event_id=event.id),
                updates[i : i + batch],
            )
        record(
            "name_counts.recount",
            "name-counts",
            {
                "accounts": n_accounts,
                "keys": len(tally),
                "added": len(added),
                "changed": len(changed),
                "zeroed": len(zeroed),
            },
        )
    return RecountResult(n_accounts, len(tally), len(changed), len(added), len(zeroed), event_id)
