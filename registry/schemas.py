"""Schema pieces shared by every feature: times with a zone, pagination, the error document."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from registry.timeutil import to_aware, to_naive_utc


class UtcDateTime(fields.DateTime):
    """ISO 8601 with a zone on the wire; naive UTC in the database. Input without a zone is refused."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return to_aware(value).isoformat()  # type: ignore[union-attr]

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            raise ValidationError("Give a time zone, e.g. 2024-05-01T08:00:00+08:00 or ...Z.")
        return to_naive_utc(parsed.astimezone(UTC))


def encode_cursor(values: list[Any]) -> str:
    """Encode the sort key of the last item of a page as an opaque cursor."""
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """Decode a cursor made by encode_cursor; raise ValidationError for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("Not a cursor this service issued.", "cursor") from None
    if not isinstance(values, list):
        raise ValidationError("Not a cursor this service issued.", "cursor")
    return values


class PageArgs(Schema):
    cursor = fields.String(load_default=None, metadata={"description": "The `next` of the previous page."})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class ErrorSchema(Schema):
    code = fields.Integer()
    status = fields.String()
    message = fields.String()
    errors = fields.Dict()
