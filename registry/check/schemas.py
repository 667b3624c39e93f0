"""Signup check documents in and out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.accounts.models import ACCOUNT_TYPES

DECISIONS = ("allow", "review", "deny")


def _identifier() -> fields.String:
    # Length is not capped here: a malformed identifier is a reason (invalid_identifier), never an error.
    return fields.String(load_default=None, allow_none=True)


class CheckIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=128))
    display_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=256))
    email = _identifier()
    phone = _identifier()
    id_number = _identifier()
    device_id = _identifier()
    ip = _identifier()
    account_type = fields.String(load_default="personal", validate=validate.OneOf(ACCOUNT_TYPES))
    # Not validated here: a bad image is a reason (invalid_avatar), never an error.
    avatar = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "The avatar as base64 (PNG, JPEG, WebP, GIF; at most 512 KiB, 4096x4096)."},
    )
    avatar_hash = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "Or its PDQ hash as 64 hex digits (README, Avatars); ignored with avatar."},
    )
    # Checked in registry/avatars/check.py like avatar_hash (a bad one is an invalid_avatar reason).
    avatar_probe_hashes = fields.List(
        fields.String(),
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=16),
        metadata={
            "description": "With avatar_hash: up to 16 more PDQ hashes to probe with (mirror, crops; "
            "README, Avatars), so a hash-only check gets the tolerance an image gets."
        },
    )


class CommonnessOut(Schema):
    accounts = fields.Integer()
    bans = fields.Integer()


class ReasonOut(Schema):
    code = fields.String(
        metadata={
            "description": "banned_identifier, similar_to_banned_name, invalid_identifier, identifier_reuse, "
            "common_name (informational), similar_to_banned_avatar, qr_code_in_avatar, invalid_avatar, "
            "or a name-policy code (impersonation, prohibited_term, "
            "contact_in_name, news_word, strict_review_word)."
        }
    )
    field = fields.String()
    ban_id = fields.String()
    score = fields.Float()
    matched = fields.String()
    rule = fields.String()
    term = fields.String()
    accounts = fields.Integer()
    message = fields.String()
    distance = fields.Integer(metadata={"description": "Avatar hash distance in bits (of 256)."})
    tricks = fields.List(
        fields.String(),
        metadata={
            "description": "Disguises the name match took: traditional, pinyin, homophone, reordered, "
            "split_char, typo, digits_changed, separator, confusable, affix, leet, fullwidth, invisible, "
            "case, folded, extra_part (a middle initial or given name put in), fuzzy."
        },
    )
    commonness = fields.Nested(
        CommonnessOut,
        metadata={"description": "How many accounts in good standing and bans hold the matched name key."},
    )


class CheckOut(Schema):
    decision = fields.String(metadata={"description": "allow, review or deny."})
    check_id = fields.String()
    reasons = fields.List(fields.Nested(ReasonOut))
