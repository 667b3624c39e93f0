"""The per-process check index: in-memory indexes of active bans, kept in step with the change log.

One index per app (so per gunicorn worker), in ``app.extensions[INDEX_EXTENSION_KEY]``. It is built from
the database on first use (or by ``warm(app)`` right after a worker forks) and then follows the
``index_changes`` log: at most once every ``ban_sync_seconds`` a check reads the changes after the last
one applied and updates the indexes incrementally. Nothing here decides alone: a Bloom hit, a name
match or an IP range hit is confirmed against active bans in the database before it counts, so a lifted
ban stops counting at once even before the log reaches this process.

Memory: the index keeps no per-ban table. The NameIndex and IpRangeSet know which bans they were
loaded with and the Bloom filter only holds digest bits; what remains per ban is the expiry of the few
bans that have one.

The parts: ``state.py`` (what is held), ``build.py`` (from the database), ``sync.py`` (following the
log), ``persist.py`` (to and from the snapshot file); this module is the facade the check service uses.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime

from flask import Flask, current_app

from registry.avatars import AvatarIndex, AvatarMatch
from registry.check import snapshot as snap
from registry.check.index import persist
from registry.check.index.build import build_state
from registry.check.index.state import MAX_NAME_CANDIDATES, NAME_MATCHES_WANTED, IndexState, IndexStats
from registry.check.index.sync import apply_new_changes
from registry.extensions import db
from registry.index_changes import INDEX_EXTENSION_KEY
from registry.matching import MatchConfig, NameMatch
from registry.name_rules import NamePolicy
from registry.settings import app_settings
from registry.timeutil import utcnow

log = logging.getLogger(__name__)

__all__ = ["CheckIndex", "IndexStats", "get_index", "readiness_probe", "warm"]


class CheckIndex:
    """In-memory ban indexes for one process; thread-safe, built once, synced from the change log."""

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
        self._state: IndexState | None = None
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
        """Make the next check read the change log whatever the interval (this process changed something)."""
        self._next_sync = 0.0

    def maybe_sync(self) -> None:
        """Apply new changes from the log if ``ban_sync_seconds`` have passed since the last read."""
        if time.monotonic() >= self._next_sync:
            self.sync()

    def sync(self) -> int:
        """Apply the logged changes not yet seen; return how many were applied."""
        self.ensure_ready()
        # One syncing thread is enough; the others answer from the current indexes meanwhile.
        if not self._sync_lock.acquire(blocking=False):
            return 0
        try:
            self._next_sync = time.monotonic() + self.sync_seconds
            state = self._require()
            applied, more = apply_new_changes(state, db.session, self._index_lock)
            if more:
                self._next_sync = 0.0
            if state.is_worn():
                log.info("check index: indexes worn by incremental changes, rebuilding")
                self._state = self._build()
            return applied
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

    def maybe_held(self, digest: str) -> bool:
        """Tell whether an identifier digest may be held by an account not purged (Bloom: count to know).

        False only when no account held it at the last sync: an account created since, by another
        worker, is known from this worker's next poll (``ban_sync_seconds``), as a new ban is.
        """
        held = self._require().held
        return held is None or digest in held

    def note_held(self, digests: list[str]) -> None:
        """Add identifier digests this process's own committed writes gave accounts (see maybe_held)."""
        state = self._state
        if state is not None and state.held is not None:
            state.held.add_many(digests)

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

    def stats(self) -> IndexStats:
        """Return sizes and the last change applied."""
        state = self._state
        if state is None:
            return IndexStats(False, 0, 0, 0, 0, 0, 0.0)
        return IndexStats(
            True,
            state.ban_count,
            len(state.names),
            len(state.bloom),
            len(state.ranges),
            state.low_water,
            self.build_seconds,
        )

    def _require(self) -> IndexState:
        if self._state is None:
            self.ensure_ready()
        assert self._state is not None
        return self._state

    # --- building and snapshots ---------------------------------------------------------------

    def _build(self) -> IndexState:
        started = time.perf_counter()
        state = build_state(db.session, self.match_config, self.name_rules_file)
        self.build_seconds = time.perf_counter() - started
        self.source = "database"
        log.info(
            "check index built in %.2f s: %d bans, %d identifiers, %d ranges, %d names, %d protected names",
            self.build_seconds,
            state.ban_count,
            len(state.bloom),
            len(state.ranges),
            state.name_count,
            len(state.protected),
        )
        return state

    def write_snapshot(self, path: str | None = None) -> tuple[str, int] | None:
        """Save the indexes to the snapshot file; return (path, bytes), or None with nothing to save.

        Nothing is saved for an empty change log (a build is instant then) or when snapshots are off.
        """
        target = path or self.snapshot_path
        if not target:
            return None
        self._require()
        # No sync may change the indexes while they are pickled: the header's change id must describe
        # exactly what the payload holds.
        with self._sync_lock, self._index_lock:
            parts = persist.snapshot_parts(
                self._require(), db.session, self.match_config, self._pii_key_version
            )
            if parts is None:
                return None
            header, payload = parts
            size = snap.write(target, header, payload, self._snapshot_key)
        log.info("check index snapshot written to %s: %d bytes, to event %d", target, size, header.low_water)
        return target, size

    def _load_snapshot(self) -> IndexState | None:
        """Load the snapshot if it is ours and current enough; else log why and return None."""
        path = self.snapshot_path
        if not path or not os.path.exists(path):
            return None
        started = time.perf_counter()
        session = db.session
        try:
            header, payload = snap.read(path, self._snapshot_key)
            persist.check_snapshot(header, session, self.match_config, self._pii_key_version)
            state = persist.state_from_snapshot(
                header, payload, session, self.match_config, self.name_rules_file
            )
        except Exception as exc:  # noqa: BLE001 - any unusable snapshot means a fresh build, never a crash
            session.rollback()
            log.warning("check index snapshot %s ignored (%s); building from the database", path, exc)
            return None
        self.build_seconds = time.perf_counter() - started
        self.source = "snapshot"
        log.info(
            "check index loaded from snapshot %s in %.2f s: %d bans, %d names, to event %d",
            path,
            self.build_seconds,
            state.ban_count,
            len(state.names),
            state.low_water,
        )
        return state


