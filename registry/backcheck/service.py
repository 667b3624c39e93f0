"""Judge new bans against the accounts that already exist; open reviews, never ban.

Decisions taken here:
- Which bans: every ban created (``index_changes`` rows with op "create": API, import, a confirmed
  review) and still live when it is judged. Which accounts: not banned, not purged, not the ban's own
  nor one a registrant ban covers.
- Recall is by indexed equality, so one ban costs a few index probes whatever the population: the
  ban's identifier hashes against the accounts' ``<field>_hash`` columns (phone, ID number, device
  id, email, IP; sealed IP ranges are not recalled), and the ban's names' match keys (canonical,
  base, pinyin, reordered; ``registry.matching.keys``) against the accounts' folded ``username_key`` /
  ``display_key``. Disguises on the account's side (a typo, an affix the ban's name lacks) are not
  recalled: that would need every account's match keys indexed. Keys held by
  ``REGISTRY_COMMON_NAME_ACCOUNTS`` accounts or more are not recalled by name (the model can only
  answer ``common_name`` for them; see ``_rare``).
- Judging is the signup check's evidence model, not a copy: the recalled account's names are searched
  in a ``NameIndex`` holding the batch's banned names (the check index's matcher), turned into facts by
  ``check.evidence.name_facts`` with the same commonness counts (``name_key_counts``, or this process's
  check index when built), identifiers become ``IdentifierEvidence``, and ``check.evidence.decide``
  judges each (account, ban). A ``review`` or ``deny`` verdict opens one review (kind "backcheck")
  with that ban's reasons; ``allow`` opens none. Suppressed (ban, name) pairs are honoured.
- One review per (account, ban), ever (``uq_reviews_backcheck_pair``): a re-run, or the cron pass after
  the in-process one, opens nothing twice, and a false positive stays closed.
- Batched and resumable: ``run`` walks ``index_changes`` after the cursor in ``backcheck_progress`` and
  commits each batch's reviews with the cursor moved past it (the progress row is locked first, so two
  passes never race on a pair). ``since`` re-judges bans created from that time without moving the
  cursor back. ``after_commit`` judges the bans one request just made, after its commit, and never
  raises: a failure is logged and left to the next ``run``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from registry.accounts.models import IDENTIFIER_FIELDS, Account, NameKeyCount
from registry.accounts.service import name_key
from registry.audit.service import record_many
from registry.backcheck.models import BackcheckProgress
from registry.bans.models import Ban, BanAccount, BanIdentifier, BanName, ban_is_live
from registry.check import evidence
from registry.check.index.build import load_key_counts
from registry.check.service import weights
from registry.extensions import db
from registry.ids import new_id
from registry.index_changes import INDEX_EXTENSION_KEY, ChangeKind
from registry.index_changes.models import IndexChange
from registry.matching import MatchConfig, NameIndex, NameMatch
from registry.matching.commonness import KeyCounts, key_hash
from registry.matching.keys import decode_keys
from registry.reviews.models import NameSuppression, Review
from registry.settings import app_settings
from registry.timeutil import utcnow

log = logging.getLogger(__name__)

PASS = "bans"
NAME_FIELDS = ("username", "display_name")
_CHUNK = 500
_OUT = ("banned", "purged")
# Matches a name search keeps per field (as the check's NAME_MATCHES_WANTED, a batch holds many bans).
_WANTED = 20


@dataclass
class BatchResult:
    bans: int = 0
    candidates: int = 0
    reviews: list[str] = field(default_factory=list)


@dataclass
class RunReport:
    bans: int = 0
    candidates: int = 0
    reviews: int = 0
    last_event_id: int = 0


@dataclass
class _Bans:
    """What the batch's live bans cover, loaded once."""

    ids: set[str] = field(default_factory=set)
    rule: dict[str, str] = field(default_factory=dict)
    own: dict[str, set[str]] = field(default_factory=dict)  # ban -> accounts it already names
    by_hash: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (field, hash) -> bans
    keys: set[str] = field(default_factory=set)
    by_key: dict[str, set[str]] = field(default_factory=dict)  # name match key -> bans
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (ban, name, encoded)
    names: NameIndex | None = None
    suppressed: set[tuple[str, str]] = field(default_factory=set)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ban_parts() -> Any:
    """Return one statement reading what a batch of bans covers (built once: it runs per ban)."""
    ids: Any = sa.bindparam("ids", expanding=True)
    now: Any = sa.bindparam("now")
    text = sa.String()

    def part(tag: str, ban: Any, a: Any, b: Any, *where: Any) -> Any:
        return sa.select(
            sa.literal(tag, text).label("tag"),
            sa.cast(ban, text).label("ban_id"),
            sa.cast(a, text).label("a"),
            sa.cast(b, text).label("b"),
        ).where(*where)

    return sa.union_all(
        part("ban", Ban.id, Ban.account_id, Ban.rule, Ban.id.in_(ids), ban_is_live(now)),
        part("account", BanAccount.ban_id, BanAccount.account_id, None, BanAccount.ban_id.in_(ids)),
        part(
            "identifier",
            BanIdentifier.ban_id,
            BanIdentifier.kind,
            BanIdentifier.value_hash,
            BanIdentifier.ban_id.in_(ids),
            BanIdentifier.kind != "ip_range",
        ),
        part("name", BanName.ban_id, BanName.name, BanName.encoded, BanName.ban_id.in_(ids)),
        part(
            "suppressed",
            NameSuppression.ban_id,
            NameSuppression.name_key,
            None,
            NameSuppression.ban_id.in_(ids),
        ),
    )


