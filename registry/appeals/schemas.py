"""Appeal documents in and out."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from registry.appeals.models import OUTCOMES
from registry.appeals.service import STATUSES
from registry.schemas import PageArgs, UtcDateTime


class AppealIn(Schema):
    account_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    ban_id = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    violation_id = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    statement = fields.String(required=True, validate=validate.Length(min=1, max=4000))

    @validates_schema
    def _one_decision(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if bool(data.get("ban_id")) == bool(data.get("violation_id")):
            message = "Give exactly one of ban_id and violation_id."
            raise ValidationError({"ban_id": [message], "violation_id": [message]})


class DecideIn(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))
    force = fields.Boolean(
        load_default=False,
        metadata={"description": "An admin deciding an appeal of their own decision must say so."},
    )


class AppealListArgs(PageArgs):
    status = fields.String(
        load_default=None,
        validate=validate.OneOf(STATUSES),
        metadata={"description": "open (not yet due), overdue (open past due_at) or decided."},
    )
    account_id = fields.String(load_default=None, validate=validate.Length(min=1, max=128))


class AppealOut(Schema):
    id = fields.String()
    account_id = fields.String()
    ban_id = fields.String(allow_none=True)
    violation_id = fields.String(allow_none=True)
    statement = fields.String()
    status = fields.String(metadata={"description": "open, overdue or decided."})
    due_at = UtcDateTime(metadata={"description": "Past this an open appeal is overdue."})
    decision_by = fields.String(metadata={"description": "Who made the decision under appeal."})
    decision_at = UtcDateTime(metadata={"description": "When the decision under appeal was made."})
    opened_at = UtcDateTime()
    opened_by = fields.String()
    outcome = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    decided_at = UtcDateTime(allow_none=True)
    decided_by = fields.String(allow_none=True)
    forced = fields.Boolean()


class AppealDecided(AppealOut):
    ban_status = fields.String(allow_none=True, metadata={"description": "The ban's status after a grant."})
    credit = fields.Integer(allow_none=True, metadata={"description": "The account's credit after a grant."})
    tier = fields.String(allow_none=True, metadata={"description": "The account's tier after a grant."})
    tier_changed_to = fields.String(
        allow_none=True, metadata={"description": "The tier the restored credit moved the account to."}
    )


class AppealPage(Schema):
    items = fields.List(fields.Nested(AppealOut))
    next = fields.String(allow_none=True)
