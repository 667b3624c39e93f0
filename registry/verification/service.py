"""Real-name verification (实名): the state machine, GB 11643 / GB 32100 checks, entity names, expiry.

Transition table (from -> allowed targets; anything else is 409):

=========== ==========================================
unverified  pending, verified, rejected
pending     pending (resubmitted), verified, rejected
verified    verified (refresh: new evidence, new expiry), revoked, expired
rejected    pending, verified
revoked     pending, verified, rejected
expired     pending, verified, rejected
=========== ==========================================

``unverified`` is the start state only; ``revoked`` and ``expired`` end a verification, so only a
verified account can reach them. A verified account must be revoked or expired before it can be
pending or rejected again (the contract). Repeating ``rejected``, ``revoked`` or ``expired`` would
record nothing new, so it is refused as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from registry import rules
from registry.accounts.entity import ENTITY_NAME_MIN_SCORE, entity_name_agreement
from registry.accounts.models import ENTITY_ACCOUNT_TYPES, Account
from registry.accounts.service import get_account, identifiers_event
from registry.audit.service import record, record_many
from registry.db import keyset_batches
from registry.domain_errors import Conflict, Invalid
from registry.extensions import db
from registry.identifiers.normalize import InvalidIdentifier, normalize_uscc
from registry.index_changes import (
    ChangeKind,
    note_held_identifiers,
    notify_index_changed,
    notify_index_changes,
)
from registry.pii import Protected, protect
from registry.settings import app_settings
from registry.timeutil import utcnow

TRANSITIONS: dict[str, frozenset[str]] = {
    "unverified": frozenset({"pending", "verified", "rejected"}),
    "pending": frozenset({"pending", "verified", "rejected"}),
    "verified": frozenset({"verified", "revoked", "expired"}),
    "rejected": frozenset({"pending", "verified"}),
    "revoked": frozenset({"pending", "verified", "rejected"}),
    "expired": frozenset({"pending", "verified", "rejected"}),
}
# Refusals cite a rule: with a catalogue configured, staff must name one that allows verification.
RULED_STATUSES = frozenset({"rejected", "revoked"})


def _json_error(field: str, message: str) -> dict[str, Any]:
    return {"json": {field: [message]}}


def _validated_inputs(data: Mapping[str, Any]) -> tuple[Protected | None, dict[str, str] | None]:
    """Check identity number and credit code before anything is stored; 422 naming the field."""
    errors: dict[str, Any] = {}
    protected = None
    entity = None
    if data.get("id_number") is not None:
        try:
            protected = protect("id_number", data["id_number"])
        except InvalidIdentifier as exc:
            errors["id_number"] = [str(exc)]
    if data.get("entity") is not None:
        try:
            uscc = normalize_uscc(data["entity"]["uscc"])
            entity = {"name": data["entity"]["name"].strip(), "uscc": uscc}
        except InvalidIdentifier as exc:
            errors["entity"] = {"uscc": [str(exc)]}
        else:
            if not entity["name"]:
                errors["entity"] = {"name": ["The entity name must not be blank."]}
    if errors:
        raise Invalid("Invalid verification.", {"json": errors})
    return protected, entity


def _require_evidence(
    account: Account, data: Mapping[str, Any], protected: Protected | None, entity: dict[str, str] | None
) -> None:
    """Refuse (422) a verified status whose method lacks its evidence or whose entity does not fit."""
    method = data.get("method")
    if method is None:
        raise Invalid("Invalid verification.", _json_error("method", "A verified status needs a method."))
    if method == "id_card" and protected is None:
        raise Invalid(
            "Invalid verification.", _json_error("id_number", "Method id_card needs the id_number.")
        )
    if method == "phone" and not account.phone_hash:
        raise Invalid(
            "Invalid verification.", _json_error("method", "The account has no phone number on record.")
        )
    if method == "uscc" and entity is None:
        raise Invalid("Invalid verification.", _json_error("entity", "Method uscc needs the entity."))
    if account.account_type in ENTITY_ACCOUNT_TYPES:
        if entity is None:
            raise Invalid(
                "Invalid verification.",
                _json_error(
                    "entity",
                    f"An {account.account_type} account is verified only with an entity "
                    "(name and Unified Social Credit Code).",
                ),
            )
        if not account.display_name:
            raise Invalid(
                "Invalid verification.",
                _json_error("entity", "The account has no display name to match the entity name against."),
            )
        agreement = entity_name_agreement(entity["name"], account.display_name)
        if not agreement.agrees:
            raise Invalid(
                "Invalid verification.",
                {
                    "json": {
                        "entity": {
                            "name": [
                                f"entity name {entity['name']!r} does not match display name "
                                f"{account.display_name!r} "
                                f"(score {agreement.score:g} < {ENTITY_NAME_MIN_SCORE:g})"
                            ]
                        }
                    }
                },
            )


def protection_op(account_type: str, before: str, after: str) -> ChangeKind | None:
    """Return the name-protection change a status change calls for (protected, unprotected), if any."""
    if account_type not in ENTITY_ACCOUNT_TYPES:
        return None
    if before != "verified" and after == "verified":
        return ChangeKind.ACCOUNT_PROTECTED
    if before == "verified" and after != "verified":
        return ChangeKind.ACCOUNT_UNPROTECTED
    return None


def _expiry(now: datetime) -> datetime | None:
    ttl = app_settings().verification_ttl_days
    return now + timedelta(days=ttl) if ttl > 0 else None


def set_verification(account_id: str, data: Mapping[str, Any], *, actor: str) -> Account:
    """Move an account's verification per the transition table, audited; commit."""
    account = get_account(account_id, for_update=True)
    protected, entity = _validated_inputs(data)
    before, after = account.verification_status, data["status"]
    if after not in TRANSITIONS.get(before, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(before, frozenset()))) or "nothing"
        raise Conflict(
            f"Verification cannot go from {before!r} to {after!r}; from {before!r} it can go to: {allowed}.",
        )
    if after in RULED_STATUSES or data.get("rule") is not None:
        rules.check_rule(data.get("rule"), "verification")
    if after == "verified":
        _require_evidence(account, data, protected, entity)

    now = utcnow()
    account.verification_status = after
    if data.get("method") is not None:
        account.verification_method = data["method"]
    if protected is not None:
        if protected.digest != account.id_number_hash:
            # Every worker's account-identifier filter learns the number at its next sync.
            account.index_event_id = identifiers_event().id
            note_held_identifiers(db.session, [protected.digest])
        account.id_number_hash, account.id_number_mask = protected.digest, protected.mask
        account.pii_key_version = app_settings().pii_key_version
    if entity is not None:
        account.entity_name, account.entity_uscc = entity["name"], entity["uscc"]
    if after == "verified":
        account.verified_at = now
        account.verification_expires_at = _expiry(now)
    else:
        account.verification_expires_at = None

    audit: dict[str, Any] = {
        "from": before,
        "to": after,
        "method": account.verification_method,
        "reason": data.get("reason"),
        "rule": data.get("rule"),
        "expires_at": account.verification_expires_at,
    }
    if protected is not None:
        audit["id_number"] = protected.mask
    if entity is not None:
        audit["entity"] = entity
    record("verification.change", f"account:{account.id}", audit, actor=actor)
    op = protection_op(account.account_type, before, after)
    if op is not None:
        notify_index_changed(db.session, op, account.id)
    db.session.commit()
    return account