_BAN_PARTS = _ban_parts()


def _load(ban_ids: Sequence[str], now: datetime, config: MatchConfig) -> _Bans:
    out = _Bans(names=NameIndex(config))
    rows: list[Any] = []
    for chunk in _chunks(list(dict.fromkeys(ban_ids))):
        rows += db.session.execute(_BAN_PARTS, {"ids": list(chunk), "now": now}).all()
    for row in rows:
        if row.tag == "ban":
            out.ids.add(row.ban_id)
            out.rule[row.ban_id] = row.b
            out.own.setdefault(row.ban_id, set()).update([row.a] if row.a else [])
    for row in rows:
        if row.ban_id not in out.ids:
            continue  # lifted or expired since: nothing to check
        if row.tag == "account":
            out.own[row.ban_id].add(row.a)
        elif row.tag == "identifier" and row.b:
            out.by_hash.setdefault((row.a, row.b), set()).add(row.ban_id)
        elif row.tag == "name":
            out.rows.append((row.ban_id, row.a, row.b))
            try:
                keys = decode_keys(row.b).distinct()
            except ValueError:
                keys = {name_key(row.a) or ""} - {""}
            for key in keys:
                out.by_key.setdefault(key[:256], set()).add(row.ban_id)
        elif row.tag == "suppressed":
            out.suppressed.add((row.ban_id, row.a))
    out.keys = _rare(out.by_key) if out.by_key else set()
    return out


def _index_for(bans: _Bans, candidates: dict[str, Any]) -> None:
    """Fill the name index with the names of the bans that recalled an account (few of a batch's)."""
    wanted: set[str] = set()
    for account in candidates.values():
        for f in IDENTIFIER_FIELDS:
            digest = getattr(account, f"{f}_hash")
            if digest:
                wanted |= bans.by_hash.get((f, digest), set())
        for key in (name_key(account.username), name_key(account.display_name)):
            if key and key in bans.keys:
                wanted |= bans.by_key.get(key, set())
    for ban_id, name, encoded in bans.rows:
        if ban_id in wanted:
            bans.names.add(ban_id, name, encoded)  # type: ignore[union-attr]


def _rare(keys: Iterable[str]) -> set[str]:
    """Drop the keys held by REGISTRY_COMMON_NAME_ACCOUNTS accounts or more from the name recall.

    On names alone such a key can only be judged ``common_name`` (allow): the account recalled through it
    holds it, so its own name counts at least as many holders. Recalling thousands of 王伟 would cost
    time and open nothing; an account sharing an identifier with the ban is still judged on its names.
    """
    wanted = {key_hash(k): k for k in keys}
    common = int(app_settings().common_name_accounts)
    out = set(wanted.values())
    hashes = sorted(wanted)
    for chunk in _chunks(hashes, 4 * _CHUNK):
        for h in db.session.scalars(_COMMON_KEYS, {"hashes": list(chunk), "common": common}):
            out.discard(wanted[h])
    return out


