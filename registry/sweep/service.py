"""The zombie and shell account sweep: plan, safety cap, lock, then set-based batches.

An account moves at most one rung per run (active -> dormant -> suspended -> purged), and every rung
is timed from ``status_changed_at``, which the sweep sets to the run's ``as_of``: rerunning the same
sweep finds nothing left to do, and a sweep killed midway leaves whole batches behind it, committed
together with their audit entries, so the next run simply carries on.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from registry.accounts.models import ENTITY_ACCOUNT_TYPES, IDENTIFIER_FIELDS, Account
from registry.accounts.service import uncount_accounts
from registry.audit.service import record, record_many
from registry.bans.models import Ban, BanIdentifier, BanName, ban_is_live
from registry.db import get_or_404, keyset_batches, keyset_page
from registry.domain_errors import Conflict, InvalidField
from registry.extensions import db
from registry.ids import new_id
from registry.locking import lock_account_ids
from registry.settings import Settings, app_settings
from registry.sweep.models import DormancyNotice, Lock, SweepRun
from registry.timeutil import EARLIEST_AS_OF, utcnow

log = logging.getLogger(__name__)

LOCK_NAME = "sweep"
# pg_advisory_lock key: any fixed 64-bit number no other feature uses ("SWEEP" in ASCII).
PG_LOCK_KEY = 0x5357454550
# Exit codes of ``registry sweep`` (the cron wrapper tells them apart).
EXIT_REFUSED = 3
EXIT_BUSY = 4

Progress = Callable[[int, int], None]
accounts = Account.__table__


class SweepBusy(RuntimeError):
    """Another sweep holds the lock."""


class SweepRefused(RuntimeError):
    """The safety cap stopped a run; ``run`` is the stored refused run."""

    def __init__(self, message: str, run: SweepRun) -> None:
        super().__init__(message)
        self.run = run


class SweepInputError(ValueError):
    """A sweep parameter is unusable; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SweepPolicy:
    """Which accounts a run moves a rung: its cut-off times (from ``as_of`` and the configured periods)."""

    as_of: datetime
    shell_cut: datetime
    zombie_cut: datetime
    suspend_cut: datetime
    purge_cut: datetime
    suspend_after: timedelta

    @classmethod
    def at(cls, as_of: datetime, settings: Settings) -> SweepPolicy:
        """Compute the cut-offs for a run as of ``as_of``."""
        return cls(
            as_of=as_of,
            shell_cut=as_of - timedelta(days=settings.sweep_shell_days),
            zombie_cut=as_of - timedelta(days=settings.sweep_zombie_days),
            suspend_cut=as_of - timedelta(days=settings.sweep_suspend_after_days),
            purge_cut=as_of - timedelta(days=settings.sweep_purge_after_days),
            suspend_after=timedelta(days=settings.sweep_suspend_after_days),
        )

    # Cheap column tests first: PostgreSQL evaluates them in order, so the ban subquery only runs
    # for the few rows that are otherwise due.
    def not_exempt(self) -> sa.ColumnElement[bool]:
        """Neither under an active ban nor a verified organisation or public account."""
        c = accounts.c
        banned = (
            sa.select(sa.literal(1))
            .where(
                Ban.account_id == c.id,
                ban_is_live(self.as_of),
            )
            .exists()
        )
        verified_entity = sa.and_(
            c.account_type.in_(ENTITY_ACCOUNT_TYPES), c.verification_status == "verified"
        )
        return sa.and_(sa.not_(verified_entity), sa.not_(banned))

    def shell(self) -> sa.ColumnElement[bool]:
        """Registered long enough ago, never active, not verified."""
        c = accounts.c
        return sa.and_(
            c.status == "active",
            c.last_active_at.is_(None),
            c.registered_at <= self.shell_cut,
            c.verification_status != "verified",
        )

    def zombie(self) -> sa.ColumnElement[bool]:
        """Last activity (or registration, if none) long enough ago."""
        c = accounts.c
        return sa.and_(
            c.status == "active", sa.func.coalesce(c.last_active_at, c.registered_at) <= self.zombie_cut
        )

    def to_dormant(self) -> sa.ColumnElement[bool]:
        """Shell or zombie, and not exempt."""
        return sa.and_(sa.or_(self.shell(), self.zombie()), self.not_exempt())

    def _quiet_since_change(self) -> sa.ColumnElement[bool]:
        c = accounts.c
        return sa.or_(c.last_active_at.is_(None), c.last_active_at <= c.status_changed_at)

    def to_suspended(self) -> sa.ColumnElement[bool]:
        """Dormant for the suspension period with no activity since, and not exempt."""
        c = accounts.c
        return sa.and_(
            c.status == "dormant",
            c.status_changed_at <= self.suspend_cut,
            self._quiet_since_change(),
            self.not_exempt(),
        )

    def to_purged(self) -> sa.ColumnElement[bool]:
        """Suspended for the purge period with no activity since, and not exempt."""
        c = accounts.c
        return sa.and_(
            c.status == "suspended",
            c.status_changed_at <= self.purge_cut,
            self._quiet_since_change(),
            self.not_exempt(),
        )

    def is_shell_row(
        self, last_active_at: datetime | None, registered_at: datetime, verification: str
    ) -> bool:
        """Tell, for an account just made dormant, whether the shell rule (rather than zombie) caught it."""
        return last_active_at is None and registered_at <= self.shell_cut and verification != "verified"


