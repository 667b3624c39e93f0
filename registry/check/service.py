"""Decide a signup check (allow / review / deny) and keep the checks worth keeping."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from registry.accounts.models import IDENTIFIER_FIELDS, REUSE_FIELDS, Account
from registry.accounts.service import name_key
from registry.actor import current_actor
from registry.avatars.check import check_avatar
from registry.bans.models import Ban, BanIdentifier, ban_is_live
from registry.check import evidence
from registry.check.index import CheckIndex, get_index, readiness_probe
from registry.check.models import CheckRecord
from registry.db import engine_options, writing
from registry.events.service import (
    EventType,
    append_event_statement,
    emit_event,
    event_head_cte,
    event_params,
    event_row,
    review_reasons,
)
from registry.extensions import db
from registry.health import add_probe
from registry.identifiers import InvalidIdentifier, normalize
from registry.ids import new_id
from registry.matching import NameMatch
from registry.metrics import CHECK_DECISIONS
from registry.name_rules import NamePolicy, mask_contacts
from registry.pii import hasher
from registry.reports.models import note_check
from registry.reviews.models import Review
from registry.settings import Settings, app_settings
from registry.timeutil import utcnow

SEVERITY = {"allow": 0, "review": 1, "deny": 2}
# Identifiers a person rarely shares with many accounts; an email is excluded as too easy to mint.
NAME_FIELDS = ("username", "display_name")


class _Reasons:
    """Reasons with the decision each implies; the check's decision is the most severe."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def add(self, decision: str, reason: dict[str, Any]) -> None:
        self.items.append((decision, reason))

    @property
    def decision(self) -> str:
        return max((d for d, _ in self.items), key=SEVERITY.__getitem__, default="allow")

    @property
    def reasons(self) -> list[dict[str, Any]]:
        return [r for _, r in self.items]


def _live(now: Any) -> Any:
    # A bound parameter or a time: the condition is bans.models.ban_is_live's.
    return ban_is_live(now)


def weights(settings: Settings) -> evidence.Weights:
    """Return the evidence model's weights and thresholds from the settings."""
    return evidence.Weights(
        review_score=float(settings.evidence_review_score),
        deny_score=float(settings.evidence_deny_score),
        common_accounts=int(settings.common_name_accounts),
        unique_name_bits=float(settings.name_unique_bits),
        max_bans=int(settings.evidence_max_bans),
    )


_Ask = tuple[datetime, dict[str, str], set[str], dict[str, str]]
_Decided = tuple["_Reasons", Mapping[str, str]]


def decide(data: Mapping[str, Any], index: CheckIndex) -> _Decided:
    """Evaluate one check read-only; return its reasons and the masked identifiers."""
    steps = _decide_steps(data, index)
    try:
        steps.send(_confirm(*next(steps)))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise RuntimeError("the check's steps asked the database twice")


def decide_many(items: Sequence[Mapping[str, Any]], index: CheckIndex) -> list[_Decided]:
    """Evaluate checks as decide() does each, asking the database once for all of them (batch checks)."""
    steps = [_decide_steps(data, index) for data in items]
    asks = [next(s) for s in steps]
    out = []
    for s, found in zip(steps, _confirm_many(asks), strict=True):
        try:
            s.send(found)
        except StopIteration as done:
            out.append(done.value)
        else:
            raise RuntimeError("the check's steps asked the database twice")
    return out