_COMMON_KEYS = sa.select(NameKeyCount.key_hash).where(
    NameKeyCount.key_hash.in_(sa.bindparam("hashes", expanding=True)),
    NameKeyCount.accounts >= sa.bindparam("common"),
)


_COLUMNS = (
    Account.id,
    Account.username,
    Account.display_name,
    Account.status,
    *(getattr(Account, f"{f}_hash") for f in IDENTIFIER_FIELDS),
)


_PROBED = (*(f"{f}_hash" for f in IDENTIFIER_FIELDS), "username_key", "display_key")


def _candidate_statement(columns: tuple[str, ...]) -> Any:
    """Return one statement recalling accounts by any of these columns (an OR of indexed IN lists)."""
    return sa.select(*_COLUMNS).where(
        sa.or_(*(getattr(Account, c).in_(sa.bindparam(c, expanding=True)) for c in columns)),
        Account.status.not_in(_OUT),
    )


# One statement per set of probed columns (a ban probes a few), built once.
_STATEMENTS: dict[tuple[str, ...], Any] = {}


def _candidates(bans: _Bans) -> dict[str, Any]:
    """Return the accounts in good standing recalled by the bans' identifier hashes or name keys."""
    values: dict[str, list[str]] = {}
    for kind, digest in bans.by_hash:
        values.setdefault(f"{kind}_hash", []).append(digest)
    if bans.keys:
        values["username_key"] = values["display_key"] = sorted(bans.keys)
    found: dict[str, Any] = {}
    # Chunks of at most _CHUNK values per column keep every statement under the parameter limits.
    queue = {c: sorted(v) for c, v in values.items()}
    while queue:
        params = {c: v[:_CHUNK] for c, v in queue.items()}
        columns = tuple(c for c in _PROBED if c in params)
        stmt = _STATEMENTS.get(columns)
        if stmt is None:
            stmt = _STATEMENTS[columns] = _candidate_statement(columns)
        for row in db.session.execute(stmt, params):
            found[row.id] = row
        queue = {c: v[_CHUNK:] for c, v in queue.items() if len(v) > _CHUNK}
    return found


def _ready_engine() -> Any:
    """Return this process's check index when it is built (a serving worker's), else None."""
    engine = current_app.extensions.get(INDEX_EXTENSION_KEY)
    return engine if engine is not None and engine.ready else None


class _Counts:
    """How many accounts in good standing (and banned names) hold a key: the check's own counts."""

    def __init__(
        self, names: NameIndex, cache: dict[str, int] | None = None, table: KeyCounts | None = None
    ) -> None:
        # A serving worker's check index is built (and kept in step): its counts cost no round trip.
        self._engine = _ready_engine()
        # Else every count read up front for a long run (see _preloaded_counts), or one query a key.
        self._table = table
        self._names = names
        # A run shares one cache over its batches (the same common keys come back); bounded.
        self._accounts: dict[str, int] = cache if cache is not None else {}
        if len(self._accounts) > 1_000_000:
            self._accounts.clear()

    def accounts(self, key: str) -> int:
        if self._engine is not None:
            return int(self._engine.key_accounts(key))
        if self._table is not None:
            return self._table.get(key)
        if key not in self._accounts:
            n = db.session.scalar(
                sa.select(NameKeyCount.accounts).where(NameKeyCount.key_hash == key_hash(key))
            )
            self._accounts[key] = int(n or 0)
        return self._accounts[key]

    def bans(self, key: str) -> int:
        if self._engine is not None:
            return int(self._engine.key_bans(key))
        return int(self._names.key_bans(key))


def _facts(
    account: Any, bans: _Bans, counts: _Counts, min_score: float, prior: int
) -> list[evidence.Evidence]:
    facts: list[evidence.Evidence] = []
    for f in IDENTIFIER_FIELDS:
        digest = getattr(account, f"{f}_hash")
        for ban_id in bans.by_hash.get((f, digest), ()) if digest else ():
            facts.append(evidence.IdentifierEvidence(ban_id, f))
    assert bans.names is not None
    for f in NAME_FIELDS:
        name = getattr(account, f)
        if not name:
            continue
        key = name_key(name) or ""

        def keep(m: NameMatch, key: str = key) -> bool:
            return (m.ban_id, key) not in bans.suppressed

        matches = [m for m in bans.names.search(name, limit=_WANTED, min_score=min_score) if keep(m)]
        facts += evidence.name_facts(f, name, matches, counts.accounts, counts.bans, prior)
    return [e for e in facts if account.id not in bans.own.get(e.ban_id, ())]


