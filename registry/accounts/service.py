"""Create, read, list and import accounts; every change audited in its own transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from registry.accounts import hooks
from registry.accounts.entity import ENTITY_NAME_MIN_SCORE, entity_name_agreement
from registry.accounts.models import (
    ENTITY_ACCOUNT_TYPES,
    IDENTIFIER_FIELDS,
    REUSE_FIELDS,
    Account,
    NameKeyCount,
)
from registry.accounts.name_screening import evaluate_names, finding_doc, record_name_review
from registry.actor import current_actor
from registry.audit.models import AuditEntry
from registry.audit.service import record, record_many
from registry.avatars.check import QR_CODE
from registry.avatars.inputs import AvatarError, AvatarInput, read_avatar
from registry.db import analyze, get_or_404, keyset_page
from registry.domain_errors import Conflict, Invalid, InvalidField
from registry.extensions import db
from registry.index_changes import ChangeKind, IndexChange, note_held_identifiers, notify_index_changed
from registry.jsonlines import UNASSIGNED_PHONE_WARNING, flatten_errors
from registry.matching.commonness import GOOD_STANDING, account_keys, key_deltas
from registry.matching.fold import canonical
from registry.name_rules import NameFinding, mask_contacts
from registry.pii import InvalidIdentifier, protect
from registry.settings import app_settings
from registry.timeutil import utcnow


class AccountInputError(ValueError):
    """An account document is unusable; ``errors`` maps field names to messages."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = dict(errors)


def name_key(name: str | None) -> str | None:
    """Return the folded form of a name used for matching and counting, or None."""
    if not name:
        return None
    return canonical(name)[:256] or None


QR_RULE = "account-information"


def read_account_avatar(
    avatar: str | None, avatar_hash: str | None, errors: dict[str, list[str]]
) -> tuple[AvatarInput | None, list[NameFinding]]:
    """Hash an account's avatar; a bad image, or a QR code the settings deny, goes into ``errors``.

    Returns the hashes and the findings (a QR code decided ``review``) that open a review like the
    name rules' findings.
    """
    try:
        avatar_in = read_avatar(avatar, avatar_hash)
    except AvatarError as exc:
        errors[exc.field] = [exc.message]
        return None, []
    decision = app_settings().avatar_qr_decision
    if avatar_in is None or not avatar_in.qr or decision in ("off", "allow"):
        return avatar_in, []
    if decision == "deny":
        errors[avatar_in.field] = [f"Refused by the account-information rules: {QR_CODE}."]
        return avatar_in, []
    return avatar_in, [NameFinding(QR_CODE, avatar_in.field, QR_RULE, "", decision)]


def count_name_keys(delta: Mapping[int, int], event: IndexChange | None = None) -> None:
    """Apply changes to the name key counts and log them for every worker's check index; caller commits.

    One ``index_changes`` row (name counts) per call: workers re-read the counts whose ``event_id`` it is, in
    the same poll that brings them new bans, so a burst of accounts costs one event, not one per key.
    ``event``: that row, already logged by ``identifiers_event`` for the same write.
    """
    changes = sorted((h, n) for h, n in delta.items() if n)
    if not changes:
        return
    if event is None:
        event = notify_index_changed(db.session, ChangeKind.NAME_COUNTS)
    dialect = db.session.get_bind().dialect.name
    # Sorted keys: two transactions upserting overlapping keys lock them in the same order (no deadlock).
    _add_key_counts([(h, n) for h, n in changes if n > 0], event.id, dialect)
    for h, n in changes:
        if n >= 0:
            continue
        # Decrements (renames, bans, purges) are few: one row each, never below zero.
        db.session.execute(
            sa.update(NameKeyCount)
            .where(NameKeyCount.key_hash == h)
            .values(
                accounts=sa.func.max(NameKeyCount.accounts + n, 0)
                if dialect == "sqlite"
                else sa.func.greatest(NameKeyCount.accounts + n, 0),
                event_id=event.id,
            )
        )


