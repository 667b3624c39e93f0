"""Ban documents in and out."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from registry.schemas import RULE_CODE, PageArgs, UtcDateTime

BAN_VIEW_STATUSES = ("active", "lifted", "expired")
# Caps keep one ban (and one import line) from carrying unbounded work.
MAX_PER_FIELD = 100
MAX_NAMES = 50
MAX_AVATARS = 10
NAME = validate.Length(min=1, max=256)


def _identifier_list() -> fields.List[str]:
    return fields.List(fields.String(), load_default=list, validate=validate.Length(max=MAX_PER_FIELD))


class BanIdentifiersIn(Schema):
    email = _identifier_list()
    phone = _identifier_list()
    id_number = _identifier_list()
    device_id = _identifier_list()
    ip = fields.List(
        fields.String(),
        load_default=list,
        validate=validate.Length(max=MAX_PER_FIELD),
        metadata={"description": "Addresses or CIDR ranges (IPv4 /8 or narrower, IPv6 /16 or narrower)."},
    )


class BanIn(Schema):
    account_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=128))
    identifiers = fields.Nested(BanIdentifiersIn, load_default=dict)
    names = fields.List(
        fields.String(validate=NAME), load_default=list, validate=validate.Length(max=MAX_NAMES)
    )
    avatars = fields.List(
        fields.String(),
        load_default=list,
        validate=validate.Length(max=MAX_AVATARS),
        metadata={
            "description": "Avatars to ban: base64 images (hashed, never stored) or PDQ hashes (64 hex)."
        },
    )
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    rule = fields.String(required=True, validate=RULE_CODE)
    expires_at = UtcDateTime(load_default=None, allow_none=True)

    @validates_schema
    def _covers_something(self, data: dict[str, Any], **_kwargs: Any) -> None:
        idents = data.get("identifiers") or {}
        if (
            not data.get("account_id")
            and not data.get("names")
            and not any(idents.values())
            and not data.get("avatars")
        ):
            raise ValidationError(
                "Give at least one of account_id, identifiers, names, avatars.", "account_id"
            )


class BanCreateIn(BanIn):
    """POST /v1/bans: an import line's document, and the ban on the registrant (not by import)."""

    registrant = fields.Boolean(
        load_default=False,
        metadata={
            "description": "With account_id: also ban every account of its registrant (same identity "
            "number or USCC, or sharing its phone or ID number); listed in accounts."
        },
    )

    @validates_schema
    def _registrant_needs_account(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("registrant") and not data.get("account_id"):
            raise ValidationError("A ban on the registrant needs the account_id.", "registrant")


class LiftIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class BanOut(Schema):
    id = fields.String()
    status = fields.Method("_status", metadata={"description": "active, lifted or expired."})
    account_id = fields.String(allow_none=True)
    reason = fields.String()
    rule = fields.String()
    expires_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    created_by = fields.String()
    lifted_at = UtcDateTime(allow_none=True)
    lifted_by = fields.String(allow_none=True)
    lift_reason = fields.String(allow_none=True)
    source = fields.String()
    identifiers = fields.Method(
        "_identifiers",
        metadata={"description": "Masked forms by kind (ip_range too: 198.51.100.*/31); never raw values."},
    )
    names = fields.Method("_names")
    avatars = fields.Method("_avatars", metadata={"description": "PDQ hashes of the banned avatars."})
    registrant = fields.Method("_registrant", metadata={"description": "A ban on the account's registrant."})
    accounts = fields.Method(
        "_accounts",
        metadata={
            "description": "A registrant ban's accounts, each with what ties it (account, id_number, "
            "uscc, phone); empty for other bans."
        },
    )

    def _status(self, ban: Any) -> str:
        from registry.bans.service import view_status

        return view_status(ban)

    def _identifiers(self, ban: Any) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for ident in ban.identifiers:
            shown = ident.mask
            out.setdefault(ident.kind, []).append(shown or "****")
        return out

    def _names(self, ban: Any) -> list[str]:
        return [n.name for n in ban.names]

    def _registrant(self, ban: Any) -> bool:
        return bool(ban.covered)

    def _accounts(self, ban: Any) -> list[dict[str, Any]]:
        return [
            {"account_id": c.account_id, "via": c.via.split(",")}
            for c in sorted(ban.covered, key=lambda c: c.account_id)
        ]

    def _avatars(self, ban: Any) -> list[dict[str, str]]:
        return [{"hash": a.hash, "kind": a.kind} for a in ban.avatars]


class BanListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(BAN_VIEW_STATUSES))
    account_id = fields.String(validate=validate.Length(min=1, max=128))
    rule = fields.String(validate=RULE_CODE)


class BanPage(Schema):
    items = fields.List(fields.Nested(BanOut))
    next = fields.String(allow_none=True)