def judge_bans(
    ban_ids: Sequence[str],
    *,
    actor: str,
    cache: dict[str, int] | None = None,
    table: KeyCounts | None = None,
) -> BatchResult:
    """Back-check these bans; open a review per (account, ban) the model flags; the caller commits.

    ``cache`` keeps the counts read one query a key over a run's batches; ``table`` holds them all.
    """
    settings = app_settings()
    now = utcnow()
    config = MatchConfig(review_threshold=float(settings.name_review_score))
    bans = _load(ban_ids, now, config)
    result = BatchResult(bans=len(bans.ids))
    if not bans.ids:
        return result
    candidates = _candidates(bans)
    result.candidates = len(candidates)
    if not candidates:
        return result
    _index_for(bans, candidates)
    w = weights(settings)
    counts = _Counts(bans.names, cache, table) if bans.names is not None else None
    assert counts is not None
    min_score = float(settings.name_review_score)
    prior = int(settings.name_prior_population)
    flagged: list[tuple[Any, str, list[dict[str, Any]]]] = []
    for account in candidates.values():
        by_ban: dict[str, list[evidence.Evidence]] = {}
        for e in _facts(account, bans, counts, min_score, prior):
            by_ban.setdefault(e.ban_id, []).append(e)
        for ban_id, facts in sorted(by_ban.items()):
            outcome = evidence.decide(facts, w)
            if outcome.decision != "allow" and outcome.reasons:
                reasons = [{**r, "rule": bans.rule[ban_id]} for r in outcome.reasons]
                flagged.append((account, ban_id, reasons))
    if flagged:
        result.reviews = _open_reviews(flagged, actor=actor, now=now)
    return result


def _lock_progress() -> BackcheckProgress:
    """Lock (creating it) the progress row: back-check writers take their turn (before the audit head)."""
    row = db.session.scalar(
        sa.select(BackcheckProgress).where(BackcheckProgress.name == PASS).with_for_update()
    )
    if row is None:
        db.session.add(
            BackcheckProgress(
                name=PASS, last_event_id=0, bans_checked=0, reviews_opened=0, updated_at=utcnow()
            )
        )
        db.session.flush()
        row = db.session.scalar(
            sa.select(BackcheckProgress).where(BackcheckProgress.name == PASS).with_for_update()
        )
    assert row is not None
    return row


def _open_reviews(
    flagged: list[tuple[Any, str, list[dict[str, Any]]]], *, actor: str, now: datetime
) -> list[str]:
    progress = _lock_progress()
    pairs = sorted({(a.id, b) for a, b, _ in flagged})
    existing: set[tuple[str, str]] = set()
    for chunk in _chunks(pairs):
        stmt = sa.select(Review.account_id, Review.matched_ban_id).where(
            sa.tuple_(Review.account_id, Review.matched_ban_id).in_(list(chunk))
        )
        existing |= {(r.account_id, r.matched_ban_id) for r in db.session.execute(stmt)}
    rows: list[dict[str, Any]] = []
    entries: list[tuple[str, str, dict[str, Any]]] = []
    for account, ban_id, reasons in flagged:
        if (account.id, ban_id) in existing:
            continue
        existing.add((account.id, ban_id))
        review_id = new_id("rev_")
        rows.append(
            {
                "id": review_id,
                "check_id": None,
                "kind": "backcheck",
                "matched_ban_id": ban_id,
                "account_id": account.id,
                "status": "open",
                "reasons": reasons,
                "username": account.username,
                "display_name": account.display_name,
                "created_at": now,
            }
        )
        entries.append(
            (
                "review.open",
                f"review:{review_id}",
                {
                    "kind": "backcheck",
                    "account_id": account.id,
                    "ban_id": ban_id,
                    "codes": sorted({str(r.get("code")) for r in reasons}),
                },
            )
        )
    if rows:
        db.session.execute(sa.insert(Review), rows)
        progress.reviews_opened += len(rows)
        record_many(entries, actor=actor)
    return [r["id"] for r in rows]


