"""Query and body shapes of /v1/reports."""

from __future__ import annotations

from marshmallow import Schema, fields


class AnnualArgs(Schema):
    year = fields.String(required=True, metadata={"description": "The report year, e.g. `2026`."})


class MonthlyArgs(Schema):
    month = fields.String(required=True, metadata={"description": "The ledger month, `YYYY-MM`."})


class Figure(Schema):
    id = fields.String()
    kind = fields.String(metadata={"description": "`series`, `breakdown`, `value` or `catalogue`."})
    label = fields.String()
    total = fields.Integer()
    months = fields.List(fields.Raw())
    value = fields.Raw()
    rows = fields.List(fields.Dict())
    chart = fields.String()
    level = fields.Boolean()
    configured = fields.Boolean()


class Section(Schema):
    id = fields.String()
    title = fields.String()
    figures = fields.List(fields.Nested(Figure))


class Report(Schema):
    format = fields.String()
    kind = fields.String(metadata={"description": "`annual` or `monthly`."})
    platform = fields.String()
    period = fields.Dict(metadata={"description": "label, months (YYYY-MM), zone, start and end (UTC)."})
    produced_at = fields.String()
    audit = fields.Dict(
        metadata={
            "description": "head_seq and head_hash the figures were read at; chain_verified, chain_entries."
        }
    )
    sections = fields.List(fields.Nested(Section))
