"""Account documents in and out."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from registry.accounts.models import ACCOUNT_TYPES, STATUSES, VERIFICATION_STATUSES, Account
from registry.schemas import PageArgs, UtcDateTime

NAME = validate.Length(min=1, max=128)


def addressable_id(value: str) -> None:
    """Refuse ids that no URL /v1/accounts/{id} can reach: the account could never be read again."""
    # A "/" (even as %2F) splits the path; "." and ".." are removed by clients as dot segments.
    if "/" in value or value in {".", ".."}:
        raise ValidationError('Must not contain "/" or be "." or "..": it could not be used in a URL.')


def _avatar_fields() -> tuple[fields.String, fields.String]:
    return (
        fields.String(
            load_default=None,
            allow_none=True,
            metadata={
                "description": "The avatar as base64 (PNG, JPEG, WebP or GIF's first frame; at most 512 KiB "
                "decoded and 4096x4096): hashed in memory, never stored."
            },
        ),
        fields.String(
            load_default=None,
            allow_none=True,
            metadata={"description": "Or the avatar's PDQ hash, 64 hex digits (README, Avatars)."},
        ),
    )


def _one_avatar(data: dict[str, object]) -> None:
    if data.get("avatar") is not None and data.get("avatar_hash") is not None:
        raise ValidationError("Give avatar or avatar_hash, not both.", "avatar")


class AccountIn(Schema):
    id = fields.String(required=True, validate=[validate.Length(min=1, max=128), addressable_id])
    username = fields.String(required=True, validate=NAME)
    display_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=256))
    email = fields.String(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True)
    id_number = fields.String(load_default=None, allow_none=True)
    device_id = fields.String(load_default=None, allow_none=True)
    ip = fields.String(load_default=None, allow_none=True)
    account_type = fields.String(load_default="personal", validate=validate.OneOf(ACCOUNT_TYPES))
    registered_at = UtcDateTime(load_default=None, allow_none=True)
    check_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    news_licensed = fields.Boolean(load_default=False)
    avatar, avatar_hash = _avatar_fields()

    @validates_schema
    def _one_avatar(self, data: dict[str, object], **_kwargs: object) -> None:
        _one_avatar(data)


class VerificationOut(Schema):
    status = fields.String(attribute="verification_status")
    method = fields.String(attribute="verification_method", allow_none=True)
    verified_at = UtcDateTime(allow_none=True)
    expires_at = UtcDateTime(attribute="verification_expires_at", allow_none=True)


class AccountOut(Schema):
    id = fields.String()
    username = fields.String(allow_none=True)
    display_name = fields.String(allow_none=True)
    account_type = fields.String()
    status = fields.String()
    tier = fields.String()
    tier_pinned = fields.Boolean()
    credit = fields.Method(
        "_credit", metadata={"type": "integer", "description": "Effective credit 0-100, recovery included."}
    )
    news_licensed = fields.Boolean()
    verification = fields.Method("_verification")
    identifiers = fields.Method("_identifiers", metadata={"description": "Masked forms only."})
    avatar_hash = fields.String(allow_none=True, metadata={"description": "PDQ hash of the avatar, if any."})
    registered_at = UtcDateTime()
    last_active_at = UtcDateTime(allow_none=True)
    status_changed_at = UtcDateTime(allow_none=True)
    purged_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    name_flags = fields.Method(
        "_name_flags",
        metadata={
            "description": "Name-rule findings of this create or rename (decision review: let through, "
            "queued for staff); empty on reads.",
            "type": "array",
            "items": {"type": "object"},
        },
    )

    def _credit(self, account: Account) -> int:
        from registry.credit.service import effective_credit

        return effective_credit(account)

    def _name_flags(self, account: Account) -> list[dict[str, str]]:
        return list(getattr(account, "name_flags", None) or [])

    def _verification(self, account: Account) -> dict[str, object]:
        dumped: dict[str, object] = VerificationOut().dump(account)
        return dumped

    def _identifiers(self, account: Account) -> dict[str, str]:
        from registry.accounts.models import IDENTIFIER_FIELDS

        masks = {f: getattr(account, f"{f}_mask") for f in IDENTIFIER_FIELDS}
        return {f: m for f, m in masks.items() if m}


class AccountPatch(Schema):
    username = fields.String(validate=NAME)
    display_name = fields.String(allow_none=True, validate=validate.Length(max=256))
    news_licensed = fields.Boolean()
    # null removes the avatar.
    avatar = fields.String(allow_none=True, metadata={"description": "New avatar, base64; null removes it."})
    avatar_hash = fields.String(allow_none=True, metadata={"description": "Or its PDQ hash (64 hex digits)."})

    @validates_schema
    def _not_empty(self, data: dict[str, object], **_kwargs: object) -> None:
        if not data:
            raise ValidationError(
                "Give at least one of username, display_name, news_licensed, avatar, avatar_hash.", "_schema"
            )
        _one_avatar(data)


class AccountListArgs(PageArgs):
    tier = fields.String()
    status = fields.String(validate=validate.OneOf(STATUSES))
    account_type = fields.String(validate=validate.OneOf(ACCOUNT_TYPES))
    verification = fields.String(validate=validate.OneOf(VERIFICATION_STATUSES))


class AccountPage(Schema):
    items = fields.List(fields.Nested(AccountOut))
    next = fields.String(allow_none=True)