def held_digests(values: Mapping[str, Any] | Account) -> list[str]:
    """Return the REUSE_FIELDS digests among an account's column values (or an Account's attributes)."""
    if isinstance(values, Account):
        return [d for f in REUSE_FIELDS if (d := getattr(values, f"{f}_hash"))]
    return [d for f in REUSE_FIELDS if (d := values.get(f"{f}_hash"))]


def identifiers_event() -> IndexChange:
    """Log the name counts change of a write that gives accounts identifiers; caller sets their column.

    The writer puts the row's id in ``Account.index_event_id`` of every account it gave an identifier
    (and passes the row on to ``count_name_keys``): a worker's sync of that row reads those accounts'
    identifiers into its account-identifier filter, as it reads the counts whose ``event_id`` it is.
    """
    return notify_index_changed(db.session, ChangeKind.NAME_COUNTS)


def _stamped(rows: list[dict[str, Any]]) -> IndexChange | None:
    """Log the identifiers change of an import batch and stamp its rows with it (None: no rows)."""
    if not rows:
        return None
    event = identifiers_event()
    for row in rows:
        row["index_event_id"] = event.id
    return event


_PG_ADD_COUNTS = sa.text(
    f"INSERT INTO {NameKeyCount.__tablename__} (key_hash, accounts, event_id) "
    "SELECT k, n, :event FROM unnest(CAST(:keys AS bigint[]), CAST(:ns AS integer[])) AS t(k, n) "
    "ORDER BY k "
    "ON CONFLICT (key_hash) DO UPDATE SET "
    f"accounts = {NameKeyCount.__tablename__}.accounts + EXCLUDED.accounts, event_id = EXCLUDED.event_id"
)


def _add_key_counts(rows: list[tuple[int, int]], event_id: int, dialect: str) -> None:
    """Add positive counts in one set-based upsert: two arrays on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if dialect == "postgresql":
        # One statement whatever the batch: no per-row VALUES list for SQLAlchemy to compile.
        db.session.execute(
            _PG_ADD_COUNTS, {"event": event_id, "keys": [h for h, _ in rows], "ns": [n for _, n in rows]}
        )
        return
    from sqlalchemy.dialects.sqlite import insert

    stmt = insert(NameKeyCount)
    stmt = stmt.on_conflict_do_update(
        index_elements=[NameKeyCount.key_hash],
        set_={"accounts": NameKeyCount.accounts + stmt.excluded.accounts, "event_id": stmt.excluded.event_id},
    )
    db.session.execute(stmt, [{"key_hash": h, "accounts": n, "event_id": event_id} for h, n in rows])


def uncount_accounts(names: Iterable[tuple[str | None, str | None]]) -> None:
    """Take accounts leaving good standing (banned, purged) out of the name key counts; caller commits."""
    delta: Counter[int] = Counter()
    for username, display_name in names:
        delta.update(key_deltas(account_keys(username, display_name), ()))
    count_name_keys(delta)


def build_account(data: Mapping[str, Any]) -> Account:
    """Turn a validated account document into an unsaved Account, hashing its identifiers."""
    values, avatar_findings = account_values(data)
    account = Account(**values)
    account.avatar_findings = avatar_findings
    return account


def account_values(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[NameFinding]]:
    """Return an account document's column values (identifiers hashed) and its avatar findings.

    Raises AccountInputError naming every malformed field. The bulk import inserts these values as
    they are (no ORM object per line); ``build_account`` wraps them in an Account.
    """
    settings = app_settings()
    errors: dict[str, list[str]] = {}
    protected: dict[str, Any] = {}
    for name in IDENTIFIER_FIELDS:
        value = data.get(name)
        if value is None or value == "":
            continue
        try:
            protected[name] = protect(name, value)
        except InvalidIdentifier as exc:
            errors[name] = [str(exc)]
    registered_at = data.get("registered_at")
    # A registration time in the future would keep the account out of the sweep's reach for as long:
    # allow only the clock skew activity events are allowed.
    skew = settings.activity_future_skew_seconds
    if registered_at is not None and registered_at > utcnow() + timedelta(seconds=skew):
        errors["registered_at"] = [f"More than {skew} s in the future."]
    avatar, avatar_findings = read_account_avatar(data.get("avatar"), data.get("avatar_hash"), errors)
    if errors:
        raise AccountInputError(errors)
    # Stored (and returned) with contact details masked: vx13912340002 is kept as vx139****0002.
    username, display_name = mask_contacts(data["username"]), mask_contacts(data.get("display_name"))
    values: dict[str, Any] = {
        "id": data["id"],
        "username": username,
        "username_key": name_key(username),
        "display_name": display_name,
        "display_key": name_key(display_name),
        "account_type": data.get("account_type") or "personal",
        "status": "active",
        "tier": settings.default_tier,
        "tier_pinned": False,
        "news_licensed": bool(data.get("news_licensed")),
        "credit": 100,
        "verification_status": "unverified",
        "registered_at": data.get("registered_at") or utcnow(),
        "check_id": data.get("check_id"),
        "pii_key_version": settings.pii_key_version,
    }
    for name, p in protected.items():
        values[f"{name}_hash"] = p.digest
        values[f"{name}_mask"] = p.mask
    if avatar is not None:
        values["avatar_hash"] = avatar.hash
        values["avatar_crop_hash"] = avatar.crop_hash
        values["avatar_band_hash"] = avatar.band_hash
        values["avatar_side_hashes"] = avatar.side_hashes
        values["avatar_tone_hash"] = avatar.tone_hash
    return values, avatar_findings


def audit_data(account: Account) -> dict[str, Any]:
    """Describe an account for the audit trail: names and masked identifiers, never raw values."""
    return audit_values({c: getattr(account, c) for c in _AUDITED})


_AUDITED = (
    "username",
    "display_name",
    "account_type",
    "tier",
    "registered_at",
    "avatar_hash",
    *(f"{f}_mask" for f in IDENTIFIER_FIELDS),
)


def audit_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Describe an account's column values for the audit trail (``audit_data`` without an Account)."""
    masks = {f: values.get(f"{f}_mask") for f in IDENTIFIER_FIELDS if values.get(f"{f}_mask")}
    return {
        "username": values.get("username"),
        "display_name": values.get("display_name"),
        "account_type": values.get("account_type"),
        "tier": values.get("tier"),
        "registered_at": values.get("registered_at"),
        "identifiers": masks,
        # Whether there is one, not the hash: the trail outlives a purge.
        "avatar": values.get("avatar_hash") is not None,
    }


