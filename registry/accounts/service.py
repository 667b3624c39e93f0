"""Create, read, list and import accounts; every change audited in its own transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError

from registry.accounts.entity import ENTITY_NAME_MIN_SCORE, entity_name_agreement
from registry.accounts.models import ENTITY_ACCOUNT_TYPES, IDENTIFIER_FIELDS, Account, NameKeyCount
from registry.accounts.names import evaluate_names, finding_doc, record_name_review
from registry.accounts.schemas import AccountIn
from registry.actor import current_actor
from registry.audit.models import AuditEntry
from registry.audit.service import record, record_many
from registry.avatars.check import QR_CODE
from registry.avatars.inputs import AvatarError, AvatarInput, read_avatar
from registry.db import analyze, get_or_404, keyset_page
from registry.domain_errors import Conflict, Invalid, InvalidField
from registry.extensions import db
from registry.identifiers import is_assigned_phone
from registry.jsonlines import UNASSIGNED_PHONE_WARNING, flatten_errors, parse_line
from registry.matching.commonness import GOOD_STANDING, account_keys, key_deltas
from registry.matching.fold import canonical
from registry.names import NameFinding, mask_contacts
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


def count_name_keys(delta: Mapping[int, int]) -> None:
    """Apply changes to the name key counts and log them for every worker's check engine; caller commits.

    One ``ban_events`` row ("counts") per call: workers re-read the counts whose ``event_id`` it is, in
    the same poll that brings them new bans, so a burst of accounts costs one event, not one per key.
    """
    from registry.bans.models import BanEvent

    changes = sorted((h, n) for h, n in delta.items() if n)
    if not changes:
        return
    event = BanEvent(ban_id="name-counts", op="counts", at=utcnow())
    db.session.add(event)
    db.session.flush()
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    # Sorted keys: two transactions upserting overlapping keys lock them in the same order (no deadlock).
    for i in range(0, len(changes), 2000):
        stmt = insert(NameKeyCount).values(
            [{"key_hash": h, "accounts": max(n, 0), "event_id": event.id} for h, n in changes[i : i + 2000]]
        )
        deltas = {h: n for h, n in changes[i : i + 2000]}
        if all(n > 0 for n in deltas.values()):
            stmt = stmt.on_conflict_do_update(
                index_elements=[NameKeyCount.key_hash],
                set_={"accounts": NameKeyCount.accounts + stmt.excluded.accounts, "event_id": event.id},
            )
            db.session.execute(stmt)
        else:
            # Decrements (renames, bans, purges) are few: one row each, never below zero.
            for h, n in deltas.items():
                if n > 0:
                    db.session.execute(
                        insert(NameKeyCount)
                        .values(key_hash=h, accounts=n, event_id=event.id)
                        .on_conflict_do_update(
                            index_elements=[NameKeyCount.key_hash],
                            set_={"accounts": NameKeyCount.accounts + n, "event_id": event.id},
                        )
                    )
                else:
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


def uncount_accounts(names: Iterable[tuple[str | None, str | None]]) -> None:
    """Take accounts leaving good standing (banned, purged) out of the name key counts; caller commits."""
    delta: Counter[int] = Counter()
    for username, display_name in names:
        delta.update(key_deltas(account_keys(username, display_name), ()))
    count_name_keys(delta)


def build_account(data: Mapping[str, Any]) -> Account:
    """Turn a validated account document into an unsaved Account, hashing its identifiers."""
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
    account = Account(
        id=data["id"],
        username=username,
        username_key=name_key(username),
        display_name=display_name,
        display_key=name_key(display_name),
        account_type=data.get("account_type") or "personal",
        status="active",
        tier=settings.default_tier,
        tier_pinned=False,
        news_licensed=bool(data.get("news_licensed")),
        credit=100,
        verification_status="unverified",
        registered_at=data.get("registered_at") or utcnow(),
        check_id=data.get("check_id"),
        pii_key_version=settings.pii_key_version,
    )
    for name, p in protected.items():
        setattr(account, f"{name}_hash", p.digest)
        setattr(account, f"{name}_mask", p.mask)
    if avatar is not None:
        account.avatar_hash = avatar.hash
        account.avatar_crop_hash = avatar.crop_hash
        account.avatar_band_hash = avatar.band_hash
    account.avatar_findings = avatar_findings  # type: ignore[attr-defined]
    return account


def audit_data(account: Account) -> dict[str, Any]:
    """Describe an account for the audit trail: names and masked identifiers, never raw values."""
    masks = {f: getattr(account, f"{f}_mask") for f in IDENTIFIER_FIELDS if getattr(account, f"{f}_mask")}
    return {
        "username": account.username,
        "display_name": account.display_name,
        "account_type": account.account_type,
        "tier": account.tier,
        "registered_at": account.registered_at,
        "identifiers": masks,
        # Whether there is one, not the hash: the trail outlives a purge.
        "avatar": account.avatar_hash is not None,
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
    findings += account.avatar_findings  # type: ignore[attr-defined]
    db.session.add(account)
    db.session.flush()
    count_name_keys(key_deltas((), account_keys(account.username, account.display_name)))
    flags = [finding_doc(f) for f in findings]
    created = audit_data(account)
    if flags:
        created["name_flags"] = flags
        created["name_check_id"] = record_name_review(
            findings, username=account.username, display_name=account.display_name, actor=current_actor()
        )
    if account.check_id:
        # layering: a new account ties its signup check's review (a hook to reviews is still to come).
        from registry.reviews.service import lock_check_review

        # Lock order (registry/locking.py): the review before the audit head.
        lock_check_review(account.check_id)
    record("account.create", f"account:{account.id}", created)
    if account.check_id:
        # layering: as above, the review tie belongs to reviews, which sit above accounts.
        from registry.reviews.service import tie_check

        tie_check(account, account.check_id, actor=current_actor())
    db.session.commit()
    account.name_flags = flags  # type: ignore[attr-defined]
    return account


RENAME_FIELDS = ("username", "display_name", "news_licensed")
NAME_FIELDS = ("username", "display_name")


def rename_account(account_id: str, data: Mapping[str, Any]) -> Account:
    """Change an account's names (and news licence flag) under the name rules, audited; commit."""
    from registry.bans.models import BanEvent

    account = get_account(account_id, for_update=True)
    if account.status == "purged":
        raise Conflict(f"Account {account_id!r} is purged: only a tombstone remains.")
    old = {f: getattr(account, f) for f in RENAME_FIELDS}
    sent = {f: data.get(f, old[f]) for f in RENAME_FIELDS}
    # Names are stored with their contact details masked; compared as stored, so sending the same
    # name again changes nothing.
    new = {f: mask_contacts(v) if f in NAME_FIELDS and f in data else v for f, v in sent.items()}
    changed = [f for f in RENAME_FIELDS if new[f] != old[f]]
    account.name_flags = []  # type: ignore[attr-defined]
    avatar_findings: list[NameFinding] = []
    avatar_change: str | None = None
    if "avatar" in data or "avatar_hash" in data:
        errors: dict[str, list[str]] = {}
        avatar, avatar_findings = read_account_avatar(data.get("avatar"), data.get("avatar_hash"), errors)
        if errors:
            raise Invalid("Invalid account.", {"json": errors})
        hashes = (avatar.hash, avatar.crop_hash, avatar.band_hash) if avatar is not None else (None,) * 3
        if hashes != (account.avatar_hash, account.avatar_crop_hash, account.avatar_band_hash):
            avatar_change = "removed" if avatar is None else "changed"
            account.avatar_hash, account.avatar_crop_hash, account.avatar_band_hash = hashes
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
        # Every worker's check engine swaps the protected name for the new one.
        db.session.add(BanEvent(ban_id=f"account:{account.id}", op="protect", at=utcnow()))
    db.session.commit()
    account.name_flags = flags  # type: ignore[attr-defined]
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


