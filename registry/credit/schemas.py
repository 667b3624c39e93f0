"""Violation documents in and out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.credit.models import SEVERITIES
from registry.schemas import RULE_CODE, UtcDateTime


class ViolationIn(Schema):
    rule = fields.String(required=True, validate=RULE_CODE)
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))


class ViolationOut(Schema):
    id = fields.String()
    account_id = fields.String()
    rule = fields.String()
    severity = fields.String()
    note = fields.String(allow_none=True)
    deduction = fields.Integer(metadata={"description": "Points actually taken (never below a credit of 0)."})
    actor = fields.String()
    at = UtcDateTime()
    voided_at = UtcDateTime(
        allow_none=True,
        metadata={"description": "When an appeal voided it and its deduction was given back."},
    )


class ViolationCreated(ViolationOut):
    credit = fields.Integer(metadata={"description": "The account's credit after this violation."})
    tier = fields.String(metadata={"description": "The account's tier after this violation."})
    tier_changed_to = fields.String(
        allow_none=True, metadata={"description": "The tier credit moved the account to, if it moved."}
    )


class ViolationList(Schema):
    items = fields.List(fields.Nested(ViolationOut))
