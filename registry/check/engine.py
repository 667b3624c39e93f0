"""The per-process check engine: in-memory indexes of active bans, kept in step with the ban log.

One engine per app (so per gunicorn worker), in ``app.extensions["registry.check_engine"]``. It is built
from the database on first use (or by ``warm(app)`` right after a worker forks) and then follows the
``ban_events`` log: at most once every ``ban_sync_seconds`` a check reads the events after the last one
applied and updates the indexes incrementally. Nothing here decides alone: a Bloom hit, a name match or
an IP range hit is confirmed against active bans in the database before it counts, so a lifted ban
stops counting at once even before the log reaches this process.

Memory: the engine keeps no per-ban table. The NameIndex and IpRangeSet know which bans they were
loaded with and the Bloom filter only holds digest bits; what remains per ban is the expiry of the few
bans that have one. On PostgreSQL the build streams rows with ``COPY (SELECT ...) TO STDOUT`` straight
into the indexes, with no SQLAlchemy Row per row.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from registry.accounts.models import ENTITY_ACCOUNT_TYPES, Account, NameKeyCount
from registry.avatars import AvatarIndex, AvatarMatch
from registry.bans.models import Ban, BanAvatar, BanEvent, BanIdentifier, BanName, ban_is_live
from registry.check import snapshot as snap
from registry.extensions import db
from registry.identifiers import IpRangeSet
from registry.identifiers.bloom import DIGEST_PREFIX, IdentifierFilter
from registry.matching import MatchConfig, NameIndex, NameMatch
from registry.matching.commonness import KeyCounts
from registry.names import NamePolicy
from registry.names.policy import PLATFORM_VERIFIED
from registry.pii import range_cipher
from registry.reviews.models import NameSuppression
from registry.settings import app_settings
from registry.timeutil import utcnow

log = logging.getLogger(__name__)

EXTENSION_KEY = "registry.check_engine"
PROTECTED_TYPES = tuple(sorted(ENTITY_ACCOUNT_TYPES))
# Identifier digests the Bloom filter is sized for beyond those loaded, so incremental adds fit.
BLOOM_HEADROOM = 2.0
BLOOM_MIN_CAPACITY = 100_000
# A hole in the event ids is either a transaction still in flight (PostgreSQL hands out ids at insert,
# so a later id can commit first) or one that rolled back. Wait this long for it before moving past.
GAP_GRACE_SECONDS = 30.0
# More events than this in one sync, or more dead names than this share: rebuilding is cheaper.
MAX_EVENTS_PER_SYNC = 5_000
MAX_DEAD_SHARE = 0.25
STREAM_ROWS = 20_000
BLOOM_FALSE_POSITIVE_RATE = 0.001
NAME_MATCHES_WANTED = 10
MAX_NAME_CANDIDATES = 640
# A snapshot more events behind the log than this is stale: a fresh build is quicker than catching up
# a chunk per sync.
SNAPSHOT_MAX_BACKLOG = 100_000


@dataclass
class _State:
    bloom: IdentifierFilter
    ranges: IpRangeSet[str]
    names: NameIndex
    # ban id -> expires_at, only for loaded bans that have one (a few percent of them).
    expiring: dict[str, datetime]
    # Active bans loaded at build, plus those loaded since, less those lifted since (approximate: a
    # lift of a ban this process never loaded also counts down). For operators, not for decisions.
    ban_count: int
    policy: NamePolicy
    # account id -> protected name it contributed.
    protected: dict[str, str]
    suppressed: dict[str, set[str]]
    low_water: int
    applied: set[int] = field(default_factory=set)
    gap_seen: dict[int, float] = field(default_factory=dict)
    removed: int = 0
    name_count: int = 0
    # Banned avatars' perceptual hashes (registry/avatars), loaded and synced beside the names.
    avatars: AvatarIndex = field(default_factory=AvatarIndex)
    # Accounts in good standing per name match key (digest), kept by "counts" events.
    counts: KeyCounts = field(default_factory=KeyCounts)


@dataclass(frozen=True)
class EngineStats:
    """What the engine holds, for operators and benchmarks."""

    built: bool
    bans: int
    names: int
    identifiers: int
    ranges: int
    last_event: int
    build_seconds: float


class CheckEngine:
    """In-memory ban indexes for one process; thread-safe, built once, synced from the ban log."""

    def __init__(self, app: Flask) -> None:
        settings = app_settings(app)
        self.sync_seconds = float(settings.ban_sync_seconds)
        self.name_rules_file = settings.name_rules_file
        self.match_config = MatchConfig(review_threshold=float(settings.name_review_score))
        self._build_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        # Workers run requests in threads: a sync changes the name index, the range set and the
        # suppressions in place, and a lookup iterating them meanwhile would see a dict change size.
        # Lookups and in-place changes take this lock; whole-state swaps (build) need not.
        self._index_lock = threading.Lock()
        self._state: _State | None = None
        self._next_sync = 0.0
        self.build_seconds = 0.0
        path = settings.index_snapshot
        self.snapshot_path: str | None = None if path in ("", "off") else path
        self._snapshot_key = snap.snapshot_key(settings.pii_key_bytes)
        self._pii_key_version = int(settings.pii_key_version)
        # How the current state came to be: "database", "snapshot" or "" (not yet).
        self.source = ""

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Tell whether the indexes are built."""
        return self._state is not None

    def ensure_ready(self) -> None:
        """Build the indexes from the database unless built already (once, whichever thread asks first)."""
        if self._state is not None:
            return
        with self._build_lock:
            if self._state is None:
                loaded = self._load_snapshot()
                if loaded is not None:
                    self._state = loaded
                    # Catch up with whatever the log holds past the snapshot on the first check.
                    self._next_sync = 0.0
                    return
                self._state = self._build()
                self._next_sync = time.monotonic() + self.sync_seconds

    def rebuild(self) -> None:
        """Build the indexes afresh and swap them in (readers keep the old ones meanwhile)."""
        with self._build_lock:
            self._state = self._build()
            self._next_sync = time.monotonic() + self.sync_seconds

    def mark_stale(self) -> None:
        """Make the next check read the ban log whatever the interval (this process changed a ban)."""
        self._next_sync = 0.0

    def maybe_sync(self) -> None:
        """Apply new ban-log events if ``ban_sync_seconds`` have passed since the last read."""
        if time.monotonic() >= self._next_sync:
            self.sync()

    def sync(self) -> int:
        """Apply the ban-log events not yet seen; return how many were applied."""
        self.ensure_ready()
        # One syncing thread is enough; the others answer from the current indexes meanwhile.
        if not self._sync_lock.acquire(blocking=False):
            return 0
        try:
            self._next_sync = time.monotonic() + self.sync_seconds
            return self._sync_locked()
        finally:
            self._sync_lock.release()

    # --- lookups used by the check service --------------------------------------------------

    @property
    def avatars(self) -> AvatarIndex:
        """Return the banned-avatar index (loaded, unlifted bans; confirm before use, like names)."""
        return self._require().avatars

    @property
    def policy(self) -> NamePolicy:
        """Return the name policy, verified organisations' names protected."""
        return self._require().policy

    def maybe_banned(self, digest: str) -> bool:
        """Tell whether an identifier digest may belong to an active ban (Bloom: confirm before use)."""
        return digest in self._require().bloom

    def range_bans(self, address: str) -> set[str]:
        """Return the ids of bans whose IP ranges contain the address."""
        state = self._require()
        if not state.ranges:
            return set()
        with self._index_lock:
            return state.ranges.lookup(address)

    def search_names(
        self,
        name: str,
        min_score: float,
        keep: Callable[[NameMatch], bool] | None = None,
        want: int = NAME_MATCHES_WANTED,
    ) -> list[NameMatch]:
        """Return up to ``want`` kept matches of at least min_score, best first.

        Many bans can share one name (the index lists them by ban id); when the first ones are expired
        or suppressed, ask the index for more rather than lose the match.
        """
        index = self._require().names
        limit = want
        while True:
            with self._index_lock:
                found = index.search(name, limit=limit, min_score=min_score)
            kept = [m for m in found if keep is None or keep(m)]
            if len(kept) >= want or len(found) < limit or limit >= MAX_NAME_CANDIDATES:
                return kept[:want]
            limit *= 4

    def is_active(self, ban_id: str, now: datetime | None = None) -> bool:
        """Tell whether a ban these indexes returned is not past its expiry.

        Only for ids handed out by ``search_names`` or ``range_bans``: the indexes hold loaded, unlifted
        bans only, so the expiry is all that is left to check here.
        """
        expires_at = self._require().expiring.get(ban_id)
        return expires_at is None or expires_at > (now or utcnow())

    def search_avatars(self, probes: list[str], max_distance: int) -> list[AvatarMatch]:
        """Return the loaded bans with an avatar hash within max_distance of a probe, nearest first."""
        avatars = self._require().avatars
        with self._index_lock:
            return avatars.search(probes, max_distance)

    def key_accounts(self, key: str) -> int:
        """Return how many accounts in good standing hold this name match key."""
        return self._require().counts.get(key)

    def key_bans(self, key: str) -> int:
        """Return how many live banned names hold this name match key."""
        names = self._require().names
        with self._index_lock:
            return names.key_bans(key)

    def is_suppressed(self, ban_id: str, name_key: str) -> bool:
        """Tell whether staff judged this (ban, canonical name) pair a false positive."""
        state = self._require()
        with self._index_lock:
            keys = state.suppressed.get(ban_id)
            return bool(keys) and name_key in keys  # type: ignore[operator]

    def stats(self) -> EngineStats:
        """Return sizes and the last event applied."""
        state = self._state
        if state is None:
            return EngineStats(False, 0, 0, 0, 0, 0, 0.0)
        return EngineStats(
            True,
            state.ban_count,
            len(state.names),
            len(state.bloom),
            len(state.ranges),
            state.low_water,
            self.build_seconds,
        )

    def _require(self) -> _State:
        if self._state is None:
            self.ensure_ready()
        assert self._state is not None
        return self._state

    # --- building ---------------------------------------------------------------------------

    def _new_policy(self) -> NamePolicy:
        if self.name_rules_file:
            return NamePolicy.from_file(self.name_rules_file)
        return NamePolicy.from_defaults()

    def _build(self) -> _State:
        started = time.perf_counter()
        session = db.session
        now = utcnow()
        # Read the log's end first: whatever lands after it is applied by the next sync (idempotently).
        low_water = int(session.scalar(sa.select(sa.func.max(BanEvent.id))) or 0)
        live = _live(now)
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
        names = NameIndex(self.match_config)
        if session.get_bind().dialect.name == "postgresql":
            count = _copy_build(session, now, bloom, names)
        else:
            count = _stream_build(session, live, bloom, names)
        names.compact()
        counts = KeyCounts()
        result = session.execute(
            sa.select(NameKeyCount.key_hash, NameKeyCount.accounts).where(NameKeyCount.accounts > 0),
            execution_options={"yield_per": STREAM_ROWS},
        )
        for batch in result.partitions():
            counts.set_many(batch)
        ranges, policy, protected, suppressed = self._database_side(session, live)
        state = _State(
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
        )
        self.build_seconds = time.perf_counter() - started
        self.source = "database"
        log.info(
            "check engine built in %.2f s: %d bans, %d identifiers, %d ranges, %d names, %d protected names",
            self.build_seconds,
            ban_count,
            len(bloom),
            len(ranges),
            count,
            len(protected),
        )
        return state

    def _database_side(
        self, session: Any, live: Any
    ) -> tuple[IpRangeSet[str], NamePolicy, dict[str, str], dict[str, set[str]]]:
        """Load what is always read from the database: IP ranges, the name policy, suppressions.

        Ranges are stored sealed and opened only in memory, so a snapshot never holds them; the rest
        is small. Events past a snapshot change these again idempotently.
        """
        ranges: IpRangeSet[str] = IpRangeSet()
        # IP ranges are few and need parsing anyway: an ordinary query.
        for ban_id, value in session.execute(
            sa.select(BanIdentifier.ban_id, BanIdentifier.value)
            .join(Ban, Ban.id == BanIdentifier.ban_id)
            .where(live, BanIdentifier.kind == "ip_range")
        ):
            _add_range(ranges, ban_id, value)
        suppressed: dict[str, set[str]] = {}
        for ban_id, key in session.execute(sa.select(NameSuppression.ban_id, NameSuppression.name_key)):
            suppressed.setdefault(ban_id, set()).add(key)
        policy = self._new_policy()
        protected = _protected_names(session, None)
        _protect_many(policy, protected.values())
        return ranges, policy, protected, suppressed

    # --- snapshots --------------------------------------------------------------------------

    def write_snapshot(self, path: str | None = None) -> tuple[str, int] | None:
        """Save the indexes to the snapshot file; return (path, bytes), or None with nothing to save.

        Nothing is saved for an empty ban log (a build is instant then) or when snapshots are off.
        """
        target = path or self.snapshot_path
        if not target:
            return None
        self._require()
        # No sync may change the indexes while they are pickled: the header's event id must describe
        # exactly what the payload holds.
        with self._sync_lock, self._index_lock:
            state = self._require()
            if state.low_water <= 0:
                return None
            row = db.session.execute(
                sa.select(BanEvent.ban_id, BanEvent.at).where(BanEvent.id == state.low_water)
            ).first()
            if row is None:
                return None
            header = snap.SnapshotHeader(
                format=snap.FORMAT_VERSION,
                low_water=state.low_water,
                event_ban=row.ban_id,
                event_at=_at_text(row.at),
                config=repr(self.match_config),
                pii_key_version=self._pii_key_version,
                bans=state.ban_count,
                names=len(state.names),
                written_at=utcnow().isoformat(),
            )
            payload = {
                "bloom": state.bloom.to_bytes(),
                "bloom_capacity": state.bloom.capacity,
                "bloom_fp": state.bloom.false_positive_rate,
                "bloom_count": len(state.bloom),
                "names": state.names,
                "expiring": state.expiring,
                "ban_count": state.ban_count,
                "applied": sorted(state.applied),
                "removed": state.removed,
                "name_count": state.name_count,
                "avatars": state.avatars,
                "counts": state.counts,
            }
            size = snap.write(target, header, payload, self._snapshot_key)
        log.info("check index snapshot written to %s: %d bytes, to event %d", target, size, header.low_water)
        return target, size

    def _load_snapshot(self) -> _State | None:
        """Load the snapshot if it is ours and current enough; else log why and return None."""
        path = self.snapshot_path
        if not path or not os.path.exists(path):
            return None
        started = time.perf_counter()
        try:
            header, payload = snap.read(path, self._snapshot_key)
            self._check_snapshot(header)
            state = self._state_from(header, payload)
        except Exception as exc:  # noqa: BLE001 - any unusable snapshot means a fresh build, never a crash
            db.session.rollback()
            log.warning("check index snapshot %s ignored (%s); building from the database", path, exc)
            return None
        self.build_seconds = time.perf_counter() - started
        self.source = "snapshot"
        log.info(
            "check engine loaded from snapshot %s in %.2f s: %d bans, %d names, to event %d",
            path,
            self.build_seconds,
            state.ban_count,
            len(state.names),
            state.low_water,
        )
        return state

    def _check_snapshot(self, header: snap.SnapshotHeader) -> None:
        if header.config != repr(self.match_config):
            raise snap.SnapshotRefused("built with other match settings")
        if header.pii_key_version != self._pii_key_version:
            raise snap.SnapshotRefused(f"built under PII key version {header.pii_key_version}")
        session = db.session
        row = session.execute(
            sa.select(BanEvent.ban_id, BanEvent.at).where(BanEvent.id == header.low_water)
        ).first()
        if row is None or row.ban_id != header.event_ban or _at_text(row.at) != header.event_at:
            raise snap.SnapshotRefused(f"event {header.low_water} is not in this database's ban log")
        behind = int(
            session.scalar(
                sa.select(sa.func.count()).select_from(
                    sa.select(BanEvent.id)
                    .where(BanEvent.id > header.low_water)
                    .limit(SNAPSHOT_MAX_BACKLOG + 1)
                    .subquery()
                )
            )
            or 0
        )
        if behind > SNAPSHOT_MAX_BACKLOG:
            raise snap.SnapshotRefused(f"stale: more than {SNAPSHOT_MAX_BACKLOG} events behind the log")

    def _state_from(self, header: snap.SnapshotHeader, payload: dict[str, Any]) -> _State:
        names = payload["names"]
        if not isinstance(names, NameIndex) or not isinstance(payload["counts"], KeyCounts):
            raise snap.SnapshotRefused("unexpected payload")
        bloom = IdentifierFilter.from_bytes(
            payload["bloom"],
            capacity=payload["bloom_capacity"],
            false_positive_rate=payload["bloom_fp"],
            count=payload["bloom_count"],
        )
        names.config = self.match_config
        ranges, policy, protected, suppressed = self._database_side(db.session, _live(utcnow()))
        return _State(
            bloom,
            ranges,
            names,
            payload["expiring"],
            payload["ban_count"],
            policy,
            protected,
            suppressed,
            header.low_water,
            applied=set(payload["applied"]),
            removed=payload["removed"],
            name_count=payload["name_count"],
            avatars=payload["avatars"],
            counts=payload["counts"],
        )

    # --- syncing ----------------------------------------------------------------------------

    def _sync_locked(self) -> int:
        state = self._require()
        session = db.session
        # Events already applied above a gap (awaiting a slower transaction) are read again; ask for
        # enough rows to still find a chunk of fresh ones behind them.
        rows = session.execute(
            sa.select(BanEvent.id, BanEvent.ban_id, BanEvent.op)
            .where(BanEvent.id > state.low_water)
            .order_by(BanEvent.id)
            .limit(MAX_EVENTS_PER_SYNC + len(state.applied) + 1)
        ).all()
        fresh = [r for r in rows if r.id not in state.applied]
        if len(fresh) > MAX_EVENTS_PER_SYNC:
            # A bulk import is landing. Rebuilding here would hold this request (and, past gunicorn's
            # timeout, get the worker killed mid-build); take the backlog a chunk per sync instead.
            fresh = fresh[:MAX_EVENTS_PER_SYNC]
            self._next_sync = 0.0
        if fresh:
            with self._index_lock:
                self._apply(state, session, fresh)
            state.applied.update(r.id for r in fresh)
        self._advance(state)
        if state.bloom.is_overfull() or state.removed > MAX_DEAD_SHARE * max(state.name_count, 1000):
            log.info("check engine: indexes worn by incremental changes, rebuilding")
            self._state = self._build()
        return len(fresh)

    def _advance(self, state: _State) -> None:
        now = time.monotonic()
        while state.applied:
            nxt = state.low_water + 1
            if nxt in state.applied:
                state.applied.discard(nxt)
                state.gap_seen.pop(nxt, None)
                state.low_water = nxt
                continue
            first_seen = state.gap_seen.setdefault(nxt, now)
            if now - first_seen < GAP_GRACE_SECONDS:
                break
            # Still missing after the grace period: a rolled-back insert, nothing will ever fill it.
            state.gap_seen.pop(nxt, None)
            state.low_water = nxt

    def _apply(self, state: _State, session: Any, rows: Iterable[Any]) -> None:
        created: list[str] = []
        protect: set[str] = set()
        suppress: set[str] = set()
        counted: list[int] = []
        for row in rows:
            if row.op == "counts":
                counted.append(row.id)
            elif row.op == "create":
                created.append(row.ban_id)
            elif row.op == "lift":
                self._remove_ban(state, row.ban_id)
            elif row.op in ("protect", "unprotect"):
                protect.add(row.ban_id.removeprefix("account:"))
            elif row.op == "suppress":
                suppress.add(row.ban_id)
        if counted:
            # Absolute values: a count a later event changed again is read again with that event.
            for i in range(0, len(counted), 500):
                state.counts.set_many(
                    session.execute(
                        sa.select(NameKeyCount.key_hash, NameKeyCount.accounts).where(
                            NameKeyCount.event_id.in_(counted[i : i + 500])
                        )
                    )
                )
        if created:
            self._load_bans(state, session, created)
        if protect:
            self._refresh_protected(state, session, protect)
        if suppress:
            fresh: dict[str, set[str]] = {b: set() for b in suppress}
            for ban_id, key in session.execute(
                sa.select(NameSuppression.ban_id, NameSuppression.name_key).where(
                    NameSuppression.ban_id.in_(suppress)
                )
            ):
                fresh[ban_id].add(key)
            state.suppressed.update(fresh)

    def _remove_ban(self, state: _State, ban_id: str) -> None:
        # Bloom bits stay: every Bloom hit is confirmed against the database anyway.
        before = len(state.names)
        state.names.remove_ban(ban_id)
        state.removed += before - len(state.names)
        state.ranges.remove_payload(ban_id)
        state.avatars.remove_bans([ban_id])
        state.expiring.pop(ban_id, None)
        state.ban_count = max(0, state.ban_count - 1)

    def _load_bans(self, state: _State, session: Any, ban_ids: list[str]) -> None:
        if not ban_ids:
            return
        now = utcnow()
        found = {
            ban_id: expires_at
            for ban_id, expires_at in session.execute(
                sa.select(Ban.id, Ban.expires_at).where(Ban.id.in_(ban_ids), _live(now))
            )
        }
        if not found:
            return
        ids = list(found)
        # A create event can name a ban the build already read (it committed between the build's read
        # of the log's end and its read of the bans): drop whatever is loaded first, so loading twice
        # leaves one copy.
        for ban_id in ids:
            before = len(state.names)
            state.names.remove_ban(ban_id)
            again = len(state.names) < before
            state.removed += before - len(state.names)
            state.ranges.remove_payload(ban_id)
            if not again:
                state.ban_count += 1
        digests: list[str] = []
        for ban_id, kind, digest, value in session.execute(
            sa.select(
                BanIdentifier.ban_id, BanIdentifier.kind, BanIdentifier.value_hash, BanIdentifier.value
            ).where(BanIdentifier.ban_id.in_(ids))
        ):
            if kind == "ip_range":
                _add_range(state.ranges, ban_id, value)
            elif digest:
                digests.append(digest)
        state.bloom.add_many(digests)
        for ban_id, name, encoded in session.execute(
            sa.select(BanName.ban_id, BanName.name, BanName.encoded)
            .where(BanName.ban_id.in_(ids))
            .order_by(BanName.ban_id)
        ):
            state.names.add(ban_id, name, encoded)
            state.name_count += 1
        _load_avatars(state.avatars, session, ids)
        state.expiring.update({b: e for b, e in found.items() if e is not None})

    def _refresh_protected(self, state: _State, session: Any, account_ids: set[str]) -> None:
        current = _protected_names(session, account_ids)
        for account_id in account_ids:
            old = state.protected.pop(account_id, None)
            new = current.get(account_id)
            if old is not None and old != new and not _still_protected(state, old):
                state.policy.remove_protected(old)
            if new is not None:
                state.protected[account_id] = new
                _protect_many(state.policy, [new])


