"""Verification documents in."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.accounts.models import VERIFICATION_STATUSES
from registry.schemas import RULE_CODE

# What a verification may rest on (互联网用户账号信息管理规定): a mobile number, an identity
# number, or an organisation's Unified Social Credit Code; "manual" for documents checked by staff.
METHODS = ("id_card", "phone", "uscc", "manual")


class EntityIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=256))
    uscc = fields.String(required=True, validate=validate.Length(min=1, max=64))


class VerificationIn(Schema):
    status = fields.String(required=True, validate=validate.OneOf(VERIFICATION_STATUSES))
    method = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(METHODS))
    id_number = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=64),
        metadata={"description": "Checked per GB 11643; stored only as a keyed hash and a mask."},
    )
    entity = fields.Nested(EntityIn, load_default=None, allow_none=True)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    rule = fields.String(
        load_default=None,
        allow_none=True,
        validate=RULE_CODE,
        metadata={"description": "Required for rejected/revoked when a rules catalogue is configured."},
    )
