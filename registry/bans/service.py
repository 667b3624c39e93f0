"""Create, read, list, lift and import bans; each change audited and logged for the check engines."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.pool import AsyncResult
from typing import Any

import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError

from registry.accounts.models import IDENTIFIER_FIELDS, Account
from registry.accounts.service import ImportReport
from registry.actor import current_actor
from registry.audit.models import AuditEntry
from registry.audit.service import record_many
from registry.avatars.inputs import AvatarError, read_hash, read_image
from registry.bans.models import (
    Ban,
    BanAccount,
    BanAvatar,
    BanEvent,
    BanIdentifier,
    BanName,
    ban_has_expired,
    ban_is_live,
    ban_names_account,
)
from registry.bans.schemas import MAX_AVATARS, MAX_NAMES, MAX_PER_FIELD, BanIn
from registry.db import analyze, get_or_404, keyset_page
from registry.domain_errors import Conflict, DomainError, Invalid, describe
from registry.extensions import db
from registry.identifiers import (
    InvalidIdentifier,
    PiiHasher,
    normalize,
    normalize_ip_or_network,
    normalize_phone_checked,
)
from registry.identifiers.iprange import mask_range
from registry.ids import new_id
from registry.jsonlines import UNASSIGNED_PHONE_WARNING, flatten_errors, numbered_chunks, parse_line
from registry.locking import lock_account_ids, lock_accounts
from registry.matching import encode_name
from registry.pii import hasher, range_cipher
from registry.rules import check_rule as catalogue_check
from registry.settings import app_settings
from registry.timeutil import utcnow

BAN_FIELDS = IDENTIFIER_FIELDS


class BanInputError(ValueError):
    """A ban document is unusable; ``errors`` is shaped like marshmallow's (field -> messages)."""

    def __init__(self, errors: Mapping[str, Any]) -> None:
        super().__init__(flatten_errors(errors))
        self.errors = dict(errors)


@dataclass
class PreparedBan:
    """A validated ban in stored form: hashed identifiers, encoded names, and its fingerprint."""

    account_id: str | None
    reason: str
    rule: str
    expires_at: datetime | None
    # (kind, value_hash, value, mask): value (the clear range, sealed on insert) and mask for ip_range,
    # hash and mask for the rest.
    identifiers: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    names: list[tuple[str, str]] = field(default_factory=list)
    # (kind, 64-hex PDQ hash): kind "image", "crop", "band", "side" or "hash" (registry/avatars).
    avatars: list[tuple[str, str]] = field(default_factory=list)
    fingerprint: str = ""
    id: str = ""
    # Phone numbers kept although libphonenumber does not know them as assigned (import warnings).
    unassigned_phones: int = 0

    def add_identifier(self, kind: str, digest: str | None, value: str | None, mask: str | None) -> None:
        """Add one identifier unless the ban already holds it."""
        if not any(i[0] == kind and i[1] == digest and i[2] == value for i in self.identifiers):
            self.identifiers.append((kind, digest, value, mask))

    def add_avatar(self, kind: str, digest: str | None) -> None:
        """Add one avatar hash unless the ban already holds it."""
        if digest and not any(h == digest for _, h in self.avatars):
            self.avatars.append((kind, digest))

    def add_name(self, name: str | None) -> None:
        """Add one name (with its match keys) unless the ban already holds it."""
        if name and not any(n == name for n, _ in self.names):
            self.names.append((name, encode_name(name)))


