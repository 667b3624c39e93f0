"""Building the check index from the database, in one pass over the live bans.

On PostgreSQL the identifiers and names stream with ``COPY (SELECT ...) TO STDOUT`` straight into the
indexes, with no SQLAlchemy Row per row; elsewhere through the DBAPI cursor in batches. IP ranges, the
name policy (verified names protected) and suppressions are always read from the database, also when
the rest comes from a snapshot (``persist.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from registry import pgcopy
from registry.accounts.models import ENTITY_ACCOUNT_TYPES, REUSE_FIELDS, Account, NameKeyCount
from registry.avatars import AvatarIndex
from registry.bans.models import Ban, BanAvatar, BanIdentifier, BanName, ban_is_live
from registry.check.index.state import (
    BLOOM_FALSE_POSITIVE_RATE,
    BLOOM_HEADROOM,
    BLOOM_MIN_CAPACITY,
    STREAM_ROWS,
    IndexState,
)
from registry.identifiers import IpRangeSet
from registry.identifiers.bloom import DIGEST_PREFIX, IdentifierFilter
from registry.index_changes import IndexChange
from registry.matching import MatchConfig, NameIndex
from registry.matching.commonness import KeyCounts
from registry.name_rules import NamePolicy
from registry.name_rules.policy import PLATFORM_VERIFIED
from registry.pii import range_cipher
from registry.reviews.models import NameSuppression
from registry.timeutil import utcnow

log = logging.getLogger(__name__)

PROTECTED_TYPES = tuple(sorted(ENTITY_ACCOUNT_TYPES))


def build_state(session: Any, match_config: MatchConfig, name_rules_file: str | None) -> IndexState:
    """Read every live ban (and the counts, ranges, policy, suppressions) into a fresh state."""
    now = utcnow()
    # Read the log's end first: whatever lands after it is applied by the next sync (idempotently).
    low_water = int(session.scalar(sa.select(sa.func.max(IndexChange.id))) or 0)
    live = ban_is_live(now)
    ban_count = int(session.scalar(sa.select(sa.func.count()).select_from(Ban).where(live)) or 0)
    expiring: dict[str, datetime] = {
        ban_id: expires_at
        for ban_id, expires_at in session.execute(
            sa.select(Ban.id, Ban.expires_at).where(live, Ban.expires_at.is_not(None))
        )
        if expires_at is not None
    }
    n_idents = int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(BanIdentifier)
            .join(Ban, Ban.id == BanIdentifier.ban_id)
            .where(live)
        )
        or 0
    )
    bloom = IdentifierFilter(
        max(BLOOM_MIN_CAPACITY, int(n_idents * BLOOM_HEADROOM)), BLOOM_FALSE_POSITIVE_RATE
    )
    names = NameIndex(match_config)
    if session.get_bind().dialect.name == "postgresql":
        count = _copy_build(session, now, bloom, names)
    else:
        count = _stream_build(session, live, bloom, names)
    names.compact()
    counts = load_key_counts(session)
    held = load_account_identifiers(session)
    ranges, policy, protected, suppressed = database_side(session, live, name_rules_file)
    return IndexState(
        bloom,
        ranges,
        names,
        expiring,
        ban_count,
        policy,
        protected,
        suppressed,
        low_water,
        name_count=count,
        avatars=_build_avatars(session, live),
        counts=counts,
        held=held,
    )


_HELD_COLUMNS = tuple(getattr(Account, f"{f}_hash") for f in REUSE_FIELDS)
_COPY_HELD = (
    f"COPY (SELECT substr(v.h, 1, {DIGEST_PREFIX}) FROM accounts a CROSS JOIN LATERAL (VALUES "
    + ", ".join(f"(a.{f}_hash)" for f in REUSE_FIELDS)
    + ") AS v(h) WHERE a.status <> 'purged' AND v.h IS NOT NULL) TO STDOUT"
)


def load_account_identifiers(session: Any) -> IdentifierFilter:
    """Read the REUSE_FIELDS digests of every account not purged into a fresh filter.

    COPY on PostgreSQL (2M accounts hold up to 6M digests: no Row each); elsewhere a streamed query.
    """
    live = Account.status != "purged"
    n = int(
        session.scalar(sa.select(sum((sa.func.count(c) for c in _HELD_COLUMNS), sa.literal(0))).where(live))
        or 0
    )
    held = IdentifierFilter(max(BLOOM_MIN_CAPACITY, int(n * BLOOM_HEADROOM)), BLOOM_FALSE_POSITIVE_RATE)
    if session.get_bind().dialect.name == "postgresql":
        raw = session.connection().connection.dbapi_connection
        with raw.cursor() as cur:
            sink = _DigestSink(held)
            cur.copy_expert(_COPY_HELD, sink)
            sink.flush()
        return held
    result = session.execute(
        sa.select(*_HELD_COLUMNS).where(live), execution_options={"yield_per": STREAM_ROWS}
    )
    for batch in result.partitions():
        held.add_many([d for row in batch for d in row if d])
    return held


def add_held(held: IdentifierFilter | None, session: Any, event_ids: list[int]) -> None:
    """Add the REUSE_FIELDS digests of the accounts these name counts changes gave identifiers."""
    if held is None or not event_ids:
        return
    for i in range(0, len(event_ids), 500):
        rows = session.execute(
            sa.select(*_HELD_COLUMNS).where(
                Account.index_event_id.in_(event_ids[i : i + 500]), Account.status != "purged"
            )
        )
        held.add_many([d for row in rows for d in row if d])


def new_policy(name_rules_file: str | None) -> NamePolicy:
    """Return the name policy from the rules file, or the defaults."""
    if name_rules_file:
        return NamePolicy.from_file(name_rules_file)
    return NamePolicy.from_defaults()


def database_side(
    session: Any, live: Any, name_rules_file: str | None
) -> tuple[IpRangeSet[str], NamePolicy, dict[str, str], dict[str, set[str]]]:
    """Load what is always read from the database: IP ranges, the name policy, suppressions.

    Ranges are stored sealed and opened only in memory, so a snapshot never holds them; the rest
    is small. Changes past a snapshot change these again idempotently.
    """
    ranges: IpRangeSet[str] = IpRangeSet()
    # IP ranges are few and need parsing anyway: an ordinary query.
    for ban_id, value in session.execute(
        sa.select(BanIdentifier.ban_id, BanIdentifier.value)
        .join(Ban, Ban.id == BanIdentifier.ban_id)
        .where(live, BanIdentifier.kind == "ip_range")
    ):
        add_range(ranges, ban_id, value)
    suppressed: dict[str, set[str]] = {}
    for ban_id, key in session.execute(sa.select(NameSuppression.ban_id, NameSuppression.name_key)):
        suppressed.setdefault(ban_id, set()).add(key)
    policy = new_policy(name_rules_file)
    protected = protected_names(session, None)
    protect_many(policy, protected.values())
    return ranges, policy, protected, suppressed


def add_range(ranges: IpRangeSet[str], ban_id: str, value: str | None) -> None:
    """Open a sealed IP range and add it for the ban (an unreadable one is logged and skipped)."""
    if value:
        try:
            # Ranges are stored sealed (AES-GCM, registry/identifiers/iprange.py): opened here only.
            ranges.add(range_cipher().open(value), ban_id)
        except ValueError:
            log.warning("ban %s holds an unreadable ip_range; skipped", ban_id)


_LIVE_SQL = "b.status = 'active' AND (b.expires_at IS NULL OR b.expires_at > %(now)s)"
_COPY_DIGESTS = (
    f"COPY (SELECT substr(i.value_hash, 1, {DIGEST_PREFIX}) FROM ban_identifiers i "
    "JOIN bans b ON b.id = i.ban_id "
    f"WHERE {_LIVE_SQL} AND i.kind <> 'ip_range' AND i.value_hash IS NOT NULL) TO STDOUT"
)
# In ban id order: the index keeps each name's bans sorted by id, so in-order adds are cheap.
_COPY_NAMES = (
    "COPY (SELECT n.ban_id, n.name, n.encoded FROM ban_names n JOIN bans b ON b.id = n.ban_id "
    f"WHERE {_LIVE_SQL} ORDER BY n.ban_id) TO STDOUT"
)


class _DigestSink:
    """File-like target of COPY ... TO STDOUT: psycopg2 writes one row per call; add them in batches."""

    def __init__(self, bloom: IdentifierFilter) -> None:
        self.bloom = bloom
        self.rows: list[bytes] = []

    def write(self, row: bytes) -> None:
        self.rows.append(row)
        if len(self.rows) >= STREAM_ROWS:
            self.flush()

    def flush(self) -> None:
        # Rows are "<32 hex>\n": decode them as one block, split, and add in one C-level update.
        if self.rows:
            self.bloom.add_many(b"".join(self.rows).decode("ascii").split())
            self.rows.clear()


class _NameSink:
    """File-like target of COPY ... TO STDOUT for (ban_id, name, encoded) rows, fed to the NameIndex."""

    def __init__(self, names: NameIndex) -> None:
        self.add = names.add
        self.count = 0

    def write(self, row: bytes) -> None:
        ban_id, name, encoded = row.decode("utf-8").rstrip("\n").split("\t")
        self.add(ban_id, pgcopy.unescape(name), pgcopy.unescape(encoded))
        self.count += 1


def _copy_build(session: Any, now: datetime, bloom: IdentifierFilter, names: NameIndex) -> int:
    """Stream identifiers and names with COPY on PostgreSQL; return the names loaded."""
    raw = session.connection().connection.dbapi_connection
    with raw.cursor() as cur:
        digests = _DigestSink(bloom)
        cur.copy_expert(cur.mogrify(_COPY_DIGESTS, {"now": now}).decode(), digests)
        digests.flush()
        sink = _NameSink(names)
        cur.copy_expert(cur.mogrify(_COPY_NAMES, {"now": now}).decode(), sink)
    return sink.count


def load_key_counts(session: Any) -> KeyCounts:
    """Read every name key count above zero from the database into a compacted KeyCounts."""
    counts = KeyCounts()
    result = session.execute(
        sa.select(NameKeyCount.key_hash, NameKeyCount.accounts).where(NameKeyCount.accounts > 0),
        execution_options={"yield_per": STREAM_ROWS},
    )
    for batch in result.partitions():
        counts.set_many(batch)
    counts.compact()
    return counts


def _stream_build(session: Any, live: Any, bloom: IdentifierFilter, names: NameIndex) -> int:
    """Stream identifiers and names through the DBAPI cursor in batches (SQLite and the rest)."""
    digests = (
        sa.select(BanIdentifier.value_hash)
        .join(Ban, Ban.id == BanIdentifier.ban_id)
        .where(live, BanIdentifier.kind != "ip_range", BanIdentifier.value_hash.is_not(None))
    )
    result = session.execute(digests, execution_options={"yield_per": STREAM_ROWS})
    for batch in result.scalars().partitions():
        bloom.add_many(batch)
    count = 0
    stmt = (
        sa.select(BanName.ban_id, BanName.name, BanName.encoded)
        .join(Ban, Ban.id == BanName.ban_id)
        .where(live)
        .order_by(BanName.ban_id)
    )
    add = names.add
    for batch in session.execute(stmt, execution_options={"yield_per": STREAM_ROWS}).partitions():
        for ban_id, name, encoded in batch:
            add(ban_id, name, encoded)
        count += len(batch)
    return count


def _build_avatars(session: Any, live: Any) -> AvatarIndex:
    """Load every live ban's avatar hashes (64 hex digits each: one ordinary streamed query)."""
    index = AvatarIndex()
    stmt = sa.select(BanAvatar.ban_id, BanAvatar.hash).join(Ban, Ban.id == BanAvatar.ban_id).where(live)
    for batch in session.execute(stmt, execution_options={"yield_per": STREAM_ROWS}).partitions():
        index.add_many([(ban_id, digest) for ban_id, digest in batch], defer_index=True)
    index.compact()
    return index


