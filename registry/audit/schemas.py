"""Audit entries out, and the filters of the audit listing."""

from __future__ import annotations

from datetime import datetime

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from registry.schemas import PageArgs, UtcDateTime


class AuditEntryOut(Schema):
    seq = fields.Integer()
    at = UtcDateTime()
    actor = fields.String()
    action = fields.String()
    subject = fields.String()
    data = fields.Dict()
    erased = fields.List(
        fields.String(),
        metadata={
            "description": "Personal fields of `data` erased by a purge (crypto-shredded): shown as null."
        },
    )
    prev_hash = fields.String()
    hash = fields.String()


class AuditListArgs(PageArgs):
    subject = fields.String(metadata={"description": "Exact subject, e.g. `account:u1` or `ban:<id>`."})
    actor = fields.String(metadata={"description": "Name of the key (or CLI operator) that made the change."})
    action = fields.String(
        metadata={"description": "e.g. `account.create`, `tier.change`, `violation.create`."}
    )
    since = UtcDateTime(metadata={"description": "Entries at or after this time."})
    until = UtcDateTime(metadata={"description": "Entries before this time."})
    order = fields.String(
        load_default="desc",
        validate=validate.OneOf(("desc", "asc")),
        metadata={"description": "`desc` (default): newest first; `asc`: oldest first."},
    )

    @validates_schema
    def _range(self, data: dict[str, object], **_kwargs: object) -> None:
        since, until = data.get("since"), data.get("until")
        if isinstance(since, datetime) and isinstance(until, datetime) and since >= until:
            raise ValidationError("Must be after since.", "until")


class AuditPage(Schema):
    items = fields.List(fields.Nested(AuditEntryOut))
    next = fields.String(allow_none=True)
