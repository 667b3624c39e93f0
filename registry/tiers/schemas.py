"""Tier documents in and out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.schemas import RULE_CODE, UtcDateTime

TEXT = validate.Length(min=1, max=2000)
TIER = validate.Length(min=1, max=32)


class TierIn(Schema):
    tier = fields.String(required=True, validate=TIER)
    reason = fields.String(required=True, validate=TEXT)
    rule = fields.String(required=True, validate=RULE_CODE)


class UnpinIn(Schema):
    reason = fields.String(required=True, validate=TEXT)


class TierChangeOut(Schema):
    from_ = fields.String(attribute="from_tier", data_key="from", allow_none=True)
    to = fields.String(attribute="to_tier")
    reason = fields.String()
    rule = fields.String(allow_none=True)
    actor = fields.String()
    at = UtcDateTime()
    automatic = fields.Boolean()


class TierHistory(Schema):
    items = fields.List(fields.Nested(TierChangeOut))


class BulkItem(Schema):
    account_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    tier = fields.String(required=True, validate=TIER)


class BulkTierIn(Schema):
    changes = fields.List(fields.Nested(BulkItem), required=True, validate=validate.Length(min=1, max=1000))
    reason = fields.String(required=True, validate=TEXT)
    rule = fields.String(required=True, validate=RULE_CODE)


class BulkTierOut(Schema):
    changed = fields.List(fields.String(), metadata={"description": "Accounts that moved."})
    unchanged = fields.List(
        fields.String(), metadata={"description": "Accounts already on that tier (now pinned)."}
    )


class RuleOut(Schema):
    code = fields.String()
    title = fields.String()
    actions = fields.List(fields.String())


class RuleList(Schema):
    configured = fields.Boolean(
        metadata={"description": "False when no catalogue is configured: any rule code is accepted."}
    )
    items = fields.List(fields.Nested(RuleOut))