def load_avatars(index: AvatarIndex, session: Any, ban_ids: list[str]) -> None:
    """Load these bans' avatar hashes, replacing any already loaded (a create change seen twice)."""
    index.remove_bans(ban_ids)
    rows = session.execute(sa.select(BanAvatar.ban_id, BanAvatar.hash).where(BanAvatar.ban_id.in_(ban_ids)))
    index.add_many([(ban_id, digest) for ban_id, digest in rows])


def protected_names(session: Any, account_ids: set[str] | None) -> dict[str, str]:
    """Return account id -> display name of the verified organisations and public accounts (or these)."""
    stmt = sa.select(Account.id, Account.display_name).where(
        Account.verification_status == "verified",
        Account.account_type.in_(PROTECTED_TYPES),
        Account.display_name.is_not(None),
        Account.status.not_in(("banned", "purged")),
    )
    if account_ids is not None:
        stmt = stmt.where(Account.id.in_(account_ids))
    return {account_id: name for account_id, name in session.execute(stmt) if name}


def protect_many(policy: NamePolicy, names: Iterable[str]) -> None:
    """Protect these names in the policy (those too short to match safely are logged and skipped)."""
    refused = policy.add_protected_many(names, rule=PLATFORM_VERIFIED)
    if refused:
        # Too short to match safely once folded: protecting them would flag ordinary names.
        log.info("%d verified account names too short to protect; skipped", len(refused))