def _decide_steps(data: Mapping[str, Any], index: CheckIndex) -> Generator[_Ask, _Confirmed, _Decided]:
    """Evaluate one check; yield once what the database must confirm, receive it, return the reasons.

    This only gathers facts (identifier digests, name matches with their tricks and commonness) and
    confirms the bans they name are active; registry.check.evidence weighs them and decides.
    """
    settings = app_settings()
    index.ensure_ready()
    index.maybe_sync()
    now = utcnow()
    out = _Reasons()
    digests, masked = _identifiers(data, out)
    maybe = {f: d for f, d in digests.items() if index.maybe_banned(d)}

    # Everything in memory first; what the database has to confirm is gathered and asked in one query.
    # Facts the database still has to confirm as naming an active ban: IP ranges and name matches.
    facts: list[evidence.Evidence] = []
    if "ip" in digests:
        for ban_id in sorted(index.range_bans(str(data["ip"]))):
            if index.is_active(ban_id, now):
                facts.append(evidence.IdentifierEvidence(ban_id, "ip"))
    facts += _name_facts(data, index, now, settings, out)
    facts += _avatar_facts(data, index, now, settings, out)

    threshold = int(settings.identifier_accounts_review)
    # Only values some account may hold are counted: a new user's fresh phone asks nothing.
    reuse = (
        [f for f in REUSE_FIELDS if f in digests and index.maybe_held(digests[f])] if threshold > 0 else []
    )
    w = weights(settings)
    facts = evidence.mark_echoes(facts, data)
    if facts:
        early = evidence.decide(facts, w)
        if early.decision == "allow" and not early.reasons:
            # Each ban is judged on its own evidence, so confirming (which can only drop whole bans)
            # cannot turn weak facts that give no reason into one: nothing to ask the database.
            facts = []
    ban_ids = {e.ban_id for e in facts}
    found = yield (now, maybe, ban_ids, {f: digests[f] for f in reuse})

    confirmed = [e for e in facts if e.ban_id in found.active]
    for kind, digest, ban_id in found.identifiers:
        # Already confirmed against active bans by the query itself.
        if maybe.get(kind) == digest:
            confirmed.append(evidence.IdentifierEvidence(ban_id, kind))
    _add_outcome(out, evidence.decide(confirmed, w))
    for f in reuse:
        n = found.reuse.get(f, 0)
        if n >= threshold:
            out.add("review", {"code": "identifier_reuse", "field": f, "accounts": n})
    return out, masked


class _Masked(Mapping[str, str]):
    """The sent identifiers' masked forms, made on first use: only a stored (flagged) check needs them.

    Masking parses a phone number again (phonenumbers); most checks are allowed and never stored.
    """

    def __init__(self, canonical: dict[str, str], pii: Any) -> None:
        # The hasher is taken now, in the request's app context; the masks may be read after it.
        self._canonical, self._pii = canonical, pii
        self._masked: dict[str, str] | None = None

    def _all(self) -> dict[str, str]:
        if self._masked is None:
            self._masked = {f: self._pii.mask(f, v) for f, v in self._canonical.items()}
        return self._masked

    def __getitem__(self, key: str) -> str:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._canonical)


def _identifiers(data: Mapping[str, Any], out: _Reasons) -> tuple[dict[str, str], Mapping[str, str]]:
    """Return the sent identifiers' keyed digests and masked forms; a malformed one is a reason."""
    pii = hasher()
    digests: dict[str, str] = {}
    canonicals: dict[str, str] = {}
    for f in IDENTIFIER_FIELDS:
        value = data.get(f)
        if value is None:
            continue
        try:
            canonical = normalize(f, value)
        except InvalidIdentifier as exc:
            # Not a review: POST /v1/accounts refuses the same malformed value (422), so no account can
            # be registered with an identifier this check could not look up. The message never holds it.
            out.add("allow", {"code": "invalid_identifier", "field": f, "message": exc.message})
            continue
        digests[f] = pii.digest(f, canonical)
        canonicals[f] = canonical
    return digests, _Masked(canonicals, pii)


def _name_facts(
    data: Mapping[str, Any], index: CheckIndex, now: datetime, settings: Settings, out: _Reasons
) -> list[evidence.Evidence]:
    """Return the names' matches with live bans as facts; the name rules' findings become reasons."""
    facts: list[evidence.Evidence] = []
    candidate_score = float(settings.name_review_score)
    prior_population = int(settings.name_prior_population)
    for f in NAME_FIELDS:
        name = data.get(f)
        if not name:
            continue
        key = name_key(name) or ""

        def live_pair(m: NameMatch, key: str = key) -> bool:
            return index.is_active(m.ban_id, now) and not index.is_suppressed(m.ban_id, key)

        matches = index.search_names(name, min_score=candidate_score, keep=live_pair)
        facts += evidence.name_facts(f, name, matches, index.key_accounts, index.key_bans, prior_population)
        for finding in index.policy.evaluate(name, field=f):
            out.add(
                finding.decision,
                {"code": finding.code, "field": finding.field, "rule": finding.rule, "term": finding.term},
            )
    return facts