def iter_json_lines(lines: Iterable[str]) -> Iterator[tuple[int, Any, str | None]]:
    """Yield (line number, parsed document or None, error) for each non-blank line of JSON Lines."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield (number, *parse_line(line))


def import_accounts(  # noqa: C901 - one pass over the file: parse, validate, dedupe and batch each line
    lines: Iterable[str], *, actor: str, batch_size: int = 1000, progress: Any = None
) -> ImportReport:
    """Bulk-load accounts from JSON Lines; bad lines are reported and do not stop the good ones."""
    report = ImportReport()
    schema = AccountIn()
    batch: list[tuple[int, Account]] = []
    seen: set[str] = set()

    def flush() -> None:
        if not batch:
            return
        ids = [a.id for _, a in batch]
        taken = set(db.session.scalars(sa.select(Account.id).where(Account.id.in_(ids))))
        fresh = []
        for number, account in batch:
            if account.id in taken:
                report.skipped += 1
                report.errors.append((number, f"id: account {account.id!r} exists already"))
            else:
                fresh.append(account)
        db.session.add_all(fresh)
        db.session.flush()
        delta: Counter[int] = Counter()
        for a in fresh:
            delta.update(key_deltas((), account_keys(a.username, a.display_name)))
        count_name_keys(delta)
        record_many(
            [("account.create", f"account:{a.id}", {**audit_data(a), "source": "import"}) for a in fresh],
            actor=actor,
        )
        db.session.commit()
        report.created += len(fresh)
        batch.clear()

    for number, doc, error in iter_json_lines(lines):
        report.read += 1
        if progress is not None:
            progress.update(1)
        if error is None:
            try:
                data = schema.load(doc)
                if data["id"] in seen:
                    raise AccountInputError({"id": [f"account {data['id']!r} appears twice in this file"]})
                account = build_account(data)
            except ValidationError as exc:
                error = flatten_errors(exc.messages)
            except AccountInputError as exc:
                error = flatten_errors(exc.errors)
        if error is not None:
            report.errors.append((number, error))
            continue
        if data.get("phone") and not is_assigned_phone(data["phone"]):
            report.warnings.append((number, UNASSIGNED_PHONE_WARNING))
        seen.add(account.id)
        batch.append((number, account))
        if len(batch) >= batch_size:
            flush()
    flush()
    if report.created:
        # Checks count holders of a name and of an identifier here: plan them with statistics now.
        analyze([Account.__tablename__, AuditEntry.__tablename__])
        db.session.commit()
    return report