def get_index(app: Flask | None = None) -> CheckIndex:
    """Return the app's check index, creating it (unbuilt) on first call."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    index = app.extensions.get(INDEX_EXTENSION_KEY)
    if index is None:
        with _create_lock:
            index = app.extensions.get(INDEX_EXTENSION_KEY)
            if index is None:
                index = CheckIndex(app)
                app.extensions[INDEX_EXTENSION_KEY] = index
    return index


_create_lock = threading.Lock()


def warm(app: Flask) -> CheckIndex:
    """Build the app's index now, or catch it up with the change log when it was built before fork."""
    with app.app_context():
        index = get_index(app)
        try:
            if index.ready:
                # Forked from a gunicorn master that built it: apply what changed since.
                index.sync()
            else:
                index.ensure_ready()
                _exercise(index)
                if index.source == "database" and index.snapshot_path:
                    # The next process to start (a restart, a worker without preload) loads this.
                    try:
                        index.write_snapshot()
                    except OSError as exc:
                        log.warning("check index snapshot not written: %s", exc)
        finally:
            db.session.remove()
    return index


def _exercise(index: CheckIndex) -> None:
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
        index.search_names(name, min_score=100.0)
        index.policy.evaluate(name, field="display_name")


def readiness_probe() -> str | None:
    """Build the index if needed; report a problem instead of raising."""
    try:
        index = get_index()
        index.ensure_ready()
    except Exception as exc:
        db.session.rollback()
        log.exception("check index could not be built")
        return f"check index: {exc.__class__.__name__}"
    return None
