"""Move accounts on the tier ladder (分类分级): by staff (pinning the tier) or by credit (automatic)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from registry import rules
from registry.accounts.models import Account
from registry.accounts.service import get_account
from registry.audit.service import record, record_many
from registry.domain_errors import Invalid, InvalidField, NotFound
from registry.extensions import db
from registry.settings import app_settings
from registry.tiers.models import TierChange
from registry.timeutil import utcnow


def ladder() -> tuple[str, ...]:
    """Return the configured tiers, best first."""
    return tuple(app_settings().tiers)


def _unknown_tier_message(tier: object) -> str:
    return f"Unknown tier {tier!r}; the ladder is {', '.join(ladder())}."


AuditEntry = tuple[str, str, dict[str, Any]]


def change_tier(
    account: Account,
    to_tier: str,
    *,
    reason: str,
    rule: str | None,
    actor: str,
    automatic: bool = False,
) -> TierChange | None:
    """Move an account to ``to_tier`` with history and audit; does not commit.

    A manual change pins the tier; an automatic one (credit) never moves a pinned account. Returns
    None when nothing moved.
    """
    if to_tier not in ladder():
        raise InvalidField("tier", _unknown_tier_message(to_tier))
    row, entry = _move(
        account, to_tier, reason=reason, rule=rule, actor=actor, automatic=automatic, at=utcnow()
    )
    change = TierChange(**row) if row is not None else None
    if change is not None:
        db.session.add(change)
    if entry is not None:
        record(*entry, actor=actor)
    if change is not None:
        db.session.flush()
    return change


def _move(
    account: Account,
    to_tier: str,
    *,
    reason: str,
    rule: str | None,
    actor: str,
    automatic: bool,
    at: datetime,
    bulk: bool = False,
) -> tuple[dict[str, Any] | None, AuditEntry | None]:
    """Set the account's tier and pin as the move requires; return its history row and audit entry (or None).

    The one statement of the rules ``change_tier`` and ``bulk_set_tier`` both follow: an automatic move
    never touches a pinned account; staff confirming the current tier by hand still pin it (audited
    ``tier.pin``, no history); any other move is a history row and a ``tier.change`` entry.
    """
    subject = f"account:{account.id}"
    marks = {"bulk": True} if bulk else {}
    if automatic and account.tier_pinned:
        return None, None
    if account.tier == to_tier:
        if automatic or account.tier_pinned:
            return None, None
        # Staff confirming the current tier by hand still take it out of credit's hands.
        account.tier_pinned = True
        return None, ("tier.pin", subject, {"tier": to_tier, "reason": reason, "rule": rule, **marks})
    row = {
        "account_id": account.id,
        "from_tier": account.tier,
        "to_tier": to_tier,
        "reason": reason,
        "rule": rule,
        "actor": actor,
        "automatic": automatic,
        "at": at,
    }
    data = {
        "from": account.tier,
        "to": to_tier,
        "reason": reason,
        "rule": rule,
        "automatic": automatic,
        **marks,
    }
    account.tier = to_tier
    if not automatic:
        account.tier_pinned = True
    return row, ("tier.change", subject, data)


def set_tier(account_id: str, data: Mapping[str, Any], *, actor: str) -> Account:
    """Set an account's tier by hand (pinning it) under a rule the catalogue allows; commit."""
    rules.check_rule(data["rule"], "tier")
    if data["tier"] not in ladder():
        raise InvalidField("tier", _unknown_tier_message(data["tier"]))
    account = get_account(account_id, for_update=True)
    change_tier(account, data["tier"], reason=data["reason"], rule=data["rule"], actor=actor)
    db.session.commit()
    return account


def unpin_tier(account_id: str, data: Mapping[str, Any], *, actor: str) -> Account:
    """Hand an account's tier back to credit; audited even when it was not pinned; commit."""
    account = get_account(account_id, for_update=True)
    was_pinned = bool(account.tier_pinned)
    account.tier_pinned = False
    record(
        "tier.unpin",
        f"account:{account.id}",
        {"tier": account.tier, "reason": data["reason"], "was_pinned": was_pinned},
        actor=actor,
    )
    db.session.commit()
    return account


def tier_history(account_id: str) -> list[TierChange]:
    """Return an account's tier changes, newest first; 404 if the account is unknown."""
    get_account(account_id)
    stmt = sa.select(TierChange).where(TierChange.account_id == account_id).order_by(TierChange.id.desc())
    return list(db.session.scalars(stmt))


def bulk_set_tier(data: Mapping[str, Any], *, actor: str) -> dict[str, Any]:
    """Set many accounts' tiers in one transaction: all or nothing, each change in history and audit."""
    rules.check_rule(data["rule"], "tier")
    changes: Sequence[Mapping[str, str]] = data["changes"]
    tiers = ladder()
    errors: dict[str, dict[str, list[str]]] = {}
    seen: dict[str, int] = {}
    for i, item in enumerate(changes):
        if item["tier"] not in tiers:
            errors.setdefault(str(i), {})["tier"] = [_unknown_tier_message(item["tier"])]
        if item["account_id"] in seen:
            errors.setdefault(str(i), {})["account_id"] = [
                f"account {item['account_id']!r} is listed already at index {seen[item['account_id']]}"
            ]
        seen.setdefault(item["account_id"], i)
    if errors:
        raise Invalid("Invalid bulk tier change; nothing was changed.", {"json": {"changes": errors}})

    ids = list(seen)
    accounts: dict[str, Account] = {}
    # Chunked IN lists keep each statement under every backend's parameter limit.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        stmt = sa.select(Account).where(Account.id.in_(chunk)).order_by(Account.id).with_for_update()
        accounts.update({a.id: a for a in db.session.scalars(stmt)})
    missing = {
        str(i): {"account_id": [f"No account {item['account_id']!r}."]}
        for i, item in enumerate(changes)
        if item["account_id"] not in accounts
    }
    if missing:
        raise NotFound(
            "Unknown account(s) in the bulk tier change; nothing was changed.",
            {"json": {"changes": missing}},
        )

    now = utcnow()
    history: list[dict[str, Any]] = []
    audit: list[AuditEntry] = []
    changed: list[str] = []
    unchanged: list[str] = []
    for item in changes:
        account = accounts[item["account_id"]]
        row, entry = _move(
            account,
            item["tier"],
            reason=data["reason"],
            rule=data["rule"],
            actor=actor,
            automatic=False,
            at=now,
            bulk=True,
        )
        (changed if row is not None else unchanged).append(account.id)
        if row is not None:
            history.append(row)
        if entry is not None:
            audit.append(entry)
    if history:
        db.session.execute(sa.insert(TierChange), history)
    if audit:
        record_many(audit, actor=actor)
    db.session.commit()
    return {"changed": changed, "unchanged": unchanged}


def init_app(app: Flask) -> None:
    """Load the rules catalogue at start so a malformed file stops the service with a clear error."""
    rules.init_app(app)