def _at_text(at: datetime) -> str:
    """Return an event time as the snapshot header records it (as the database hands it back)."""
    return at.isoformat()


_live = ban_is_live


def _add_range(ranges: IpRangeSet[str], ban_id: str, value: str | None) -> None:
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
_COPY_ESCAPES = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r", "\\b": "\b", "\\f": "\f", "\\v": "\v"}


def _unescape(field_text: str) -> str:
    """Undo COPY's text-format escapes (backslash, tab, newline and the other control letters)."""
    if "\\" not in field_text:
        return field_text
    out: list[str] = []
    i = 0
    while i < len(field_text):
        c = field_text[i]
        if c == "\\" and i + 1 < len(field_text):
            pair = field_text[i : i + 2]
            out.append(_COPY_ESCAPES.get(pair, pair[1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


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
        self.add(ban_id, _unescape(name), _unescape(encoded))
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


def _load_avatars(index: AvatarIndex, session: Any, ban_ids: list[str]) -> None:
    """Load these bans' avatar hashes, replacing any already loaded (a create event seen twice)."""
    index.remove_bans(ban_ids)
    rows = session.execute(sa.select(BanAvatar.ban_id, BanAvatar.hash).where(BanAvatar.ban_id.in_(ban_ids)))
    index.add_many([(ban_id, digest) for ban_id, digest in rows])


def _protected_names(session: Any, account_ids: set[str] | None) -> dict[str, str]:
    stmt = sa.select(Account.id, Account.display_name).where(
        Account.verification_status == "verified",
        Account.account_type.in_(PROTECTED_TYPES),
        Account.display_name.is_not(None),
        Account.status.not_in(("banned", "purged")),
    )
    if account_ids is not None:
        stmt = stmt.where(Account.id.in_(account_ids))
    return {account_id: name for account_id, name in session.execute(stmt) if name}


def _still_protected(state: _State, name: str) -> bool:
    return any(other == name for other in state.protected.values())


def _protect_many(policy: NamePolicy, names: Iterable[str]) -> None:
    refused = policy.add_protected_many(names, rule=PLATFORM_VERIFIED)
    if refused:
        # Too short to match safely once folded: protecting them would flag ordinary names.
        log.info("%d verified account names too short to protect; skipped", len(refused))


def get_engine(app: Flask | None = None) -> CheckEngine:
    """Return the app's engine, creating it (unbuilt) on first call."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    engine = app.extensions.get(EXTENSION_KEY)
    if engine is None:
        with _create_lock:
            engine = app.extensions.get(EXTENSION_KEY)
            if engine is None:
                engine = CheckEngine(app)
                app.extensions[EXTENSION_KEY] = engine
    return engine  # type: ignore[no-any-return]


_create_lock = threading.Lock()


def warm(app: Flask) -> CheckEngine:
    """Build the app's engine now, or catch it up with the ban log when it was built before fork."""
    with app.app_context():
        engine = get_engine(app)
        try:
            if engine.ready:
                # Forked from a gunicorn master that built it: apply what changed since.
                engine.sync()
            else:
                engine.ensure_ready()
                _exercise(engine)
                if engine.source == "database" and engine.snapshot_path:
                    # The next process to start (a restart, a worker without preload) loads this.
                    try:
                        engine.write_snapshot()
                    except OSError as exc:
                        log.warning("check index snapshot not written: %s", exc)
        finally:
            db.session.remove()
    return engine


def _exercise(engine: CheckEngine) -> None:
    """Run one check's in-memory steps once, so lazily loaded tables (pinyin, confusables, phone
    metadata) load now: before fork they are then shared by every worker, and no first request waits."""
    from registry.identifiers import InvalidIdentifier, normalize

    samples = {
        "phone": "+86 138 0013 8000",
        "email": "Warm.Up+x@GoogleMail.com",
        "id_number": "11010519491231002X",
        "device_id": "warm-up",
        "ip": "192.0.2.1",
    }
    for f, value in samples.items():
        try:
            normalize(f, value)
        except InvalidIdentifier:
            pass
    for name in ("王曉明_88", "xiaoming.wang", "ｗａｒｍ up"):
        engine.search_names(name, min_score=100.0)
        engine.policy.evaluate(name, field="display_name")


def readiness_probe() -> str | None:
    """Build the engine if needed; report a problem instead of raising."""
    try:
        engine = get_engine()
        engine.ensure_ready()
    except Exception as exc:
        db.session.rollback()
        log.exception("check engine could not be built")
        return f"check engine: {exc.__class__.__name__}"
    return None
