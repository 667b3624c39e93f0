"""Webhook documents in and out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.events.models import DELIVERY_STATUSES
from registry.events.service import EVENT_TYPES
from registry.schemas import PageArgs, UtcDateTime


def _events(required: bool) -> fields.List[str]:
    return fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        required=required,
        validate=validate.Length(min=1, max=len(EVENT_TYPES)),
        metadata={"description": f"Event types to receive: {', '.join(EVENT_TYPES)}."},
    )


def _url(required: bool) -> fields.String:
    return fields.String(
        required=required,
        validate=[validate.Length(max=2048), validate.URL(schemes={"http", "https"}, require_tld=False)],
        metadata={
            "description": "Where events are POSTed (http or https; see REGISTRY_WEBHOOK_ALLOWED_HOSTS)."
        },
    )


class WebhookIn(Schema):
    url = _url(True)
    events = _events(True)
    paused = fields.Boolean(load_default=False)


class WebhookPatch(Schema):
    url = _url(False)
    events = _events(False)
    paused = fields.Boolean()


class WebhookOut(Schema):
    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    paused = fields.Boolean()
    paused_reason = fields.String(allow_none=True, metadata={"description": "Why: staff, or a 410 Gone."})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    previous_secret_until = UtcDateTime(
        allow_none=True, metadata={"description": "Until then the secret before the last rotation signs too."}
    )


class WebhookWithSecret(WebhookOut):
    secret = fields.String(metadata={"description": "The signing secret: shown this once, never again."})


class WebhookPage(Schema):
    items = fields.List(fields.Nested(WebhookOut))
    next = fields.String(allow_none=True)


class DeliveryListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))


class AttemptOut(Schema):
    at = fields.String()
    status = fields.Integer(allow_none=True, metadata={"description": "The receiver's HTTP status, if any."})
    error = fields.String(allow_none=True)
    ms = fields.Integer()


class DeliveryOut(Schema):
    id = fields.Integer()
    subscription_id = fields.String()
    event_id = fields.String()
    event_type = fields.String(allow_none=True)
    subject = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    created_at = UtcDateTime()
    next_at = UtcDateTime(allow_none=True)
    give_up_at = UtcDateTime()
    delivered_at = UtcDateTime(allow_none=True)
    last_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    log = fields.List(fields.Nested(AttemptOut), metadata={"description": "The last 20 attempts."})


class DeliveryPage(Schema):
    items = fields.List(fields.Nested(DeliveryOut))
    next = fields.String(allow_none=True)