def prepare_ban(data: Mapping[str, Any], pii: PiiHasher) -> PreparedBan:
    """Normalise, hash and mask a schema-loaded ban body; raise BanInputError naming bad identifiers."""
    prepared = PreparedBan(data.get("account_id"), data["reason"], data["rule"], data.get("expires_at"))
    errors: dict[str, dict[str, list[str]]] = {}
    idents = data.get("identifiers") or {}
    for kind in BAN_FIELDS:
        for position, raw in enumerate(idents.get(kind) or ()):
            try:
                if kind == "ip":
                    canonical = normalize_ip_or_network(raw)
                    if "/" in canonical:
                        # Matched by containment, so not hashable: held in clear here, sealed (AES-GCM)
                        # when written, shown masked (registry/identifiers/iprange.py).
                        prepared.add_identifier("ip_range", None, canonical, mask_range(canonical))
                        continue
                elif kind == "phone":
                    canonical, assigned = normalize_phone_checked(raw)
                    prepared.unassigned_phones += not assigned
                else:
                    canonical = normalize(kind, raw)
            except InvalidIdentifier as exc:
                errors.setdefault(kind, {})[str(position)] = [exc.message]
                continue
            prepared.add_identifier(kind, pii.digest(kind, canonical), None, _mask(pii, kind, canonical))
    if errors:
        raise BanInputError({"identifiers": errors})
    for name in data.get("names") or ():
        if name.strip():
            prepared.add_name(name)
    bad: dict[str, list[str]] = {}
    for position, value in enumerate(data.get("avatars") or ()):
        try:
            # 64 hex digits are a hash; anything else must be a base64 image (48 bytes are no image).
            avatar = read_hash(value) if _looks_like_hash(value) else read_image(value, qr=False)
        except AvatarError as exc:
            bad[str(position)] = [exc.message]
            continue
        if avatar.plain:
            bad[str(position)] = ["Too plain an image to recognise (a flat colour or faint gradient)."]
        for kind, digest in avatar.banned():
            prepared.add_avatar(kind, digest)
    if bad:
        raise BanInputError({"avatars": bad})
    prepared.fingerprint = fingerprint(prepared)
    return prepared


def _looks_like_hash(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value.strip()) == 64
        and all(c in "0123456789abcdefABCDEF" for c in value.strip())
    )


def _mask(pii: PiiHasher, kind: str, canonical: str) -> str:
    # A canonical CN mobile masks without re-parsing it (what PiiHasher.mask gives, ~15 us cheaper).
    if kind == "phone" and len(canonical) == 14 and canonical.startswith("+861") and canonical[1:].isdigit():
        return f"+86 {canonical[3:6]}****{canonical[-4:]}"
    return pii.mask(kind, canonical)


def fingerprint(prepared: PreparedBan) -> str:
    """Return the sha256 of a ban's normalised content (what makes two import lines the same ban)."""
    content = [
        prepared.account_id,
        sorted(f"{kind}:{digest or value}" for kind, digest, value, _ in prepared.identifiers),
        sorted(name for name, _ in prepared.names),
        prepared.reason,
        prepared.rule,
        prepared.expires_at.isoformat() if prepared.expires_at else None,
    ]
    if prepared.avatars:
        # Only when there are avatars: bans without any keep the fingerprints they always had.
        content.append(sorted(digest for _, digest in prepared.avatars))
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8")).hexdigest()


def capture_account(prepared: PreparedBan, account: Account) -> None:
    """Add the account's own names and identifier hashes to the ban."""
    for name in (account.username, account.display_name):
        prepared.add_name(name)
    for f in IDENTIFIER_FIELDS:
        digest = getattr(account, f"{f}_hash")
        if digest:
            prepared.add_identifier(f, digest, None, getattr(account, f"{f}_mask"))
    prepared.add_avatar("image" if account.avatar_crop_hash else "hash", account.avatar_hash)
    prepared.add_avatar("crop", account.avatar_crop_hash)
    prepared.add_avatar("band", account.avatar_band_hash)
    sides = account.avatar_side_hashes or ""
    for i in range(0, len(sides), 64):
        prepared.add_avatar("side", sides[i : i + 64])


def check_rule(code: str) -> None:
    """Refuse a rule the rules catalogue (when configured) does not know or that does not allow bans (422)."""
    catalogue_check(code, action="ban")


def view_status(ban: Ban, now: datetime | None = None) -> str:
    """Return active, lifted or expired (an active ban whose expires_at has passed)."""
    if ban.status == "active" and ban.expires_at is not None and ban.expires_at <= (now or utcnow()):
        return "expired"
    return ban.status


def ban_audit_data(prepared: PreparedBan, source: str) -> dict[str, Any]:
    """Describe a ban for the audit trail: masks, ranges and names, never raw identifiers."""
    masks: dict[str, list[str]] = {}
    for kind, _digest, _value, mask in prepared.identifiers:
        masks.setdefault(kind, []).append(mask or "****")
    return {
        "account_id": prepared.account_id,
        "reason": prepared.reason,
        "rule": prepared.rule,
        "expires_at": prepared.expires_at,
        "identifiers": masks,
        "names": [n for n, _ in prepared.names],
        "source": source,
        "avatars": len(prepared.avatars),
    }


