"""Bans on the registrant (账号及其注册主体): every account the banned account's registrant holds.

Decisions taken here:
- The registrant's accounts are those with the same identity number hash (personal; verified or
  not, an ID number is one person), the same USCC (an organisation or public account verified with
  one credit code), and the accounts sharing the banned account's phone. Purged accounts are left out.
- At most ``REGISTRY_REGISTRANT_MAX_ACCOUNTS`` accounts (the ban's own included): more is a 409 naming
  ``registrant`` (one request does bounded work; ban a larger ring by import).
- Every account covered gets a ``ban_accounts`` row (with what ties it); accounts not banned yet are
  set to banned, each with its audit entry, in the ban's transaction. Lifting the ban returns each
  to active unless another live ban names it (``bans.models.ban_names_account``).
- The ban captures the names and identifier hashes of every covered account, as an account ban does
  for its own, so none of them can be used to sign up again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from registry.accounts.models import Account
from registry.domain_errors import Conflict
from registry.extensions import db
from registry.settings import app_settings

VIA_ORDER = ("account", "id_number", "uscc", "phone")


def registrant_ring(account: Account) -> dict[str, list[str]]:
    """Return the ids of the registrant's accounts with what ties each (``account`` first); unlocked read."""
    cap = int(app_settings().registrant_max_accounts)
    ties: list[tuple[str, sa.ColumnElement[bool]]] = []
    if account.id_number_hash:
        ties.append(("id_number", Account.id_number_hash == account.id_number_hash))
    if account.entity_uscc:
        ties.append(("uscc", Account.entity_uscc == account.entity_uscc))
    if account.phone_hash:
        ties.append(("phone", Account.phone_hash == account.phone_hash))
    ring: dict[str, list[str]] = {account.id: ["account"]}
    parts = [
        sa.select(Account.id, sa.literal(via).label("via"))
        .where(cond, Account.id != account.id, Account.status != "purged")
        .limit(cap + 1)
        .subquery()
        for via, cond in ties
    ]
    if parts:
        selects = [sa.select(p.c.id, p.c.via) for p in parts]
        stmt: Any = selects[0] if len(selects) == 1 else sa.union_all(*selects)
        for row in db.session.execute(stmt):
            ring.setdefault(row.id, []).append(row.via)
    if len(ring) > cap:
        raise Conflict(
            f"Account {account.id!r}'s registrant holds more than {cap} accounts "
            f"(REGISTRY_REGISTRANT_MAX_ACCOUNTS); ban them by import.",
            {"json": {"registrant": [f"More than {cap} accounts."]}},
        )
    for vias in ring.values():
        vias.sort(key=VIA_ORDER.index)
    return ring