@dataclass
class ExpiryReport:
    """What an expiry run did (or would do, when dry)."""

    as_of: datetime
    expired: int = 0
    unprotected: int = 0
    dry_run: bool = False


def expire_overdue(
    *, as_of: datetime | None = None, actor: str, dry_run: bool = False, batch_size: int = 1000
) -> ExpiryReport:
    """Mark verified accounts past their expiry ``expired`` in batches, audited; commit per batch."""
    as_of = as_of or utcnow()
    report = ExpiryReport(as_of=as_of, dry_run=dry_run)
    overdue = sa.and_(
        Account.verification_status == "verified",
        Account.verification_expires_at.is_not(None),
        Account.verification_expires_at <= as_of,
    )
    # Locked so a concurrent refresh of the same account waits rather than being overwritten.
    overdue_rows = (
        sa.select(Account.id, Account.account_type, Account.verification_expires_at)
        .where(overdue)
        .with_for_update()
    )
    for rows in keyset_batches(overdue_rows, Account.id, batch_size):
        ids = [r.id for r in rows]
        entity_ids = [r.id for r in rows if r.account_type in ENTITY_ACCOUNT_TYPES]
        report.expired += len(ids)
        report.unprotected += len(entity_ids)
        if dry_run:
            continue
        now = utcnow()
        db.session.execute(
            sa.update(Account)
            .where(Account.id.in_(ids))
            .values(verification_status="expired", verification_expires_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        record_many(
            [
                (
                    "verification.change",
                    f"account:{r.id}",
                    {
                        "from": "verified",
                        "to": "expired",
                        "expires_at": r.verification_expires_at,
                        "as_of": as_of,
                        "reason": "verification period ended",
                    },
                )
                for r in rows
            ],
            actor=actor,
        )
        if entity_ids:
            notify_index_changes(db.session, ChangeKind.ACCOUNT_UNPROTECTED, entity_ids)
        db.session.commit()
    return report