def plan(policy: SweepPolicy) -> dict[str, int]:
    """Count, in one pass, what a run as of ``policy.as_of`` would do and how many accounts there are."""
    shell_and_due = sa.and_(policy.shell(), policy.not_exempt())
    row = db.session.execute(
        sa.select(
            sa.func.count().label("accounts"),
            sa.func.count().filter(policy.to_dormant()).label("dormant"),
            sa.func.count().filter(shell_and_due).label("shell"),
            sa.func.count().filter(policy.to_suspended()).label("suspended"),
            sa.func.count().filter(policy.to_purged()).label("purged"),
        ).select_from(accounts)
    ).one()
    counts = {k: int(getattr(row, k) or 0) for k in ("dormant", "shell", "suspended", "purged")}
    counts["zombie"] = counts["dormant"] - counts["shell"]
    counts["accounts"] = int(row.accounts or 0)
    return counts


def acting(counts: Mapping[str, int]) -> int:
    """Return how many accounts a run changes."""
    return counts["dormant"] + counts["suspended"] + counts["purged"]


def over_cap(counts: Mapping[str, int], settings: Settings) -> bool:
    """Tell whether a run is beyond the safety cap: too many accounts AND too large a share."""
    n = acting(counts)
    return n > settings.sweep_cap_accounts and n > settings.sweep_cap_share * counts["accounts"]


# --- the lock ---------------------------------------------------------------------------------


@contextmanager
def sweep_lock(holder: str) -> Iterator[None]:
    """Hold the one-sweep-at-a-time lock for the block; raise SweepBusy if another sweep has it."""
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        with _advisory_lock(bind):
            yield
    else:
        _take_lock_row(holder)
        try:
            yield
        finally:
            _release_lock_row(holder)


@contextmanager
def _advisory_lock(bind: Engine | Connection) -> Iterator[None]:
    # A session-level lock on a connection of its own, outside the batches' transactions, so it
    # lasts across their commits; a killed sweep's connection drops and the lock goes with it.
    # Under the test fixture the bind is already a single Connection: use it as it is.
    own = isinstance(bind, Engine)
    conn: Connection = (
        bind.connect().execution_options(isolation_level="AUTOCOMMIT") if isinstance(bind, Engine) else bind
    )
    try:
        got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(PG_LOCK_KEY))).scalar()
        if not got:
            raise SweepBusy(_busy_message(None))
        try:
            yield
        finally:
            conn.execute(sa.select(sa.func.pg_advisory_unlock(PG_LOCK_KEY)))
    finally:
        if own:
            conn.close()


