"""Create, read, list, lift and expire bans; each change audited and logged for the check index.

Preparing a ban (validation, hashing, fingerprint) is in ``prepare.py``, the bulk JSON Lines importer
in ``importer.py``; both share ``insert_prepared`` and ``mark_banned`` here.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from registry import pgcopy
from registry.accounts.models import Account
from registry.actor import current_actor
from registry.audit.service import record_many
from registry.bans.models import (
    Ban,
    BanAccount,
    BanAvatar,
    BanIdentifier,
    BanName,
    ban_has_expired,
    ban_is_live,
    ban_names_account,
)
from registry.bans.prepare import (
    BanInputError,
    PreparedBan,
    ban_audit_data,
    capture_account,
    check_rule,
    prepare_ban,
)
from registry.db import get_or_404, keyset_batches, keyset_page
from registry.domain_errors import Conflict, Invalid
from registry.extensions import db
from registry.ids import new_id
from registry.index_changes import ChangeKind, notify_index_changed, notify_index_changes
from registry.locking import lock_account_ids, lock_accounts
from registry.pgcopy import COPY_MIN_ROWS, NULL
from registry.pii import hasher, range_cipher
from registry.timeutil import utcnow


def view_status(ban: Ban, now: datetime | None = None) -> str:
    """Return active, lifted or expired (an active ban whose expires_at has passed)."""
    if ban.status == "active" and ban.expires_at is not None and ban.expires_at <= (now or utcnow()):
        return "expired"
    return ban.status


def insert_prepared(
    prepared: Sequence[PreparedBan], *, actor: str, source: str, now: datetime, keep_fingerprint: bool
) -> None:
    """Insert bans, identifiers, names and avatars (COPY on PostgreSQL, else executemany); log them."""
    for p in prepared:
        p.id = p.id or new_id("ban_")
    if not prepared:
        return
    if len(prepared) >= COPY_MIN_ROWS and db.session.get_bind().dialect.name == "postgresql":
        _copy_bans(prepared, actor=actor, source=source, now=now, keep_fingerprint=keep_fingerprint)
    else:
        _insert_rows(prepared, actor=actor, source=source, now=now, keep_fingerprint=keep_fingerprint)
    notify_index_changes(db.session, ChangeKind.BAN_CREATED, [p.id for p in prepared])


def _insert_rows(
    prepared: Sequence[PreparedBan], *, actor: str, source: str, now: datetime, keep_fingerprint: bool
) -> None:
    """Insert a batch into the ban tables with one executemany each."""
    ban_rows: list[dict[str, Any]] = []
    ident_rows: list[dict[str, Any]] = []
    seal = range_cipher().seal
    name_rows: list[dict[str, Any]] = []
    avatar_rows: list[dict[str, Any]] = []
    for p in prepared:
        ban_rows.append(
            {
                "id": p.id,
                "account_id": p.account_id,
                "reason": p.reason,
                "rule": p.rule,
                "status": "active",
                "expires_at": p.expires_at,
                "created_at": now,
                "created_by": actor,
                "source": source,
                "fingerprint": p.fingerprint if keep_fingerprint else None,
            }
        )
        ident_rows.extend(
            {"ban_id": p.id, "kind": k, "value_hash": h, "value": seal(v) if v else None, "mask": m}
            for k, h, v, m in p.identifiers
        )
        name_rows.extend({"ban_id": p.id, "name": n[:256], "encoded": e} for n, e in p.names)
        avatar_rows.extend({"ban_id": p.id, "kind": k, "hash": h} for k, h in p.avatars)
    for model, rows in (
        (Ban, ban_rows),
        (BanIdentifier, ident_rows),
        (BanName, name_rows),
        (BanAvatar, avatar_rows),
    ):
        if rows:
            db.session.execute(sa.insert(model), rows)


def _copy_bans(
    prepared: Sequence[PreparedBan], *, actor: str, source: str, now: datetime, keep_fingerprint: bool
) -> None:
    """Load a batch into the four ban tables with one COPY each (text format)."""
    bans, idents, names = io.StringIO(), io.StringIO(), io.StringIO()
    avatars = io.StringIO()
    seal, esc = range_cipher().seal, pgcopy.field
    at = now.isoformat(sep=" ")
    tail = f"\tactive\t{at}\t{esc(actor)}\t{esc(source)}\t"
    for p in prepared:
        expires = p.expires_at.isoformat(sep=" ") if p.expires_at is not None else NULL
        bans.write(
            f"{p.id}\t{esc(p.account_id)}\t{esc(p.reason)}\t{esc(p.rule)}\t{expires}{tail}"
            f"{p.fingerprint if keep_fingerprint else NULL}\n"
        )
        for kind, digest, value, mask in p.identifiers:
            stored = seal(value) if value else None
            idents.write(f"{p.id}\t{kind}\t{digest or NULL}\t{esc(stored)}\t{esc(mask)}\n")
        for name, encoded in p.names:
            names.write(f"{p.id}\t{esc(name[:256])}\t{esc(encoded)}\n")
        for kind, digest in p.avatars:
            avatars.write(f"{p.id}\t{kind}\t{digest}\n")
    pgcopy.copy_in(
        db.session,
        [
            (
                Ban.__tablename__,
                "id, account_id, reason, rule, expires_at, status, created_at, created_by, "
                "source, fingerprint",
                bans,
            ),
            (BanIdentifier.__tablename__, "ban_id, kind, value_hash, value, mask", idents),
            (BanName.__tablename__, "ban_id, name, encoded", names),
            (BanAvatar.__tablename__, "ban_id, kind, hash", avatars),
        ],
    )


def mark_banned(
    accounts: Iterable[Account], ban_of: Mapping[str, str], *, now: datetime
) -> list[tuple[str, str, dict[str, Any]]]:
    """Set locked accounts to banned; return their audit entries for the caller to append."""
    from registry.accounts.service import uncount_accounts

    entries = []
    leaving: list[tuple[str | None, str | None]] = []
    for account in accounts:
        if account.status in ("banned", "purged"):
            continue
        leaving.append((account.username, account.display_name))
        entries.append(
            (
                "account.status",
                f"account:{account.id}",
                {"from": account.status, "to": "banned", "ban_id": ban_of[account.id]},
            )
        )
        account.status = "banned"
        account.status_changed_at = now
    db.session.flush()
    # Banned accounts no longer count as people in good standing holding their names.
    uncount_accounts(leaving)
    return entries


def add_ban(data: Mapping[str, Any], *, actor: str, source: str) -> Ban:
    """Create a ban from a schema-loaded body in the current transaction, without committing."""
    check_rule(data["rule"])
    now = utcnow()
    if data.get("expires_at") is not None and data["expires_at"] <= now:
        raise Invalid("Invalid ban.", {"json": {"expires_at": ["Must be in the future."]}})
    try:
        prepared = prepare_ban(data, hasher())
    except BanInputError as exc:
        raise Invalid("Invalid ban.", {"json": exc.errors}) from None
    account = None
    ring: dict[str, list[str]] = {}
    if prepared.account_id:
        if data.get("registrant"):
            ring = _registrant_ring(prepared.account_id)
        # Lock order (registry/locking.py): the accounts first; the audit head is taken last, below.
        locked = lock_accounts([prepared.account_id, *ring])
        account = locked.get(prepared.account_id)
        if account is None:
            raise Invalid("Invalid ban.", {"json": {"account_id": [f"No account {prepared.account_id!r}."]}})
        ring = {a: via for a, via in ring.items() if a in locked}
        for covered in [account, *(locked[a] for a in ring if a != account.id)]:
            capture_account(prepared, covered)
    insert_prepared([prepared], actor=actor, source=source, now=now, keep_fingerprint=False)
    audit = ban_audit_data(prepared, source)
    if ring:
        audit["registrant_accounts"] = {a: via for a, via in ring.items()}
        db.session.execute(
            sa.insert(BanAccount),
            [{"ban_id": prepared.id, "account_id": a, "via": ",".join(v)} for a, v in ring.items()],
        )
    entries = [("ban.create", f"ban:{prepared.id}", audit)]
    if account is not None:
        banned = [account, *(locked[a] for a in ring if a != account.id)]
        entries.extend(mark_banned(banned, {a.id: prepared.id for a in banned}, now=now))
    record_many(entries, actor=actor)
    ban = db.session.get(Ban, prepared.id)
    assert ban is not None
    return ban


def _registrant_ring(account_id: str) -> dict[str, list[str]]:
    """Return the registrant's accounts (registry/bans/registrant.py); 422 naming account_id if unknown."""
    from registry.bans.registrant import registrant_ring

    account = db.session.get(Account, account_id)
    if account is None:
        raise Invalid("Invalid ban.", {"json": {"account_id": [f"No account {account_id!r}."]}})
    return registrant_ring(account)


