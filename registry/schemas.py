"""Schema pieces shared by every feature: times with a zone, pagination, the error document."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from registry.timeutil import to_aware, to_naive_utc

# A rule code as requests cite it (bans, violations, tiers, verification, reviews): the rules
# catalogue's codes and the ``rule`` columns hold at most 64 characters.
RULE_CODE = validate.Length(min=1, max=64)


class UtcDateTime(fields.DateTime):
    """ISO 8601 with a zone on the wire; naive UTC in the database. Input without a zone is refused."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return to_aware(value).isoformat()

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            raise ValidationError("Give a time zone, e.g. 2024-05-01T08:00:00+08:00 or ...Z.")
        try:
            return to_naive_utc(parsed.astimezone(UTC))
        except OverflowError:
            # 0001-01-01T00:00+08:00 is year 0 in UTC: Python's datetime cannot hold it.
            raise ValidationError("Time is out of range once converted to UTC.") from None


def encode_cursor(values: list[Any]) -> str:
    """Encode the sort key of the last item of a page as an opaque cursor."""
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """Decode a cursor made by encode_cursor; raise ValidationError for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()), parse_constant=_no_constant)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise ValidationError("Not a cursor this service issued.", "cursor") from None
    # Cursors hold ids, times and sequence numbers, never floats: anything else is forged and
    # would fail in the query (a surrogate cannot be encoded, a huge int overflows SQLite).
    if not isinstance(values, list) or not all(_cursor_value_ok(v) for v in values):
        raise ValidationError("Not a cursor this service issued.", "cursor")
    return values


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _cursor_value_ok(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return "\x00" not in value
    return False


class PageArgs(Schema):
    cursor = fields.String(load_default=None, metadata={"description": "The `next` of the previous page."})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class ErrorSchema(Schema):
    code = fields.Integer()
    status = fields.String()
    message = fields.String()
    errors = fields.Dict()