def _take_lock_row(holder: str) -> None:
    stale = app_settings().sweep_lock_stale_seconds
    now = utcnow()
    try:
        row = db.session.get(Lock, LOCK_NAME, with_for_update=True)
        if row is None:
            db.session.add(Lock(name=LOCK_NAME, holder=holder, acquired_at=now))
        elif (
            row.holder is None or row.acquired_at is None or row.acquired_at < now - timedelta(seconds=stale)
        ):
            if row.holder is not None:
                log.warning(
                    "taking over a stale sweep lock from %s (last seen %s)", row.holder, row.acquired_at
                )
            row.holder, row.acquired_at = holder, now
        else:
            message = _busy_message(row)
            db.session.rollback()
            raise SweepBusy(message)
        db.session.commit()
    except IntegrityError:
        # Two sweeps created the row at once; the other one won.
        db.session.rollback()
        raise SweepBusy(_busy_message(None)) from None


def _heartbeat(holder: str) -> None:
    """Refresh the lock row so a long sweep is not mistaken for a dead one (SQLite only)."""
    db.session.execute(
        sa.update(Lock).where(Lock.name == LOCK_NAME, Lock.holder == holder).values(acquired_at=utcnow())
    )


def _release_lock_row(holder: str) -> None:
    db.session.rollback()
    db.session.execute(
        sa.update(Lock)
        .where(Lock.name == LOCK_NAME, Lock.holder == holder)
        .values(holder=None, acquired_at=None)
    )
    db.session.commit()


def _busy_message(row: Lock | None) -> str:
    running = db.session.scalar(
        sa.select(SweepRun).where(SweepRun.status == "running").order_by(SweepRun.started_at.desc()).limit(1)
    )
    if running is not None:
        return (
            f"another sweep is running (run {running.id}, started by {running.started_by} "
            f"at {running.started_at.isoformat(timespec='seconds')}Z)"
        )
    if row is not None and row.holder:
        return f"another sweep is running (held by {row.holder} since {row.acquired_at:%Y-%m-%dT%H:%M:%S}Z)"
    return "another sweep is running"


# --- the run ----------------------------------------------------------------------------------