def create_ban(data: Mapping[str, Any]) -> Ban:
    """Ban identifiers, names and/or an account (POST /v1/bans); commit once."""
    ban = add_ban(data, actor=current_actor(), source="api")
    db.session.commit()
    return ban


def ban_account(
    account_id: str,
    *,
    reason: str,
    rule: str,
    actor: str,
    expires_at: datetime | None = None,
    source: str = "review",
) -> Ban:
    """Ban an account with its captured names and identifiers; the caller commits."""
    ban = add_ban(
        {
            "account_id": account_id,
            "reason": reason,
            "rule": rule,
            "expires_at": expires_at,
            "identifiers": {},
            "names": [],
        },
        actor=actor,
        source=source,
    )
    return ban


def get_ban(ban_id: str, *, for_update: bool = False) -> Ban:
    """Return the ban or abort with 404."""
    return get_or_404(Ban, ban_id, "ban", for_update=for_update)


def list_bans(args: Mapping[str, Any]) -> tuple[list[Ban], str | None]:
    """Return one page of bans matching the filters, oldest first, and the next cursor."""
    stmt = sa.select(Ban)
    now = utcnow()
    status = args.get("status")
    if status == "active":
        stmt = stmt.where(ban_is_live(now))
    elif status == "expired":
        stmt = stmt.where(ban_has_expired(now))
    elif status == "lifted":
        stmt = stmt.where(Ban.status == "lifted")
    if args.get("account_id"):
        stmt = stmt.where(Ban.account_id == args["account_id"])
    if args.get("rule"):
        stmt = stmt.where(Ban.rule == args["rule"])
    return keyset_page(stmt, Ban.id, args)


