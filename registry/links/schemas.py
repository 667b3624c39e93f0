"""Linked-account documents out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class LinkedArgs(Schema):
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=500),
        metadata={"description": "Most accounts listed in each of linked and weak."},
    )


class LinkOut(Schema):
    account_id = fields.String()
    status = fields.String()
    via = fields.List(
        fields.String(),
        metadata={"description": "The fields shared: phone, id_number, device_id, email (ip)."},
    )


class LinkedOut(Schema):
    account_id = fields.String()
    ring_size = fields.Integer(
        metadata={"description": "The account and its strong links found (a lower bound when truncated)."}
    )
    linked = fields.List(
        fields.Nested(LinkOut), metadata={"description": "Sharing a phone, ID, device or email."}
    )
    weak = fields.List(
        fields.Nested(LinkOut),
        metadata={"description": "Sharing only an IP, signed up within REGISTRY_LINK_IP_WINDOW seconds."},
    )
    truncated = fields.Boolean(metadata={"description": "A list was cut at limit: there are more."})