def _avatar_facts(
    data: Mapping[str, Any], index: CheckIndex, now: datetime, settings: Settings, out: _Reasons
) -> list[evidence.Evidence]:
    """Return near-duplicates of live banned avatars as facts; QR and invalid-image reasons at once.

    registry/avatars/check.py: near-duplicates are evidence like names, confirmed with them.
    """
    max_distance = int(settings.avatar_max_distance)
    seen = check_avatar(
        data,
        index.search_avatars,
        max_distance=max_distance,
        qr_decision=settings.avatar_qr_decision,
        keep=lambda m: index.is_active(m.ban_id, now),
    )
    for decision, reason in seen.reasons:
        out.add(decision, reason)
    return [
        evidence.AvatarEvidence(ban_id, reason["field"], int(reason["distance"]), max_distance)
        for ban_id, _decision, reason in seen.pending
    ]


def _add_outcome(out: _Reasons, outcome: evidence.Outcome) -> None:
    """Add the evidence model's reasons, each with its ban's verdict (a common name only informs)."""
    for r in outcome.reasons:
        decision = "allow"
        for v in outcome.verdicts:
            if v.ban_id == r["ban_id"]:
                decision = v.decision
                break
        out.add(decision if r["code"] != "common_name" else "allow", r)


_readers: dict[tuple[int, int], sa.Engine] = {}
_readers_lock = threading.Lock()


def _reader() -> sa.Engine | None:
    """Return this process's autocommit engine for the check's read on PostgreSQL, else None.

    A read in the session's transaction costs three round trips (psycopg2's BEGIN, the query, the
    ROLLBACK at teardown); in autocommit it is one. The decision only reads, and each part of the
    query reads committed data, so no transaction is needed. Not when the app is bound to one
    connection (the test fixture's): uncommitted rows there are visible only through it.
    """
    bind = db.engine
    if not isinstance(bind, sa.Engine) or bind.dialect.name != "postgresql":
        return None
    key = (os.getpid(), id(bind))  # a forked worker must not use its parent's pooled connections
    reader = _readers.get(key)
    if reader is None:
        with _readers_lock:
            reader = _readers.get(key)
            if reader is None:
                url = bind.url.render_as_string(hide_password=False)
                # Autocommit: there is never a transaction to roll back when a connection is returned.
                reader = sa.create_engine(
                    url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **engine_options(url)
                )
                _readers[key] = reader
    return reader


def _row(tag: str, a: Any = None, b: Any = None, c: Any = None, n: Any = None) -> Any:
    """Return a select of the (tag, a, b, c, n) shape every part of the confirmation query shares."""

    def text(col: Any) -> Any:
        return sa.cast(sa.null(), sa.String) if col is None else col

    return sa.select(
        sa.literal(tag, sa.String).label("tag"),
        text(a).label("a"),
        text(b).label("b"),
        text(c).label("c"),
        (sa.literal(0, sa.Integer) if n is None else n).label("n"),
    )


@dataclass
class _Confirmed:
    """What the database said about a check's candidates."""

    identifiers: list[tuple[str, str, str]] = field(default_factory=list)
    active: set[str] = field(default_factory=set)
    reuse: dict[str, int] = field(default_factory=dict)


def _confirm_union(identifiers: bool, bans: bool, reuse: tuple[str, ...], among: Any) -> Any:
    """Build the confirmation query of this shape; ``among(column, name)`` is its list membership."""
    now = sa.bindparam("now", type_=sa.DateTime)
    parts: list[Any] = []
    if identifiers:
        parts.append(
            _row("i", BanIdentifier.kind, BanIdentifier.value_hash, sa.func.min(BanIdentifier.ban_id))
            .join(Ban, Ban.id == BanIdentifier.ban_id)
            .where(among(BanIdentifier.value_hash, "hashes"), _live(now))
            .group_by(BanIdentifier.kind, BanIdentifier.value_hash)
        )
    if bans:
        parts.append(_row("b", Ban.id).where(among(Ban.id, "ban_ids"), _live(now)))
    for f in reuse:
        parts.append(
            _row("r", sa.literal(f, sa.String), n=sa.func.count())
            .select_from(Account)
            .where(
                getattr(Account, f"{f}_hash") == sa.bindparam(f"reuse_{f}", type_=sa.String),
                Account.status != "purged",
            )
        )
    return parts[0] if len(parts) == 1 else sa.union_all(*parts)


_statements: dict[tuple[bool, bool, tuple[str, ...]], Any] = {}