def _insert(
    prepared: Sequence[PreparedBan], *, actor: str, source: str, now: datetime, keep_fingerprint: bool
) -> None:
    """Insert bans, their identifiers, names and create events: COPY on PostgreSQL, else executemany."""
    for p in prepared:
        p.id = p.id or new_id("ban_")
    if not prepared:
        return
    if len(prepared) >= COPY_MIN_ROWS and db.session.get_bind().dialect.name == "postgresql":
        _copy_bans(prepared, actor=actor, source=source, now=now, keep_fingerprint=keep_fingerprint)
        return
    ban_rows: list[dict[str, Any]] = []
    ident_rows: list[dict[str, Any]] = []
    seal = range_cipher().seal
    name_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
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
        event_rows.append({"ban_id": p.id, "op": "create", "at": now})
    for model, rows in (
        (Ban, ban_rows),
        (BanIdentifier, ident_rows),
        (BanName, name_rows),
        (BanAvatar, avatar_rows),
        (BanEvent, event_rows),
    ):
        if rows:
            db.session.execute(sa.insert(model), rows)


# Below this many bans a plain executemany costs less than setting up COPY.
COPY_MIN_ROWS = 200
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


def _esc(value: str | None) -> str:
    return _NULL if value is None else value.translate(_COPY_ESCAPES)


def _copy_bans(
    prepared: Sequence[PreparedBan], *, actor: str, source: str, now: datetime, keep_fingerprint: bool
) -> None:
    """Load a batch into the four ban tables with one COPY each (text format)."""
    bans, idents, names, events = io.StringIO(), io.StringIO(), io.StringIO(), io.StringIO()
    avatars = io.StringIO()
    seal = range_cipher().seal
    at = now.isoformat(sep=" ")
    tail = f"\tactive\t{at}\t{_esc(actor)}\t{_esc(source)}\t"
    for p in prepared:
        expires = p.expires_at.isoformat(sep=" ") if p.expires_at is not None else _NULL
        bans.write(
            f"{p.id}\t{_esc(p.account_id)}\t{_esc(p.reason)}\t{_esc(p.rule)}\t{expires}{tail}"
            f"{p.fingerprint if keep_fingerprint else _NULL}\n"
        )
        for kind, digest, value, mask in p.identifiers:
            stored = seal(value) if value else None
            idents.write(f"{p.id}\t{kind}\t{digest or _NULL}\t{_esc(stored)}\t{_esc(mask)}\n")
        for name, encoded in p.names:
            names.write(f"{p.id}\t{_esc(name[:256])}\t{_esc(encoded)}\n")
        for kind, digest in p.avatars:
            avatars.write(f"{p.id}\t{kind}\t{digest}\n")
        events.write(f"{p.id}\tcreate\t{at}\n")
    db.session.flush()
    cursor = db.session.connection().connection.cursor()
    try:
        for table, columns, buffer in (
            (
                Ban.__table__,
                "id, account_id, reason, rule, expires_at, status, created_at, created_by, "
                "source, fingerprint",
                bans,
            ),
            (BanIdentifier.__table__, "ban_id, kind, value_hash, value, mask", idents),
            (BanName.__table__, "ban_id, name, encoded", names),
            (BanAvatar.__table__, "ban_id, kind, hash", avatars),
            (BanEvent.__table__, "ban_id, op, at", events),
        ):
            if buffer.tell():
                buffer.seek(0)
                cursor.copy_expert(f"COPY {table.name} ({columns}) FROM STDIN", buffer)
    finally:
        cursor.close()