def create_account(data: Mapping[str, Any]) -> Account:
    """Register a new account; 409 if the id is taken, 422 naming a malformed identifier."""
    if db.session.get(Account, data["id"]) is not None:
        raise Conflict(f"Account {data['id']!r} exists already.")
    try:
        account = build_account(data)
    except AccountInputError as exc:
        raise Invalid("Invalid account.", {"json": exc.errors}) from None
    findings = evaluate_names(
        # The rules read the names as sent; what is stored has their contact details masked.
        {"username": data["username"], "display_name": data.get("display_name")},
        news_licensed=account.news_licensed,
        account_type=account.account_type,
    )
    findings += account.avatar_findings
    event = identifiers_event()
    account.index_event_id = event.id
    db.session.add(account)
    db.session.flush()
    count_name_keys(key_deltas((), account_keys(account.username, account.display_name)), event)
    note_held_identifiers(db.session, held_digests(account))
    flags = [finding_doc(f) for f in findings]
    created = audit_data(account)
    if flags:
        created["name_flags"] = flags
        created["name_check_id"] = record_name_review(
            findings, username=account.username, display_name=account.display_name, actor=current_actor()
        )
    if account.check_id:
        # Lock order (registry/locking.py): the review before the audit head.
        hooks.lock_check_review.call(account.check_id)
    record("account.create", f"account:{account.id}", created)
    if account.check_id:
        hooks.tie_check.call(account, account.check_id, actor=current_actor())
    db.session.commit()
    account.name_flags = flags
    return account


RENAME_FIELDS = ("username", "display_name", "news_licensed")
NAME_FIELDS = ("username", "display_name")


