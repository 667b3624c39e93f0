"""Find the accounts linked to one account through its identifiers' keyed hashes.

Decisions taken here:
- A strong link is an equal hash of the phone, ID number, device id or email (never the clear value:
  only the hashes are stored). An IP is shared by households, offices and carrier NAT: an equal IP hash
  counts only as a weak link, and only between signups at most ``REGISTRY_LINK_IP_WINDOW`` seconds
  apart (0 turns weak links off); weak links are listed apart.
- Bounded: each field's lookup is an indexed equality with ``LIMIT limit + 1`` (one UNION ALL
  statement for the four fields, one for the IP), so a device shared by 100,000 accounts costs as
  much as one shared by two; ``truncated`` says a list was cut.
- ``ring_size`` counts the account itself and its strong links found (a lower bound when truncated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from registry.accounts.models import Account
from registry.db import get_or_404
from registry.extensions import db
from registry.settings import app_settings

STRONG_FIELDS = ("phone", "id_number", "device_id", "email")


@dataclass
class Link:
    account_id: str
    status: str
    via: list[str] = field(default_factory=list)


@dataclass
class Linked:
    account_id: str
    linked: list[Link]
    weak: list[Link]
    truncated: bool

    @property
    def ring_size(self) -> int:
        return 1 + len(self.linked)


def _strong(account: Account, limit: int) -> tuple[list[Link], bool]:
    parts: list[Any] = []
    for f in STRONG_FIELDS:
        digest = getattr(account, f"{f}_hash")
        if not digest:
            continue
        column = getattr(Account, f"{f}_hash")
        inner = (
            sa.select(Account.id.label("id"), Account.status.label("status"), sa.literal(f).label("via"))
            .where(column == digest, Account.id != account.id)
            .limit(limit + 1)
            .subquery()
        )
        parts.append(sa.select(inner.c.id, inner.c.status, inner.c.via))
    if not parts:
        return [], False
    stmt: Any = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    links: dict[str, Link] = {}
    per_field: dict[str, int] = {}
    for row in db.session.execute(stmt):
        per_field[row.via] = per_field.get(row.via, 0) + 1
        link = links.setdefault(row.id, Link(row.id, row.status))
        link.via.append(row.via)
    truncated = any(n > limit for n in per_field.values())
    ordered = sorted(links.values(), key=lambda k: (-len(k.via), k.account_id))
    for link in ordered:
        link.via.sort(key=STRONG_FIELDS.index)
    return ordered[:limit], truncated or len(ordered) > limit


def _weak(account: Account, limit: int, window: int, exclude: set[str]) -> tuple[list[Link], bool]:
    if not account.ip_hash or window <= 0 or account.registered_at is None:
        return [], False
    span = timedelta(seconds=window)
    stmt = (
        sa.select(Account.id, Account.status)
        .where(
            Account.ip_hash == account.ip_hash,
            Account.registered_at.between(account.registered_at - span, account.registered_at + span),
            Account.id != account.id,
        )
        .limit(limit + len(exclude) + 1)
    )
    rows = [Link(r.id, r.status, ["ip"]) for r in db.session.execute(stmt) if r.id not in exclude]
    rows.sort(key=lambda k: k.account_id)
    return rows[:limit], len(rows) > limit


def linked_accounts(account_id: str, *, limit: int = 100) -> Linked:
    """Return the accounts linked to ``account_id`` (404 if unknown): strong links, then weak (IP) ones."""
    account = get_or_404(Account, account_id, "account")
    strong, cut = _strong(account, limit)
    window = int(app_settings().link_ip_window)
    weak, weak_cut = _weak(account, limit, window, {link.account_id for link in strong})
    return Linked(account.id, strong, weak, cut or weak_cut)
