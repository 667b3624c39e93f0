"""Review documents in and out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.reviews.models import OUTCOMES, REVIEW_KINDS, REVIEW_STATUSES
from registry.schemas import RULE_CODE, PageArgs, UtcDateTime


class ReviewOut(Schema):
    id = fields.String()
    kind = fields.String(
        metadata={
            "description": "signup (a check answered review) or backcheck (an account matched a new ban)."
        }
    )
    check_id = fields.String(allow_none=True, metadata={"description": "None for a back-check review."})
    matched_ban_id = fields.String(
        allow_none=True, metadata={"description": "A back-check review's new ban the account matched."}
    )
    created_at = UtcDateTime()
    reasons = fields.List(fields.Dict())
    username = fields.String(allow_none=True)
    display_name = fields.String(allow_none=True)
    account_id = fields.String(
        allow_none=True, metadata={"description": "Tied by POST /v1/accounts check_id."}
    )
    status = fields.String()
    assignee = fields.String(allow_none=True)
    claimed_at = UtcDateTime(allow_none=True)
    resolved_at = UtcDateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    ban_id = fields.String(allow_none=True, metadata={"description": "The ban a confirmed review made."})


class ReviewListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(REVIEW_STATUSES))
    kind = fields.String(validate=validate.OneOf(REVIEW_KINDS))
    assignee = fields.String()


class ReviewPage(Schema):
    items = fields.List(fields.Nested(ReviewOut))
    next = fields.String(allow_none=True)


class ClaimIn(Schema):
    force = fields.Boolean(load_default=False, metadata={"description": "Take over someone else's claim."})


class ResolveIn(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))
    rule = fields.String(
        load_default=None,
        allow_none=True,
        validate=RULE_CODE,
        metadata={"description": "Rule to cite for a confirmed ban (default: the matched ban's rule)."},
    )