def lift_ban(ban_id: str, reason: str) -> Ban:
    """Lift an active ban with a reason (409 if it is not active); its account may become active again."""
    ban = lift(ban_id, reason, actor=current_actor())
    db.session.commit()
    return ban


def lift(ban_id: str, reason: str, *, actor: str) -> Ban:
    """Lift an active ban in the current transaction, audited, without committing (409 if not active)."""
    # Lock order (registry/locking.py): the ban's account first, then the ban, the audit head last.
    # A ban's account_id never changes, so the unlocked read is enough to know which account to lock.
    account_id = get_ban(ban_id).account_id
    # A registrant ban's covered accounts never change either.
    covered = _covered(ban_id)
    if account_id or covered:
        lock_accounts([*([account_id] if account_id else []), *covered])
    ban = get_ban(ban_id, for_update=True)
    now = utcnow()
    state = view_status(ban, now)
    if state != "active":
        raise Conflict(f"Ban {ban_id!r} is {state}, not active.")
    ban.status = "lifted"
    ban.lifted_at = now
    ban.lifted_by = actor
    ban.lift_reason = reason
    notify_index_changed(db.session, ChangeKind.BAN_LIFTED, ban.id)
    entries: list[tuple[str, str, dict[str, Any]]] = [
        ("ban.lift", f"ban:{ban.id}", {"reason": reason, "rule": ban.rule, "account_id": ban.account_id})
    ]
    for other in sorted({*([ban.account_id] if ban.account_id else []), *_covered(ban.id)}):
        entries.extend(_restore_account(other, ban.id, now))
    record_many(entries, actor=actor)
    return ban


def _covered(ban_id: str) -> list[str]:
    """Return the accounts a registrant ban covers (none for any other ban)."""
    return list(db.session.scalars(sa.select(BanAccount.account_id).where(BanAccount.ban_id == ban_id)))


def _restore_account(
    account_id: str, lifted_ban_id: str, now: datetime
) -> list[tuple[str, str, dict[str, Any]]]:
    """Return the account to active if no other live ban names it; return its audit entries."""
    account = db.session.get(Account, account_id)  # locked by the caller, before the ban
    if account is None or account.status != "banned":
        return []
    others = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Ban)
        .where(
            ban_names_account(account_id),
            Ban.id != lifted_ban_id,
            ban_is_live(now),
        )
    )
    if others:
        return []
    account.status = "active"
    account.status_changed_at = now
    db.session.flush()
    entry = {"from": "banned", "to": "active", "ban_id": lifted_ban_id}
    return [("account.status", f"account:{account.id}", entry)]


def release_expired(*, as_of: datetime, actor: str, dry_run: bool = False, batch_size: int = 1000) -> int:
    """Return banned accounts to ``active`` once every ban naming them has expired; count them.

    Expired bans stop counting in checks by themselves (by time), but the account's status was set when
    it was banned; this writes the end of the ban down, audited, in keyset batches.
    """
    ended = sa.exists().where(ban_names_account(Account.id), ban_has_expired(as_of))
    still = sa.exists().where(ban_names_account(Account.id), ban_is_live(as_of))
    done = 0
    due = sa.select(Account.id).where(Account.status == "banned", ended, ~still)
    for rows in keyset_batches(due, Account.id, batch_size):
        ids = [r.id for r in rows]
        if dry_run:
            done += len(ids)
            continue
        # Lock order (registry/locking.py): the batch's accounts in id order, the audit head last;
        # judged again under the lock, as a lift or a new ban may have landed since the read.
        ids = lock_account_ids(sa.and_(Account.id.in_(ids), Account.status == "banned", ended, ~still))
        done += len(ids)
        if not ids:
            continue
        db.session.execute(
            sa.update(Account)
            .where(Account.id.in_(ids), Account.status == "banned")
            .values(status="active", status_changed_at=as_of)
        )
        record_many(
            [
                (
                    "account.status",
                    f"account:{i}",
                    {"from": "banned", "to": "active", "reason": "bans expired"},
                )
                for i in ids
            ],
            actor=actor,
        )
        db.session.commit()
    return done
