"""The bulk ban importer: JSON Lines prepared in worker processes, inserted in batches, re-runs idempotent."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError

from registry.accounts.models import Account
from registry.accounts.service import ImportReport
from registry.audit.models import AuditEntry
from registry.audit.service import record_many
from registry.bans.models import (
    Ban,
    BanAvatar,
    BanIdentifier,
    BanName,
)
from registry.bans.prepare import (
    BAN_FIELDS,
    BanInputError,
    PreparedBan,
    ban_audit_data,
    capture_account,
    check_rule,
    prepare_ban,
)
from registry.bans.schemas import MAX_AVATARS, MAX_NAMES, MAX_PER_FIELD, BanIn
from registry.bans.service import insert_prepared, mark_banned
from registry.db import analyze
from registry.domain_errors import DomainError, describe
from registry.extensions import db
from registry.identifiers import (
    PiiHasher,
)
from registry.index_changes import IndexChange
from registry.jsonlines import (
    UNASSIGNED_PHONE_WARNING,
    flatten_errors,
    in_order,
    numbered_chunks,
    parse_numbered,
)
from registry.locking import lock_accounts
from registry.pii import hasher
from registry.settings import app_settings
from registry.timeutil import utcnow


@dataclass
class BanImportReport(ImportReport):
    """What a ban import did: ``errors`` holds rejected lines only, ``skipped`` those already present."""


def import_bans(
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
    touched = {t.__tablename__ for t in (Ban, BanIdentifier, BanName, BanAvatar, IndexChange, AuditEntry)}
    for chunk in _prepared_chunks(lines, pii, workers=workers, chunk_size=max(100, batch_size // 4)):
        for number, prepared, error in chunk:
            report.read += 1
            if progress is not None:
                progress.update(1)
            admitted = _admitted(number, prepared, error, report, checked_rules, seen)
            if admitted is not None:
                batch.append((number, admitted))
                if len(batch) >= batch_size:
                    _insert_batch(batch, report, actor, touched)
    _insert_batch(batch, report, actor, touched)
    if report.created:
        # Checks confirm Bloom hits against these tables; plan them with statistics from now on.
        analyze(sorted(touched))
        db.session.commit()
    return report


def _admitted(
    number: int,
    prepared: PreparedBan | None,
    error: str | None,
    report: BanImportReport,
    checked_rules: dict[str, str | None],
    seen: set[str],
) -> PreparedBan | None:
    """Return a prepared line's ban if it goes into the batch; report it as an error or a repeat if not."""
    if prepared is not None and error is None:
        error = _rule_error(prepared.rule, checked_rules)
    if error is not None or prepared is None:
        report.errors.append((number, error or "unusable line"))
        return None
    if prepared.unassigned_phones:
        report.warnings.append((number, UNASSIGNED_PHONE_WARNING))
    if prepared.fingerprint in seen:
        report.skipped += 1
        return None
    seen.add(prepared.fingerprint)
    return prepared


def _insert_batch(
    batch: list[tuple[int, PreparedBan]], report: BanImportReport, actor: str, touched: set[str]
) -> None:
    """Insert the batch's bans not in the database yet, with their audit entries; commit; empty it."""
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
    insert_prepared(fresh, actor=actor, source="import", now=now, keep_fingerprint=True)
    entries = [("ban.create", f"ban:{p.id}", ban_audit_data(p, "import")) for p in fresh]
    banned = {p.account_id: p.id for p in fresh if p.account_id}
    if banned:
        entries.extend(mark_banned([accounts[a] for a in banned], banned, now=now))
        touched.add(Account.__tablename__)
    record_many(entries, actor=actor)
    db.session.commit()
    report.created += len(fresh)
    batch.clear()


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
    for number, doc, error in parse_numbered(numbered):
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
        yield from in_order(pool, _prepare_in_worker, ((chunk,) for chunk in chunks), window=2 * workers + 2)


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
