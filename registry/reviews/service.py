"""The review queue: list, claim and resolve the checks that answered ``review``.

Decisions taken here:
- The queue is oldest first, by (created_at, id).
- Claiming an open review sets the assignee to the key's name; claiming one already claimed by
  someone else is 409 unless ``force`` is given (the take-over is audited with the previous
  assignee). Claiming one's own claim again changes nothing.
- Resolving does not require a claim first; it records who resolved it. A resolved review is final:
  resolving or claiming it again is 409.
- ``confirmed`` needs a tied account (409 otherwise: there is nothing to ban; ban the names
  directly with POST /v1/bans). It bans that account citing the rule of the matched ban (the
  highest-scoring ``similar_to_banned_name`` reason, else any reason naming a ban, else a reason's
  own ``rule``); the body's ``rule`` overrides that. No rule to cite: 422 naming ``rule``.
- ``false_positive`` stores a (ban, name key) suppression for every ``similar_to_banned_name``
  reason, and logs a ban-suppressed change so every worker's check index reloads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError

from registry import rules
from registry.accounts.models import Account
from registry.accounts.service import name_key
from registry.audit.service import record
from registry.bans.models import Ban
from registry.check.models import CheckRecord
from registry.db import get_or_404
from registry.domain_errors import Conflict, InvalidCursor, InvalidField
from registry.extensions import db
from registry.index_changes import ChangeKind, notify_index_changed
from registry.locking import lock_accounts
from registry.reviews.models import NameSuppression, Review
from registry.schemas import decode_cursor, encode_cursor
from registry.timeutil import to_aware, to_naive_utc, utcnow

NAME_REASON = "similar_to_banned_name"


def get_review(review_id: str, *, for_update: bool = False) -> Review:
    """Return the review or abort with 404."""
    return get_or_404(Review, review_id, "review", for_update=for_update)


def list_reviews(args: Mapping[str, Any]) -> tuple[list[Review], str | None]:
    """Return one page of the queue, oldest first, optionally of one status, and the next cursor."""
    stmt = sa.select(Review)
    if args.get("status"):
        stmt = stmt.where(Review.status == args["status"])
    if args.get("assignee"):
        stmt = stmt.where(Review.assignee == args["assignee"])
    if args.get("kind"):
        stmt = stmt.where(Review.kind == args["kind"])
    if args.get("cursor"):
        try:
            at_text, after_id = decode_cursor(args["cursor"])
            after_at = to_naive_utc(datetime.fromisoformat(str(at_text)))
        except (ValidationError, ValueError, TypeError, OverflowError):
            raise InvalidCursor() from None
        stmt = stmt.where(
            sa.or_(
                Review.created_at > after_at,
                sa.and_(Review.created_at == after_at, Review.id > str(after_id)),
            )
        )
    limit = args.get("limit", 100)
    rows = list(db.session.scalars(stmt.order_by(Review.created_at, Review.id).limit(limit + 1)))
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        at = to_aware(last.created_at)
        assert at is not None
        nxt = encode_cursor([at.isoformat(timespec="microseconds"), last.id])
    return rows[:limit], nxt


def _audit_data(review: Review, **extra: Any) -> dict[str, Any]:
    return {"check_id": review.check_id, "account_id": review.account_id, "status": review.status, **extra}


def claim_review(review_id: str, *, force: bool, actor: str) -> Review:
    """Take a review; 409 if resolved, or claimed by someone else without ``force``; commit."""
    review = get_review(review_id, for_update=True)
    if review.status == "resolved":
        raise Conflict(f"Review {review_id!r} is resolved already ({review.outcome}).")
    if review.status == "claimed" and review.assignee == actor:
        return review
    previous = review.assignee if review.status == "claimed" else None
    if previous is not None and not force:
        raise Conflict(
            f'Review {review_id!r} is claimed by {previous!r}; send "force": true to take it over.'
        )
    review.status = "claimed"
    review.assignee = actor
    review.claimed_at = utcnow()
    record(
        "review.claim", f"review:{review.id}", _audit_data(review, previous_assignee=previous), actor=actor
    )
    db.session.commit()
    return review


def _cited_ban(review: Review) -> tuple[str | None, str | None]:
    """Return (ban id, rule) the review's reasons point at: the best name match first."""
    reasons = [r for r in review.reasons or [] if isinstance(r, dict)]
    named = sorted(
        (r for r in reasons if r.get("code") == NAME_REASON and r.get("ban_id")),
        key=lambda r: -float(r.get("score") or 0),
    )
    others = [r for r in reasons if r.get("code") != NAME_REASON and r.get("ban_id")]
    for reason in named + others:
        ban = db.session.get(Ban, str(reason["ban_id"]))
        if ban is not None:
            return ban.id, ban.rule
    for reason in reasons:
        if reason.get("rule"):
            return None, str(reason["rule"])
    return None, None


