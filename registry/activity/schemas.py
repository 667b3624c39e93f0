"""Activity batches in, ingestion summaries out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.schemas import UtcDateTime

MAX_EVENTS = 1000


class ActivityEvent(Schema):
    account_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    kind = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "What happened (login, post, ...); not stored, any activity counts."},
    )
    at = UtcDateTime(required=True)


class ActivityIn(Schema):
    events = fields.List(
        fields.Nested(ActivityEvent),
        required=True,
        validate=validate.Length(max=MAX_EVENTS, error=f"At most {MAX_EVENTS} events per call."),
    )


class ActivityOut(Schema):
    accepted = fields.Integer(metadata={"description": "Events for accounts the registry knows."})
    unknown_accounts = fields.List(fields.String(), metadata={"description": "Ids not registered; skipped."})
    reactivated = fields.List(
        fields.String(), metadata={"description": "Dormant or suspended accounts made active."}
    )