def _mark_banned(
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


def _stale_engine() -> None:
    """Tell this process's check engine to read the ban log on its next check (others poll it)."""
    engine = current_app.extensions.get("registry.check_engine")
    if engine is not None:
        engine.mark_stale()


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
    _insert([prepared], actor=actor, source=source, now=now, keep_fingerprint=False)
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
        entries.extend(_mark_banned(banned, {a.id: prepared.id for a in banned}, now=now))
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
    _stale_engine()
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
    _stale_engine()
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
    actor = current_actor()
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
    db.session.add(BanEvent(ban_id=ban.id, op="lift", at=now))
    db.session.flush()
    entries: list[tuple[str, str, dict[str, Any]]] = [
        ("ban.lift", f"ban:{ban.id}", {"reason": reason, "rule": ban.rule, "account_id": ban.account_id})
    ]
    for other in sorted({*([ban.account_id] if ban.account_id else []), *_covered(ban.id)}):
        entries.extend(_restore_account(other, ban.id, now))
    record_many(entries, actor=actor)
    db.session.commit()
    _stale_engine()
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
    done, after = 0, ""
    while True:
        ids = list(
            db.session.scalars(
                sa.select(Account.id)
                .where(Account.status == "banned", Account.id > after, ended, ~still)
                .order_by(Account.id)
                .limit(batch_size)
            )
        )
        if not ids:
            return done
        after = ids[-1]
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


# --- bulk import -------------------------------------------------------------------------------


@dataclass
class BanImportReport(ImportReport):
    """What a ban import did: ``errors`` holds rejected lines only, ``skipped`` those already present."""


def import_bans(  # noqa: C901 - the importer's main loop; splitting it is issue 11's later step
    lines: Iterable[str],
    *,
    actor: str,
    batch_size: int = 2000,
    progress: Any = None,
    workers: int = 1,
) -> BanImportReport:
    """Bulk-load bans from JSON Lines; bad lines are reported, good ones kept, re-runs create nothing."""
    report = BanImportReport()
    pii = hasher()
    batch: list[tuple[int, PreparedBan]] = []
    seen: set[str] = set()
    checked_rules: dict[str, str | None] = {}
    touched = {t.__tablename__ for t in (Ban, BanIdentifier, BanName, BanAvatar, BanEvent, AuditEntry)}

    def flush() -> None:
        if not batch:
            return
        now = utcnow()
        prints = [p.fingerprint for _, p in batch]
        present = set(db.session.scalars(sa.select(Ban.fingerprint).where(Ban.fingerprint.in_(prints))))
        account_ids = {p.account_id for _, p in batch if p.account_id}
        accounts = lock_accounts(account_ids) if account_ids else {}
        fresh: list[PreparedBan] = []
        for number, p in batch:
            if p.fingerprint in present:
                report.skipped += 1
                continue
            if p.account_id:
                account = accounts.get(p.account_id)
                if account is None:
                    report.errors.append((number, f"account_id: no account {p.account_id!r}"))
                    continue
                capture_account(p, account)
            fresh.append(p)
        _insert(fresh, actor=actor, source="import", now=now, keep_fingerprint=True)
        entries = [("ban.create", f"ban:{p.id}", ban_audit_data(p, "import")) for p in fresh]
        banned = {p.account_id: p.id for p in fresh if p.account_id}
        if banned:
            entries.extend(_mark_banned([accounts[a] for a in banned], banned, now=now))
            touched.add(Account.__tablename__)
        record_many(entries, actor=actor)
        db.session.commit()
        report.created += len(fresh)
        batch.clear()

    for chunk in _prepared_chunks(lines, pii, workers=workers, chunk_size=max(100, batch_size // 4)):
        for number, prepared, error in chunk:
            report.read += 1
            if progress is not None:
                progress.update(1)
            if prepared is not None and error is None:
                error = _rule_error(prepared.rule, checked_rules)
            if error is not None or prepared is None:
                report.errors.append((number, error or "unusable line"))
                continue
            if prepared.unassigned_phones:
                report.warnings.append((number, UNASSIGNED_PHONE_WARNING))
            if prepared.fingerprint in seen:
                report.skipped += 1
                continue
            seen.add(prepared.fingerprint)
            batch.append((number, prepared))
            if len(batch) >= batch_size:
                flush()
    flush()
    if report.created:
        # Checks confirm Bloom hits against these tables; plan them with statistics from now on.
        analyze(sorted(touched))
        db.session.commit()
    return report


Prepared = tuple[int, PreparedBan | None, str | None]
_worker_hasher: PiiHasher | None = None

_BAN_KEYS = frozenset(("account_id", "identifiers", "names", "reason", "rule", "expires_at", "avatars"))
_IDENTIFIER_KEYS = frozenset(BAN_FIELDS)
_EXPIRES_AT = BanIn().fields["expires_at"]


def _str_list(value: Any, most: int, longest: int | None) -> bool:
    if type(value) is not list or len(value) > most:
        return False
    for item in value:
        if type(item) is not str or (longest is not None and not 1 <= len(item) <= longest):
            return False
    return True


def fast_load(doc: Any) -> dict[str, Any] | None:
    """Return what ``BanIn().load(doc)`` returns for the common well-formed shape, or None to use it.

    Accepts only documents BanIn accepts unchanged (exact JSON types, lengths, known keys; expires_at
    parsed by the schema's own field); anything else, valid or not, goes to the schema, so every error
    message is the schema's.
    """
    if type(doc) is not dict or not doc.keys() <= _BAN_KEYS:
        return None
    expires_at = doc.get("expires_at")
    if expires_at is not None:
        # The schema's own field parses it (one source of truth); the whole schema costs ~300 us here.
        if type(expires_at) is not str:
            return None
        try:
            expires_at = _EXPIRES_AT.deserialize(expires_at)
        except ValidationError:
            return None
    reason, rule = doc.get("reason"), doc.get("rule")
    if type(reason) is not str or not 1 <= len(reason) <= 2000:
        return None
    if type(rule) is not str or not 1 <= len(rule) <= 64:
        return None
    account_id = doc.get("account_id")
    if account_id is not None and (type(account_id) is not str or not 1 <= len(account_id) <= 128):
        return None
    names = doc.get("names", [])
    if not _str_list(names, MAX_NAMES, 256):
        return None
    raw = doc.get("identifiers")
    if raw is None and "identifiers" not in doc:
        raw = {}
    if type(raw) is not dict or not raw.keys() <= _IDENTIFIER_KEYS:
        return None
    identifiers: dict[str, list[str]] = {}
    # Like the schema: a missing "identifiers" loads as {}, a given one gets every field filled in.
    for kind in BAN_FIELDS if "identifiers" in doc else ():
        values = raw.get(kind, [])
        if not _str_list(values, MAX_PER_FIELD, None):
            return None
        identifiers[kind] = list(values)
    avatars = doc.get("avatars", [])
    if not _str_list(avatars, MAX_AVATARS, None):
        return None
    if not account_id and not names and not any(identifiers.values()) and not avatars:
        return None
    return {
        "account_id": account_id,
        "identifiers": identifiers,
        "names": list(names),
        "avatars": list(avatars),
        "reason": reason,
        "rule": rule,
        "expires_at": expires_at,
    }


def prepare_lines(numbered: list[tuple[int, str]], pii: PiiHasher) -> list[Prepared]:
    """Parse, validate and prepare numbered JSON lines (pure: runs in worker processes too)."""
    schema = BanIn()
    now = utcnow()
    out: list[Prepared] = []
    for number, doc, error in _parse(numbered):
        if error is not None:
            out.append((number, None, error))
            continue
        try:
            data = fast_load(doc) or schema.load(doc)
            if data.get("expires_at") is not None and data["expires_at"] <= now:
                raise BanInputError({"expires_at": ["must be in the future"]})
            out.append((number, prepare_ban(data, pii), None))
        except ValidationError as exc:
            out.append((number, None, flatten_errors(exc.messages)))
        except BanInputError as exc:
            out.append((number, None, flatten_errors(exc.errors)))
    return out


def _parse(numbered: list[tuple[int, str]]) -> Iterable[tuple[int, Any, str | None]]:
    for number, line in numbered:
        yield (number, *parse_line(line))


def _init_worker(key: bytes, version: int) -> None:
    global _worker_hasher
    _worker_hasher = PiiHasher(key, version)


def _prepare_in_worker(numbered: list[tuple[int, str]]) -> list[Prepared]:
    assert _worker_hasher is not None
    return prepare_lines(numbered, _worker_hasher)


def _prepared_chunks(
    lines: Iterable[str], pii: PiiHasher, *, workers: int, chunk_size: int
) -> Iterable[list[Prepared]]:
    """Yield prepared chunks in file order; with workers > 1, lines are prepared in parallel."""
    chunks = numbered_chunks(lines, chunk_size)
    if workers <= 1:
        for chunk in chunks:
            yield prepare_lines(chunk, pii)
        return
    settings = app_settings()
    # fork: workers inherit the loaded pinyin and confusables tables instead of loading them again; they
    # never touch the database. The key reaches them through the pool's initializer, not the command line.
    context = multiprocessing.get_context("fork")
    with context.Pool(
        workers, initializer=_init_worker, initargs=(settings.pii_key_bytes, settings.pii_key_version)
    ) as pool:
        # A bounded window of chunks in flight, not imap: imap's feeder thread reads the whole file ahead
        # and buffers every prepared chunk when the database is the slower side.
        pending: deque[AsyncResult[list[Prepared]]] = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_prepare_in_worker, (chunk,)))
            if len(pending) >= 2 * workers + 2:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def default_workers() -> int:
    """Return how many processes an import prepares lines in by default (one per CPU, at most 8)."""
    return max(1, min(8, os.cpu_count() or 1))


def _rule_error(code: str, cache: dict[str, str | None]) -> str | None:
    if code not in cache:
        try:
            check_rule(code)
            cache[code] = None
        except DomainError as exc:
            cache[code] = describe(exc)
    return cache[code]