def _lock_review_and_account(review_id: str) -> Review:
    """Lock a review's tied account, then the review (registry/locking.py: accounts before reviews)."""
    while True:
        account_id = get_review(review_id).account_id
        if account_id is not None:
            lock_accounts([account_id])
        review = get_review(review_id, for_update=True)
        db.session.refresh(review)
        if review.account_id == account_id:
            return review
        # Tied to an account meanwhile (it only ever goes from none to one): start again, unlocked.
        db.session.rollback()


def resolve_review(review_id: str, data: Mapping[str, Any], *, actor: str) -> Review:
    """Close a review as confirmed (ban the tied account) or false_positive (suppress the pair); commit."""
    review = _lock_review_and_account(review_id)
    if review.status == "resolved":
        raise Conflict(f"Review {review_id!r} is resolved already ({review.outcome}).")
    outcome = data["outcome"]
    now = utcnow()
    extra: dict[str, Any] = {"outcome": outcome, "note": data.get("note")}
    suppressed: list[str] = []
    if outcome == "confirmed":
        if review.account_id is None:
            raise Conflict(
                f"Review {review_id!r} has no tied account to ban: the account was never created with "
                f"this check_id. Resolve it as false_positive, or ban the names with POST /v1/bans.",
            )
        cited_ban, rule = _cited_ban(review)
        rule = data.get("rule") or rule
        if not rule:
            raise InvalidField("rule", "Nothing to cite: give the rule.")
        rules.check_rule(rule, "ban")
        from registry.bans.service import ban_account

        ban = ban_account(
            review.account_id,
            reason=f"review {review.id} confirmed" + (f": {data['note']}" if data.get("note") else ""),
            rule=rule,
            actor=actor,
            source="review",
        )
        review.ban_id = ban.id
        extra.update(ban_id=ban.id, rule=rule, matched_ban_id=cited_ban)
    else:
        suppressed = _suppress(review, actor=actor, now=now)
        extra["suppressed_ban_ids"] = suppressed
    review.status = "resolved"
    review.outcome = outcome
    review.note = data.get("note")
    review.resolved_at = now
    review.resolved_by = actor
    if review.assignee is None:
        review.assignee, review.claimed_at = actor, now
    record("review.resolve", f"review:{review.id}", _audit_data(review, **extra), actor=actor)
    db.session.commit()
    return review


def _suppress(review: Review, *, actor: str, now: datetime) -> list[str]:
    """Store the (ban, name) pairs of the review's name matches; return the bans touched."""
    names = {"username": review.username, "display_name": review.display_name}
    pairs: dict[tuple[str, str], None] = {}
    for reason in review.reasons or []:
        if not isinstance(reason, dict) or reason.get("code") != NAME_REASON or not reason.get("ban_id"):
            continue
        key = name_key(names.get(str(reason.get("field"))))
        if key:
            pairs[(str(reason["ban_id"]), key)] = None
    if not pairs:
        return []
    stmt = sa.select(NameSuppression.ban_id, NameSuppression.name_key).where(
        sa.tuple_(NameSuppression.ban_id, NameSuppression.name_key).in_(list(pairs))
    )
    existing = {(row.ban_id, row.name_key) for row in db.session.execute(stmt)}
    fresh = [p for p in pairs if p not in existing]
    for ban_id, key in fresh:
        db.session.add(
            NameSuppression(
                ban_id=ban_id, name_key=key, review_id=review.id, created_at=now, created_by=actor
            )
        )
    bans = sorted({ban_id for ban_id, _ in pairs})
    for ban_id in bans:
        notify_index_changed(db.session, ChangeKind.BAN_SUPPRESSED, ban_id)
        record(
            "ban.suppress",
            f"ban:{ban_id}",
            {"review_id": review.id, "name_keys": sorted(k for b, k in pairs if b == ban_id)},
            actor=actor,
        )
    db.session.flush()
    return bans


def lock_check_review(check_id: str) -> None:
    """Lock the review opened by a check, if any (before the audit head: registry/locking.py)."""
    db.session.execute(sa.select(Review.id).where(Review.check_id == check_id).with_for_update()).all()


def tie_check(account: Account, check_id: str, *, actor: str) -> None:
    """Tie a new account to its signup check's review; 422 naming check_id if the check is unknown."""
    check = db.session.get(CheckRecord, check_id)
    if check is None:
        raise InvalidField("check_id", f"No check {check_id!r} is on record.")
    review = db.session.scalar(sa.select(Review).where(Review.check_id == check_id).with_for_update())
    if review is None:
        # A deny check keeps no review; the account still carries its check_id.
        return
    if review.account_id is not None and review.account_id != account.id:
        raise Conflict(
            f"Check {check_id!r} is tied to account {review.account_id!r} already.",
            {"json": {"check_id": ["Each check ties to one account."]}},
        )
    review.account_id = account.id
    record("review.tie", f"review:{review.id}", _audit_data(review), actor=actor)