def run_sweep(
    *,
    actor: str,
    as_of: datetime | None = None,
    dry_run: bool = False,
    force: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> SweepRun:
    """Run (or dry-run) the sweep as of ``as_of`` (default now, or the as_of of an interrupted run).

    The steps: check the parameters, take the lock, open the run (resuming an interrupted one), plan
    and apply the safety cap, then act in committed batches and close the run.
    """
    settings = app_settings()
    now = utcnow()
    batch = _checked_parameters(as_of, batch_size, now, settings)
    holder = f"{actor} pid {os.getpid()} {secrets.token_hex(4)}"
    with sweep_lock(holder):
        run, note = _open_run(as_of, now, dry_run=dry_run, force=force, actor=actor)
        policy = SweepPolicy.at(run.as_of, settings)
        started = time.perf_counter()
        counts = plan(policy)
        timings: dict[str, Any] = {
            "plan_seconds": round(time.perf_counter() - started, 3),
            "accounts": counts["accounts"],
        }
        refused = over_cap(counts, settings) and not force
        if refused or dry_run:
            return _close_without_acting(run, note, counts, timings, started, refused=refused, actor=actor)
        db.session.add(run)
        db.session.flush()
        record("sweep.start", f"sweep:{run.id}", _run_data(run), actor=actor)
        db.session.commit()
        run_id = run.id
        acting = _Acting(run_id, policy, actor, holder, batch, counts["accounts"], timings, progress)
        done = _act_or_mark_failed(acting)
        timings["total_seconds"] = round(time.perf_counter() - started, 3)
        return _complete(run_id, done, timings, actor)


def _checked_parameters(as_of: datetime | None, batch_size: int | None, now: datetime, settings: Any) -> int:
    """Refuse an unusable ``as_of`` or batch size (naming it); return the batch size to use."""
    if as_of is not None and as_of > now + timedelta(seconds=settings.activity_future_skew_seconds):
        # A sweep "as of" tomorrow would act on accounts a day early.
        raise SweepInputError("as_of", "Must not be in the future.")
    if as_of is not None and as_of < EARLIEST_AS_OF:
        raise SweepInputError("as_of", "Must not be before 1970-01-01T00:00:00Z.")
    if as_of is not None:
        try:
            SweepPolicy.at(as_of, settings)
        except OverflowError:
            # Its cut-offs (as_of minus the configured periods) would fall before year 1.
            raise SweepInputError("as_of", "Too far in the past for the configured sweep periods.") from None
    batch = batch_size or settings.sweep_batch_size
    if batch < 1:
        raise SweepInputError("batch_size", "Must be at least 1.")
    return batch


def _open_run(
    as_of: datetime | None, now: datetime, *, dry_run: bool, force: bool, actor: str
) -> tuple[SweepRun, str | None]:
    """Close the runs a dead sweep left running and make the new run (not yet added); return it and its note.

    Without ``as_of``, a new run carries on an interrupted one at that run's ``as_of``.
    """
    resumed = _close_interrupted(now)
    note = None
    if as_of is None and resumed is not None:
        as_of, note = resumed.as_of, f"resumes interrupted run {resumed.id}"
    run = SweepRun(
        id=new_id("sw_"),
        dry_run=dry_run,
        forced=force,
        as_of=as_of or now,
        status="running",
        started_by=actor,
        started_at=now,
        counts={},
        timings={},
        message=note,
    )
    return run, note


def _close_without_acting(
    run: SweepRun,
    note: str | None,
    counts: Mapping[str, int],
    timings: dict[str, Any],
    started: float,
    *,
    refused: bool,
    actor: str,
) -> SweepRun:
    """Store a dry run (completed) or a run the cap refused, audited; raise SweepRefused for the latter."""
    settings = app_settings()
    message = _cap_message(counts, settings) if refused else None
    if message and run.dry_run:
        message = f"a real run would be refused: {message}"
    run.status = "refused" if refused and not run.dry_run else "completed"
    run.message = "; ".join(m for m in (note, message) if m) or None
    run.counts, run.finished_at = _public_counts(counts), utcnow()
    run.timings = {**timings, "total_seconds": round(time.perf_counter() - started, 3)}
    db.session.add(run)
    db.session.flush()
    record("sweep.run", f"sweep:{run.id}", _run_data(run), actor=actor)
    db.session.commit()
    if run.status == "refused":
        raise SweepRefused(message or "", run)
    return run


@dataclass
class _Acting:
    """What a run acting in batches carries: its id and policy, who runs it, the batch size, its timings."""

    run_id: str
    policy: SweepPolicy
    actor: str
    holder: str
    batch: int
    total: int
    timings: dict[str, Any]
    progress: Progress | None


def _act_or_mark_failed(acting: _Acting) -> dict[str, int]:
    """Act in batches; if anything stops it, store the run as failed (with the error) and re-raise."""
    try:
        return _execute(acting)
    except BaseException as exc:
        db.session.rollback()
        db.session.execute(
            sa.update(SweepRun)
            .where(SweepRun.id == acting.run_id)
            .values(status="failed", finished_at=utcnow(), message=f"{type(exc).__name__}: {exc}"[:2000])
        )
        db.session.commit()
        raise


def _complete(run_id: str, done: dict[str, int], timings: dict[str, Any], actor: str) -> SweepRun:
    """Close a run that acted: its counts and timings, completed, audited."""
    run = db.session.get(SweepRun, run_id, populate_existing=True)
    assert run is not None
    run.counts, run.timings, run.status, run.finished_at = done, timings, "completed", utcnow()
    record("sweep.run", f"sweep:{run.id}", _run_data(run), actor=actor)
    db.session.commit()
    return run


def _close_interrupted(now: datetime) -> SweepRun | None:
    """Mark runs a dead sweep left 'running' (we hold the lock now); return the real run to resume, if any."""
    dead = list(db.session.scalars(sa.select(SweepRun).where(SweepRun.status == "running")))
    for run in dead:
        run.status, run.finished_at = "interrupted", now
        run.message = "the sweep stopped before finishing; the next run without as_of carries on"
    if dead:
        db.session.commit()
    last = db.session.scalar(
        sa.select(SweepRun)
        .where(SweepRun.dry_run.is_(False), SweepRun.status != "refused")
        .order_by(SweepRun.started_at.desc(), SweepRun.id.desc())
        .limit(1)
    )
    return last if last is not None and last.status == "interrupted" else None


def _cap_message(counts: Mapping[str, int], settings: Settings) -> str:
    n, total = acting(counts), counts["accounts"]
    share = n / total if total else 0.0
    return (
        f"the sweep would act on {n} of {total} accounts ({share:.1%}), more than "
        f"{settings.sweep_cap_accounts} accounts and {settings.sweep_cap_share:.0%} of all: "
        "is the activity feed broken? Use force to run it anyway."
    )


def _public_counts(counts: Mapping[str, int]) -> dict[str, int]:
    return {k: int(counts[k]) for k in ("dormant", "suspended", "purged", "shell", "zombie")}


def _run_data(run: SweepRun) -> dict[str, Any]:
    return {
        "dry_run": run.dry_run,
        "forced": run.forced,
        "as_of": run.as_of,
        "status": run.status,
        "counts": run.counts,
        "message": run.message,
    }


def _execute(acting: _Acting) -> dict[str, int]:
    """Walk accounts by id in batches; each batch's changes, notices and audit entries commit together."""
    run_id, policy, timings = acting.run_id, acting.policy, acting.timings
    c = accounts.c
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    done = {"dormant": 0, "suspended": 0, "purged": 0, "shell": 0, "zombie": 0}
    seen, batches = 0, 0
    act_started = time.perf_counter()
    for rows in keyset_batches(sa.select(c.id), c.id, acting.batch):
        in_batch = c.id.between(rows[0].id, rows[-1].id)
        now = utcnow()
        if not sqlite:
            # Lock order (registry/locking.py): the rows this batch may change, in id order, before the
            # three UPDATEs (which would lock them in scan order) and the audit head.
            lock_account_ids(
                sa.and_(in_batch, sa.or_(policy.to_purged(), policy.to_suspended(), policy.to_dormant()))
            )
        # Top rung first, so an account climbs at most one rung per run.
        entries = _purge_batch(run_id, policy, in_batch, now, done)
        entries += _suspend_batch(run_id, policy, in_batch, now, done)
        entries += _make_dormant_batch(run_id, policy, in_batch, now, done)
        if entries:
            record_many(entries, actor=acting.actor)
        batches += 1
        seen += len(rows)
        timings.update(batches=batches, act_seconds=round(time.perf_counter() - act_started, 3))
        # Progress is committed with the batch, so a killed run still tells what it got done.
        db.session.execute(
            sa.update(SweepRun).where(SweepRun.id == run_id).values(counts=dict(done), timings=dict(timings))
        )
        if sqlite:
            _heartbeat(acting.holder)
        db.session.commit()
        if acting.progress is not None:
            acting.progress(seen, acting.total)
    return done


AuditEntries = list[tuple[str, str, dict[str, Any]]]


def _purge_batch(
    run_id: str, policy: SweepPolicy, in_batch: sa.ColumnElement[bool], now: datetime, done: dict[str, int]
) -> AuditEntries:
    """Purge the batch's due suspended accounts (keeping what live bans need); return their audit entries."""
    c = accounts.c
    # Purged names leave the name key counts (read before the purge erases them).
    purging = sa.select(c.username, c.display_name).where(in_batch, policy.to_purged())
    uncount_accounts(tuple(r) for r in db.session.execute(purging))
    entries: AuditEntries = []
    purged: list[str] = []
    for account_id, *kept in db.session.execute(_purge_statement(policy, in_batch, now)):
        kept_fields = [f for f, v in zip(("username", *IDENTIFIER_FIELDS), kept, strict=True) if v]
        entries.append(
            ("account.purge", f"account:{account_id}", {"run": run_id, "kept_for_bans": kept_fields})
        )
        purged.append(account_id)
    done["purged"] += len(purged)
    if purged:
        _erase_traces(purged)
    return entries


def _suspend_batch(
    run_id: str, policy: SweepPolicy, in_batch: sa.ColumnElement[bool], now: datetime, done: dict[str, int]
) -> AuditEntries:
    """Suspend the batch's accounts dormant long enough; return their audit entries."""
    c = accounts.c
    suspended = (
        db.session.execute(
            sa.update(accounts)
            .where(in_batch, policy.to_suspended())
            .values(status="suspended", status_changed_at=policy.as_of, updated_at=now)
            .returning(c.id)
        )
        .scalars()
        .all()
    )
    done["suspended"] += len(suspended)
    return [("account.suspend", f"account:{i}", {"run": run_id, "from": "dormant"}) for i in suspended]


def _make_dormant_batch(
    run_id: str, policy: SweepPolicy, in_batch: sa.ColumnElement[bool], now: datetime, done: dict[str, int]
) -> AuditEntries:
    """Make the batch's shell and zombie accounts dormant, a dormancy notice each; return audit entries."""
    c = accounts.c
    dormant = db.session.execute(
        sa.update(accounts)
        .where(in_batch, policy.to_dormant())
        .values(status="dormant", status_changed_at=policy.as_of, updated_at=now)
        .returning(c.id, c.last_active_at, c.registered_at, c.verification_status)
    ).all()
    if not dormant:
        return []
    suspend_after = policy.as_of + policy.suspend_after
    db.session.execute(
        sa.insert(DormancyNotice),
        [{"run_id": run_id, "account_id": r.id, "at": now, "suspend_after": suspend_after} for r in dormant],
    )
    entries: AuditEntries = []
    for r in dormant:
        rule = (
            "shell"
            if policy.is_shell_row(r.last_active_at, r.registered_at, r.verification_status)
            else "zombie"
        )
        done[rule] += 1
        entries.append(
            (
                "account.dormant",
                f"account:{r.id}",
                {"run": run_id, "rule": rule, "as_of": policy.as_of, "suspend_after": suspend_after},
            )
        )
    done["dormant"] += len(dormant)
    return entries


def _purge_statement(policy: SweepPolicy, in_batch: sa.ColumnElement[bool], now: datetime) -> Any:
    """Erase personal data of due accounts, keeping what a live ban relies on; return what was kept."""
    c = accounts.c
    values: dict[str, Any] = {
        "status": "purged",
        "status_changed_at": policy.as_of,
        "purged_at": policy.as_of,
        "updated_at": now,
        "display_name": None,
        "display_key": None,
        "entity_name": None,
        "entity_uscc": None,
        # A ban keeps its own copy of the avatar hashes it needs (ban_avatars).
        "avatar_hash": None,
        "avatar_crop_hash": None,
        "avatar_band_hash": None,
        "avatar_side_hashes": None,
        "avatar_tone_hash": None,
    }
    name_banned = (
        sa.select(sa.literal(1))
        .select_from(BanName)
        .join(Ban, Ban.id == BanName.ban_id)
        .where(BanName.name == c.username, ban_is_live(policy.as_of))
        .exists()
    )
    values["username"] = sa.case((name_banned, c.username), else_=None)
    values["username_key"] = sa.case((name_banned, c.username_key), else_=None)
    for field in IDENTIFIER_FIELDS:
        hash_col = c[f"{field}_hash"]
        held = (
            sa.select(sa.literal(1))
            .select_from(BanIdentifier)
            .join(Ban, Ban.id == BanIdentifier.ban_id)
            .where(
                BanIdentifier.value_hash == hash_col,
                BanIdentifier.kind == field,
                ban_is_live(policy.as_of),
            )
            .exists()
        )
        values[f"{field}_hash"] = sa.case((held, hash_col), else_=None)
        # Masks are for display only; a tombstone displays nothing.
        values[f"{field}_mask"] = None
    return (
        sa.update(accounts)
        .where(in_batch, policy.to_purged())
        .values(**values)
        .returning(c.id, c.username, *(c[f"{f}_hash"] for f in IDENTIFIER_FIELDS))
    )


def _erase_traces(account_ids: list[str]) -> None:
    """Erase what purged accounts left elsewhere: audit data keys, names and masks of their checks/reviews,
    the statements of their appeals (free text the user wrote)."""
    from registry.appeals.models import Appeal
    from registry.audit.personal import erase_subjects
    from registry.check.models import CheckRecord
    from registry.reviews.models import Review

    # Crypto-shredding: the sealed personal fields of their audit entries can no longer be opened.
    erase_subjects(db.session, [f"account:{i}" for i in account_ids])
    # Reviews name the account; checks via their review or as the account's signup check.
    tied = sa.or_(
        CheckRecord.id.in_(sa.select(Review.check_id).where(Review.account_id.in_(account_ids))),
        CheckRecord.id.in_(sa.select(accounts.c.check_id).where(accounts.c.id.in_(account_ids))),
    )
    db.session.execute(
        sa.update(Review)
        .where(Review.account_id.in_(account_ids))
        .values(username=None, display_name=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(CheckRecord)
        .where(tied)
        .values(username=None, display_name=None, masked={})
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(Appeal)
        .where(Appeal.account_id.in_(account_ids))
        .values(statement="")
        .execution_options(synchronize_session=False)
    )


# --- reading runs -------------------------------------------------------------------------------


def get_run(run_id: str) -> SweepRun:
    """Return a stored run or abort with 404."""
    return get_or_404(SweepRun, run_id, "sweep run")


def list_dormancy_notices(run_id: str, args: Mapping[str, Any]) -> tuple[list[DormancyNotice], str | None]:
    """Return a page of the dormancy notices a run wrote (accounts it made dormant), and the next cursor."""
    get_run(run_id)
    stmt = sa.select(DormancyNotice).where(DormancyNotice.run_id == run_id)
    if args.get("undelivered"):
        stmt = stmt.where(DormancyNotice.delivered_at.is_(None))
    return keyset_page(stmt, DormancyNotice.id, args, cast=int)


def mark_notices_delivered(run_id: str, account_ids: list[str], actor: str) -> dict[str, Any]:
    """Mark a run's dormancy notices delivered (the platform warned those owners); audited."""
    get_run(run_id)
    wanted = set(account_ids)
    rows = list(
        db.session.scalars(
            sa.select(DormancyNotice).where(
                DormancyNotice.run_id == run_id, DormancyNotice.account_id.in_(wanted)
            )
        )
    )
    now = utcnow()
    fresh = [row for row in rows if row.delivered_at is None]
    for row in fresh:
        row.delivered_at = now
    if fresh:
        record(
            "sweep.notices_delivered",
            f"sweep:{run_id}",
            {"accounts": sorted(row.account_id for row in fresh)},
            actor=actor,
        )
    db.session.commit()
    return {"marked": len(fresh), "unknown_accounts": sorted(wanted - {row.account_id for row in rows})}


def start_from_request(data: Mapping[str, Any], actor: str) -> SweepRun:
    """Run a sweep for an HTTP caller: 409 when refused by the cap or when another sweep runs."""
    try:
        return run_sweep(
            actor=actor,
            as_of=data.get("as_of"),
            dry_run=data.get("dry_run", False),
            force=data.get("force", False),
        )
    except SweepInputError as exc:
        raise InvalidField(exc.field, str(exc)) from None
    except SweepBusy as exc:
        raise Conflict(str(exc)) from None
    except SweepRefused as exc:
        raise Conflict(f"Refused: {exc}", {"run": {"id": exc.run.id, "counts": exc.run.counts}}) from None