def _confirm_statement(identifiers: bool, bans: bool, reuse: tuple[str, ...]) -> Any:
    """Return the confirmation query of this shape, built once: its values are bound at execution.

    Building the UNION with SQLAlchemy's expression language (and its cache key) cost about as much
    as the round trip itself; a check has one of a few dozen shapes.
    """
    key = (identifiers, bans, reuse)
    cached = _statements.get(key)
    if cached is None:
        cached = _statements[key] = _confirm_union(
            identifiers, bans, reuse, lambda col, name: col.in_(sa.bindparam(name, expanding=True))
        )
    return cached


_pg_statements: dict[tuple[bool, bool, tuple[str, ...]], tuple[str, dict[str, Any]]] = {}


def _pg_confirm_sql(identifiers: bool, bans: bool, reuse: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """Return the confirmation query of this shape compiled for psycopg2 once, and its constant binds.

    The lists are bound as arrays (``= ANY(%(hashes)s)``): one SQL text per shape whatever their length.
    """
    key = (identifiers, bans, reuse)
    cached = _pg_statements.get(key)
    if cached is not None:
        return cached
    from sqlalchemy.dialects import postgresql

    texts = postgresql.ARRAY(sa.String)
    built = _confirm_union(
        identifiers, bans, reuse, lambda col, name: col == sa.any_(sa.bindparam(name, type_=texts))
    )
    _pg_statements[key] = out = _pg_compile(built)
    return out


def _pg_compile(stmt: Any) -> tuple[str, dict[str, Any]]:
    """Compile a statement for psycopg2: its SQL text and the values it binds itself (its constants)."""
    from sqlalchemy.dialects import postgresql

    compiled = stmt.compile(dialect=postgresql.psycopg2.dialect())  # type: ignore[no-untyped-call]
    return str(compiled), {k: v for k, v in compiled.params.items() if v is not None}


def _pg_confirm(
    reader: sa.Engine, identifiers: bool, bans: bool, reuse: tuple[str, ...], params: dict[str, Any]
) -> list[Any]:
    """Run the confirmation query on a pooled psycopg2 connection directly (PostgreSQL, autocommit)."""
    sql, constants = _pg_confirm_sql(identifiers, bans, reuse)
    bound = dict(constants)
    bound.update(params)
    for k in ("hashes", "ban_ids"):
        if k in bound:
            bound[k] = list(bound[k])
    return _pg_execute(reader, sql, bound)


def _pg_execute(engine: sa.Engine, sql: str, params: dict[str, Any]) -> list[Any]:
    """Run one statement on a pooled psycopg2 connection directly (autocommit); return its rows.

    SQLAlchemy's Connection and result machinery (and compiling a statement of several CTEs) cost
    about as much per check as the round trip itself; a check is the hot path, so it speaks to the
    driver with SQL compiled once per shape. A failure is raised as SQLAlchemy's (a dropped
    connection as its OperationalError, so the 503 handler answers it) and a dropped connection is
    discarded from the pool.
    """
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()
    except engine.dialect.loaded_dbapi.Error as exc:
        if engine.dialect.is_disconnect(exc, raw.dbapi_connection, None):
            raw.invalidate(exc)
        raise sa.exc.DBAPIError.instance(sql, params, exc, engine.dialect.loaded_dbapi.Error) from exc
    finally:
        raw.close()


def _confirm(
    now: datetime,
    maybe: Mapping[str, str],
    ban_ids: set[str],
    reuse: Mapping[str, str],
) -> _Confirmed:
    """Ask the database everything a check needs in one round trip (none when there is nothing to ask).

    One UNION ALL of (tag, a, b, n) rows: Bloom hits confirmed against active bans, candidate bans
    still active, and how many accounts share each reusable identifier. (How many accounts hold a name
    is known in memory: the index's name key counts.)
    """
    out = _Confirmed()
    if not maybe and not ban_ids and not reuse:
        return out
    shape = (bool(maybe), bool(ban_ids), tuple(reuse))
    params: dict[str, Any] = {"now": now}
    if maybe:
        params["hashes"] = sorted(set(maybe.values()))
    if ban_ids:
        params["ban_ids"] = sorted(ban_ids)
    for f, digest in reuse.items():
        params[f"reuse_{f}"] = digest
    rows: Sequence[Any]
    reader = _reader()
    if reader is None:
        rows = db.session.execute(_confirm_statement(*shape), params).all()
    else:
        rows = _pg_confirm(reader, *shape, params)
    for tag, a, b, c, n in rows:
        if tag == "i":
            out.identifiers.append((a, b, c))
        elif tag == "b":
            out.active.add(a)
        else:
            out.reuse[a] = int(n)
    return out


def _confirm_many(asks: Sequence[_Ask]) -> list[_Confirmed]:
    """Answer many checks' confirmations with one query; each gets what _confirm would have told it."""
    outs = [_Confirmed() for _ in asks]
    hashes = sorted({h for _now, maybe, _b, _r in asks for h in maybe.values()})
    ban_ids = sorted({b for _now, _m, bans, _r in asks for b in bans})
    reuse: dict[str, set[str]] = {}
    for _now, _m, _b, wanted in asks:
        for f, digest in wanted.items():
            reuse.setdefault(f, set()).add(digest)
    if not hashes and not ban_ids and not reuse:
        return outs
    now = max(a[0] for a in asks)
    parts: list[Any] = []
    if hashes:
        parts.append(
            _row("i", BanIdentifier.kind, BanIdentifier.value_hash, sa.func.min(BanIdentifier.ban_id))
            .join(Ban, Ban.id == BanIdentifier.ban_id)
            .where(BanIdentifier.value_hash.in_(hashes), _live(now))
            .group_by(BanIdentifier.kind, BanIdentifier.value_hash)
        )
    if ban_ids:
        parts.append(_row("b", Ban.id).where(Ban.id.in_(ban_ids), _live(now)))
    for f in sorted(reuse):
        column = getattr(Account, f"{f}_hash")
        parts.append(
            _row("r", sa.literal(f, sa.String), column, n=sa.func.count())
            .select_from(Account)
            .where(column.in_(sorted(reuse[f])), Account.status != "purged")
            .group_by(column)
        )
    stmt: Any = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    reader = _reader()
    if reader is None:
        rows: Sequence[Any] = db.session.execute(stmt).all()
    else:
        with reader.connect() as conn:
            rows = conn.execute(stmt).all()
    identifiers: dict[str, list[tuple[str, str, str]]] = {}
    active: set[str] = set()
    counts: dict[tuple[str, str], int] = {}
    for tag, a, b, c, n in rows:
        if tag == "i":
            identifiers.setdefault(b, []).append((a, b, c))
        elif tag == "b":
            active.add(a)
        else:
            counts[(a, b)] = int(n)
    for out, (_now, maybe, bans, wanted) in zip(outs, asks, strict=True):
        for digest in sorted(set(maybe.values())):
            out.identifiers.extend(identifiers.get(digest, ()))
        out.active = active & bans
        out.reuse = {f: counts.get((f, digest), 0) for f, digest in wanted.items()}
    return outs


def run_check(data: Mapping[str, Any]) -> dict[str, Any]:
    """Answer POST /v1/check; store the check (and open a review) only when it is not allowed."""
    result, masked = decide(data, get_index())
    decision = result.decision
    # Counted in memory for the yearly report (allowed checks are not stored); written out later.
    note_check(decision, result.reasons)
    CHECK_DECISIONS.labels(decision=decision).inc()
    check_id = new_id("chk_")
    if decision != "allow":
        fields: dict[str, Any] = {
            # Stored with contact details masked (vx139****0002), as accounts store names.
            "username": mask_contacts(data.get("username")),
            "display_name": mask_contacts(data.get("display_name")),
            "masked": masked,
            "actor": current_actor(),
            "check_id": check_id,
        }
        writer = _reader()
        if writer is not None:
            # PostgreSQL: one statement in autocommit is one transaction and one round trip (no BEGIN,
            # no COMMIT of its own), holding its row locks only while it runs. A review's check, review
            # and review.opened event are one statement: the audit head, which positions the event,
            # is locked from its UPDATE to the commit, not across the three round trips a session
            # transaction takes (it serialised every flagged check of every worker).
            _record_autocommit(writer, decision, result.reasons, fields)
        else:
            # The decision was read-only; write in a fresh transaction that takes the write lock up
            # front, so SQLite never has to upgrade a read transaction (which fails at once under
            # contention), and holds it for two prepared inserts only.
            db.session.rollback()
            with writing():
                record_check(decision, result.reasons, **fields)
                db.session.commit()
    return {"decision": decision, "check_id": check_id, "reasons": result.reasons}


def _record_autocommit(
    writer: sa.Engine, decision: str, reasons: list[dict[str, Any]], fields: dict[str, Any]
) -> None:
    """Store a flagged check (and its review with its event) in one autocommit statement (PostgreSQL)."""
    sql, constants = _pg_record_sql(decision)
    check_id = fields["check_id"]
    params: dict[str, Any] = {
        **constants,
        "check_id": check_id,
        "at": utcnow(),
        "actor": fields["actor"],
        "decision": decision,
        "username": fields["username"],
        "display_name": fields["display_name"],
        "masked": json.dumps(dict(fields["masked"])),
        "reasons": json.dumps(list(reasons)),
    }
    if decision != "review":
        _pg_execute(writer, sql, params)
        return
    review_id = new_id("rev_")
    event = event_row(EventType.REVIEW_OPENED, f"review:{review_id}", _opened(review_id, check_id, reasons))
    params.update(event_params(event), review_id=review_id)
    if not _pg_execute(writer, sql, params):
        # No audit head row (a database nothing was ever audited in, or one a DBA emptied): the
        # statement wrote nothing at all (every insert selects from the head's UPDATE). The session's
        # path writes the three in one transaction, its commit recreating the head.
        db.session.rollback()
        with writing():
            record_check(decision, reasons, **fields)
            db.session.commit()


_pg_record: dict[str, tuple[str, dict[str, Any]]] = {}


def _pg_record_sql(decision: str) -> tuple[str, dict[str, Any]]:
    """Return the one statement storing a flagged check, compiled for psycopg2 once, and its constants.

    A deny: the check's INSERT. A review: the check's and the review's INSERTs as data-modifying CTEs
    of the review.opened event's (registry/events/service.py append_event_statement); the review's
    foreign key is checked at the end of the statement, when the check row exists.
    """
    kind = "review" if decision == "review" else "check"
    cached = _pg_record.get(kind)
    if cached is not None:
        return cached
    check_values, review_values = _stored_rows(
        check_id=sa.bindparam("check_id", type_=sa.String),
        at=sa.bindparam("at", type_=sa.DateTime),
        actor=sa.bindparam("actor", type_=sa.String),
        decision=sa.bindparam("decision", type_=sa.String),
        username=sa.bindparam("username", type_=sa.String),
        display_name=sa.bindparam("display_name", type_=sa.String),
        masked=sa.bindparam("masked", type_=sa.JSON),
        reasons=sa.bindparam("reasons", type_=sa.JSON),
        review_id=sa.bindparam("review_id", type_=sa.String),
    )
    stmt: Any = sa.insert(CheckRecord.__table__).values(**check_values)
    if kind == "review":
        head = event_head_cte()

        def from_head(table: Any, values: dict[str, Any]) -> Any:
            # INSERT ... SELECT ... FROM event_head: no head row, no row written.
            columns: list[Any] = [
                v if isinstance(v, sa.ClauseElement) else sa.literal(v, sa.String) for v in values.values()
            ]
            return sa.insert(table).from_select(list(values), sa.select(*columns).select_from(head))

        stmt = append_event_statement(
            head,
            from_head(CheckRecord.__table__, check_values).cte("new_check"),
            from_head(Review.__table__, review_values).cte("new_review"),
        )
    _pg_record[kind] = out = _pg_compile(stmt)
    return out


def _opened(review_id: str, check_id: str, reasons: list[dict[str, Any]]) -> dict[str, Any]:
    """Return a review.opened event's data: ids and the reasons as codes, fields and ban ids."""
    return {"review_id": review_id, "check_id": check_id, "reasons": review_reasons(reasons)}


def run_checks(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Answer POST /v1/check/batch: each item decided as run_check does; the flagged ones stored together.

    The answers are run_check's, in order; the checks worth keeping (and their reviews, with their
    review.opened events) are written in one transaction and one commit for the whole batch.
    """
    answers: list[dict[str, Any]] = []
    keep: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = []
    actor = current_actor()
    for data, (result, masked) in zip(items, decide_many(items, get_index()), strict=True):
        decision = result.decision
        note_check(decision, result.reasons)
        CHECK_DECISIONS.labels(decision=decision).inc()
        check_id = new_id("chk_")
        answers.append({"decision": decision, "check_id": check_id, "reasons": result.reasons})
        if decision != "allow":
            fields: dict[str, Any] = {
                "username": mask_contacts(data.get("username")),
                "display_name": mask_contacts(data.get("display_name")),
                "masked": masked,
                "actor": actor,
                "check_id": check_id,
            }
            keep.append((decision, result.reasons, fields))
    if keep:
        db.session.rollback()
        with writing():
            for decision, reasons, fields in keep:
                record_check(decision, reasons, **fields)
            db.session.commit()
    return answers


def _record_statements(
    dialect: str,
    decision: str,
    reasons: list[dict[str, Any]],
    *,
    username: str | None,
    display_name: str | None,
    masked: Mapping[str, str],
    actor: str,
    check_id: str,
    review_id: str | None = None,
) -> list[Any]:
    """Return the Core inserts storing a check and, for a review, its open review (one on PostgreSQL)."""
    check_values, review_values = _stored_rows(
        check_id=check_id,
        at=utcnow(),
        actor=actor,
        decision=decision,
        username=username,
        display_name=display_name,
        masked=dict(masked),
        reasons=list(reasons),
        review_id=review_id or new_id("rev_"),
    )
    check = sa.insert(CheckRecord.__table__).values(**check_values)
    if decision != "review":
        return [check]
    review = sa.insert(Review.__table__).values(**review_values)
    if dialect == "postgresql":
        # The check's INSERT rides along as a data-modifying CTE: one statement, one round trip. The
        # review's foreign key is checked at the end of the statement, when the check row exists.
        return [review.add_cte(check.cte("new_check"))]
    return [check, review]


def _stored_rows(
    *,
    check_id: Any,
    at: Any,
    actor: Any,
    decision: Any,
    username: Any,
    display_name: Any,
    masked: Any,
    reasons: Any,
    review_id: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the column values of a stored check and of its open review: values, or bound parameters.

    One list of columns for every way a flagged check is written (the session's inserts and the
    one autocommit statement compiled for psycopg2).
    """
    check = {
        "id": check_id,
        "at": at,
        "actor": actor,
        "decision": decision,
        "username": username,
        "display_name": display_name,
        "masked": masked,
        "reasons": reasons,
    }
    review = {
        "id": review_id,
        "check_id": check_id,
        # Explicit: the column's Python default is not applied to the CTE forms used on PostgreSQL.
        "kind": "signup",
        "status": "open",
        "reasons": reasons,
        "username": username,
        "display_name": display_name,
        "created_at": at,
    }
    return check, review


def live_name_policy() -> NamePolicy:
    """The name rules as the check index holds them, caught up with the change log (accounts' hook).

    A just-verified organisation's name is then protected for account names too.
    """
    index = get_index()
    index.maybe_sync()
    return index.policy


def file_name_review(
    reasons: list[dict[str, Any]], *, username: str | None, display_name: str | None, actor: str
) -> str:
    """File an account name held for review as a review check with its open review (accounts' hook)."""
    return record_check(
        "review", reasons, username=username, display_name=display_name, masked={}, actor=actor
    )


def record_check(
    decision: str,
    reasons: list[dict[str, Any]],
    *,
    username: str | None,
    display_name: str | None,
    masked: Mapping[str, str],
    actor: str,
    check_id: str | None = None,
) -> str:
    """Store a review/deny check and open a review when the decision is review; return its id.

    Core inserts in the current transaction (no ORM unit of work, no flush); the caller commits.
    """
    check_id = check_id or new_id("chk_")
    review_id = new_id("rev_")
    dialect = db.session.get_bind().dialect.name
    for stmt in _record_statements(
        dialect,
        decision,
        reasons,
        username=username,
        display_name=display_name,
        masked=masked,
        actor=actor,
        check_id=check_id,
        review_id=review_id,
    ):
        db.session.execute(stmt)
    if decision == "review":
        # The webhook outbox, in the review's own transaction (reasons as codes, fields and ban ids).
        emit_event(
            db.session(),
            EventType.REVIEW_OPENED,
            f"review:{review_id}",
            _opened(review_id, check_id, reasons),
        )
    return check_id


def init_app(app: Flask) -> None:
    """Register the readiness probe; the index itself is built on first use, not here."""
    add_probe(app, readiness_probe)