def rename_account(account_id: str, data: Mapping[str, Any]) -> Account:
    """Change an account's names (and news licence flag) under the name rules, audited; commit."""
    account = get_account(account_id, for_update=True)
    if account.status == "purged":
        raise Conflict(f"Account {account_id!r} is purged: only a tombstone remains.")
    old = {f: getattr(account, f) for f in RENAME_FIELDS}
    sent = {f: data.get(f, old[f]) for f in RENAME_FIELDS}
    # Names are stored with their contact details masked; compared as stored, so sending the same
    # name again changes nothing.
    new = {f: mask_contacts(v) if f in NAME_FIELDS and f in data else v for f, v in sent.items()}
    changed = [f for f in RENAME_FIELDS if new[f] != old[f]]
    account.name_flags = []
    avatar_findings: list[NameFinding] = []
    avatar_change: str | None = None
    if "avatar" in data or "avatar_hash" in data:
        errors: dict[str, list[str]] = {}
        avatar, avatar_findings = read_account_avatar(data.get("avatar"), data.get("avatar_hash"), errors)
        if errors:
            raise Invalid("Invalid account.", {"json": errors})
        hashes = (
            (avatar.hash, avatar.crop_hash, avatar.band_hash, avatar.side_hashes, avatar.tone_hash)
            if avatar is not None
            else (None,) * 5
        )
        stored = (account.avatar_hash, account.avatar_crop_hash, account.avatar_band_hash)
        if hashes != (*stored, account.avatar_side_hashes, account.avatar_tone_hash):
            avatar_change = "removed" if avatar is None else "changed"
            (
                account.avatar_hash,
                account.avatar_crop_hash,
                account.avatar_band_hash,
                account.avatar_side_hashes,
                account.avatar_tone_hash,
            ) = hashes
    if not changed and avatar_change is None:
        return account
    # A licence withdrawn makes the names' news words count again: check both names then.
    recheck = ("username", "display_name") if "news_licensed" in changed else changed
    entity_verified = (
        account.account_type in ENTITY_ACCOUNT_TYPES and account.verification_status == "verified"
    )
    findings = evaluate_names(
        {f: sent[f] for f in recheck if f != "news_licensed"},
        news_licensed=bool(new["news_licensed"]),
        account_type=account.account_type,
        own_names=(old["username"], old["display_name"]) if entity_verified else (),
    )
    findings += avatar_findings
    if entity_verified and "display_name" in changed:
        # A verified organisation keeps a display name that agrees with its registered entity.
        agreement = entity_name_agreement(account.entity_name or "", new["display_name"] or "")
        if not agreement.agrees:
            raise InvalidField(
                "display_name",
                f"display name {new['display_name']!r} does not match the verified entity name "
                f"{account.entity_name!r} (score {agreement.score:g} < {ENTITY_NAME_MIN_SCORE:g}); "
                "revoke the verification first",
            )
    if account.status in GOOD_STANDING:
        count_name_keys(
            key_deltas(
                account_keys(old["username"], old["display_name"]),
                account_keys(new["username"], new["display_name"]),
            )
        )
    account.username = new["username"]
    account.username_key = name_key(new["username"])
    account.display_name = new["display_name"]
    account.display_key = name_key(new["display_name"])
    account.news_licensed = bool(new["news_licensed"])
    flags = [finding_doc(f) for f in findings]
    entry: dict[str, Any] = {
        "old": {f: old[f] for f in changed},
        "new": {f: new[f] for f in changed},
    }
    if avatar_change is not None:
        entry["avatar"] = avatar_change
    if flags:
        entry["name_flags"] = flags
        entry["name_check_id"] = record_name_review(
            findings, username=account.username, display_name=account.display_name, actor=current_actor()
        )
    record("account.rename", f"account:{account.id}", entry)
    if entity_verified and "display_name" in changed:
        # Every worker's check index swaps the protected name for the new one.
        notify_index_changed(db.session, ChangeKind.ACCOUNT_PROTECTED, account.id)
    db.session.commit()
    account.name_flags = flags
    return account