def after_commit(ban_ids: Sequence[str], *, actor: str) -> list[str]:
    """Back-check bans one request has just committed (bounded: that request's bans); never raise."""
    ids = [b for b in ban_ids if b]
    if not ids:
        return []
    try:
        result = judge_bans(ids, actor=actor)
        db.session.commit()
        return result.reviews
    except Exception:  # the ban is committed; the cron pass (registry bans backcheck) redoes it
        db.session.rollback()
        log.exception("back-check of %d new ban(s) failed; `registry bans backcheck` will redo it", len(ids))
        return []


_CREATED = IndexChange.kind == ChangeKind.BAN_CREATED.value


def pending(since: datetime | None = None) -> tuple[int, int]:
    """Return (cursor start, create events after it): what a run would judge."""
    start = _start(since)
    n = db.session.scalar(
        sa.select(sa.func.count()).select_from(IndexChange).where(_CREATED, IndexChange.id > start)
    )
    return start, int(n or 0)


def _start(since: datetime | None) -> int:
    if since is not None:
        first = db.session.scalar(
            sa.select(sa.func.min(IndexChange.id)).where(_CREATED, IndexChange.at >= since)
        )
        return (
            int(first) - 1
            if first is not None
            else int(db.session.scalar(sa.select(sa.func.max(IndexChange.id))) or 0)
        )
    row = db.session.get(BackcheckProgress, PASS)
    return int(row.last_event_id) if row is not None else 0


# A back-checked ban asks for the counts of some 20-50 name keys (its candidates' names and their
# characters, syllables and tokens), one query each the first time. When the run's bans would ask
# about as many keys as the table holds, reading the whole table once is cheaper (a bulk import of
# 20k bans beside 40k accounts: 27 s of back-check, 40% of it in those queries).
PRELOAD_KEYS_PER_BAN = 20
# Pending bans counted at most (a run this long reads the counts up front whatever the table's size).
_PENDING_CAP = 1_000_000


def _preloaded_counts(after: int) -> KeyCounts | None:
    """Return every name key count, read once, when the bans pending after ``after`` make it cheaper.

    Both counts are bounded by the run's own size: a cron run with nothing pending costs one short
    index scan, not a count of the whole table.
    """
    if _ready_engine() is not None:
        return None
    pending = int(
        db.session.scalar(
            sa.select(sa.func.count()).select_from(
                sa.select(IndexChange.id)
                .where(_CREATED, IndexChange.id > after)
                .limit(_PENDING_CAP)
                .subquery()
            )
        )
        or 0
    )
    if not pending:
        return None
    asked = pending * PRELOAD_KEYS_PER_BAN
    held = int(
        db.session.scalar(
            sa.select(sa.func.count()).select_from(sa.select(NameKeyCount.key_hash).limit(asked).subquery())
        )
        or 0
    )
    if held >= asked:
        return None
    return load_key_counts(db.session)


def run(
    *,
    actor: str,
    since: datetime | None = None,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Back-check every ban created after the cursor (or from ``since``), a committed batch at a time."""
    size = int(batch_size or app_settings().backcheck_batch_size)
    report = RunReport()
    cache: dict[str, int] = {}
    after = _start(since)
    table = _preloaded_counts(after)
    db.session.rollback()
    while True:
        events = list(
            db.session.execute(
                sa.select(IndexChange.id, IndexChange.subject.label("ban_id"))
                .where(_CREATED, IndexChange.id > after)
                .order_by(IndexChange.id)
                .limit(size)
            )
        )
        if not events:
            break
        result = judge_bans([e.ban_id for e in events], actor=actor, cache=cache, table=table)
        after = int(events[-1].id)
        row = _lock_progress()
        if after > row.last_event_id:
            row.last_event_id = after
        row.bans_checked += len(events)
        row.updated_at = utcnow()
        db.session.commit()
        report.bans += len(events)
        report.candidates += result.candidates
        report.reviews += len(result.reviews)
        report.last_event_id = after
        if progress is not None:
            progress(len(events))
    return report
