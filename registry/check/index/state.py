"""What the check index holds in memory for one process, and the limits it is tuned by."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from registry.avatars import AvatarIndex
from registry.identifiers import IpRangeSet
from registry.identifiers.bloom import IdentifierFilter
from registry.matching import NameIndex
from registry.matching.commonness import KeyCounts
from registry.name_rules import NamePolicy

# Identifier digests the Bloom filter is sized for beyond those loaded, so incremental adds fit.
BLOOM_HEADROOM = 2.0
BLOOM_MIN_CAPACITY = 100_000
BLOOM_FALSE_POSITIVE_RATE = 0.001
# A hole in the change ids is either a transaction still in flight (PostgreSQL hands out ids at insert,
# so a later id can commit first) or one that rolled back. Wait this long for it before moving past.
GAP_GRACE_SECONDS = 30.0
# More changes than this in one sync, or more dead names than this share: rebuilding is cheaper.
MAX_EVENTS_PER_SYNC = 5_000
MAX_DEAD_SHARE = 0.25
STREAM_ROWS = 20_000
NAME_MATCHES_WANTED = 10
MAX_NAME_CANDIDATES = 640
# A snapshot more changes behind the log than this is stale: a fresh build is quicker than catching up
# a chunk per sync.
SNAPSHOT_MAX_BACKLOG = 100_000


@dataclass
class IndexState:
    """The indexes of one process, swapped whole by a build, changed in place by a sync."""

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
    # The last index_changes id applied with every one before it.
    low_water: int
    applied: set[int] = field(default_factory=set)
    gap_seen: dict[int, float] = field(default_factory=dict)
    removed: int = 0
    name_count: int = 0
    # Banned avatars' perceptual hashes (registry/avatars), loaded and synced beside the names.
    avatars: AvatarIndex = field(default_factory=AvatarIndex)
    # Accounts in good standing per name match key (digest), kept by name counts changes.
    counts: KeyCounts = field(default_factory=KeyCounts)
    # The REUSE_FIELDS digests (registry/accounts/models.py) of accounts not purged: built from the
    # accounts, then added to by the syncs of name counts changes (through ``Account.index_event_id``)
    # and by this process's own commits. A purge leaves its bits, which costs only the query that
    # finds the count: "no" means no account holds the value. None: not loaded (a state made without
    # one), so every check asks the database as before.
    held: IdentifierFilter | None = None

    def is_worn(self) -> bool:
        """Tell whether incremental changes wore the indexes enough that a rebuild is cheaper."""
        return (
            self.bloom.is_overfull()
            or (self.held is not None and self.held.is_overfull())
            or self.removed > MAX_DEAD_SHARE * max(self.name_count, 1000)
        )


@dataclass(frozen=True)
class IndexStats:
    """What the index holds, for operators and benchmarks."""

    built: bool
    bans: int
    names: int
    identifiers: int
    ranges: int
    last_event: int
    build_seconds: float