def get_account(account_id: str, *, for_update: bool = False) -> Account:
    """Return the account or abort with 404."""
    return get_or_404(Account, account_id, "account", for_update=for_update)


def list_accounts(args: Mapping[str, Any]) -> tuple[list[Account], str | None]:
    """Return one page of accounts matching the filters, in id order, and the next cursor."""
    stmt = sa.select(Account)
    tiers = app_settings().tiers
    if args.get("tier") is not None and args["tier"] not in tiers:
        # Like PUT .../tier: a tier outside the configured ladder is an error, not an empty directory.
        raise Invalid(
            "Invalid request: check tier.", {"query": {"tier": [f"Must be one of: {', '.join(tiers)}."]}}
        )
    if args.get("tier"):
        stmt = stmt.where(Account.tier == args["tier"])
    if args.get("status"):
        stmt = stmt.where(Account.status == args["status"])
    if args.get("account_type"):
        stmt = stmt.where(Account.account_type == args["account_type"])
    if args.get("verification"):
        stmt = stmt.where(Account.verification_status == args["verification"])
    return keyset_page(stmt, Account.id, args)


@dataclass
class ImportReport:
    """What a bulk import did: counts and per-line problems (line number, message)."""

    read: int = 0
    created: int = 0
    skipped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    # Lines kept with a remark (a phone number only possible, not known as assigned).
    warnings: list[tuple[int, str]] = field(default_factory=list)


def import_accounts(
    lines: Iterable[str],
    *,
    actor: str,
    batch_size: int = 1000,
    progress: Any = None,
    workers: int = 1,
) -> ImportReport:
    """Bulk-load accounts from JSON Lines; bad lines are reported and do not stop the good ones.

    Lines are prepared (validated, hashed, keyed) in ``workers`` processes (registry/accounts/bulk.py)
    and loaded a batch per transaction: COPY on PostgreSQL, one name-key count upsert and one
    ``record_many`` per batch.
    """
    from registry.accounts.bulk import PreparedAccount, insert_rows, prepared_chunks

    report = ImportReport()
    batch: list[PreparedAccount] = []
    seen: set[str] = set()

    def flush() -> None:
        if not batch:
            return
        ids = [p.id for p in batch]
        taken = set(db.session.scalars(sa.select(Account.id).where(Account.id.in_(ids))))
        fresh: list[PreparedAccount] = []
        for p in batch:
            if p.id in taken:
                report.skipped += 1
                report.errors.append((p.number, f"id: account {p.id!r} exists already"))
            else:
                fresh.append(p)
        rows = [p.row for p in fresh if p.row is not None]
        event = _stamped(rows)
        insert_rows(db.session, rows)
        note_held_identifiers(db.session, [d for row in rows for d in held_digests(row)])
        # Each account counts once per distinct key it holds: one upsert for the whole batch.
        delta: Counter[int] = Counter()
        for p in fresh:
            delta.update(p.keys)
        count_name_keys(delta, event)
        record_many(
            [("account.create", f"account:{p.id}", p.audit or {}) for p in fresh],
            actor=actor,
        )
        db.session.commit()
        report.created += len(fresh)
        batch.clear()

    chunks = prepared_chunks(lines, utcnow(), workers=workers, chunk_size=max(100, batch_size // 4))
    for chunk in chunks:
        for p in chunk:
            report.read += 1
            if progress is not None:
                progress.update(1)
            error = p.error
            if p.id is not None and p.id in seen:
                # As a line-by-line import reports it: the repeat, whatever else is wrong with it.
                error = flatten_errors({"id": [f"account {p.id!r} appears twice in this file"]})
            if error is not None or p.row is None:
                report.errors.append((p.number, error or "unusable line"))
                continue
            if p.unassigned_phone:
                report.warnings.append((p.number, UNASSIGNED_PHONE_WARNING))
            seen.add(p.row["id"])
            batch.append(p)
            if len(batch) >= batch_size:
                flush()
    flush()
    if report.created:
        # Checks count holders of a name and of an identifier here: plan them with statistics now.
        analyze([Account.__tablename__, AuditEntry.__tablename__])
        db.session.commit()
    return report
