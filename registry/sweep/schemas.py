"""Sweep requests, runs and their dormancy notices."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.schemas import PageArgs, UtcDateTime


class SweepIn(Schema):
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Report what a run would do; change nothing."}
    )
    as_of = UtcDateTime(load_default=None, allow_none=True, metadata={"description": "Default: now."})
    force = fields.Boolean(load_default=False, metadata={"description": "Run even beyond the safety cap."})


class SweepCounts(Schema):
    dormant = fields.Integer()
    suspended = fields.Integer()
    purged = fields.Integer()
    shell = fields.Integer(metadata={"description": "Of the dormant: caught by the shell rule."})
    zombie = fields.Integer(metadata={"description": "Of the dormant: caught by the zombie rule."})


class SweepOut(Schema):
    id = fields.String()
    dry_run = fields.Boolean()
    forced = fields.Boolean()
    as_of = UtcDateTime()
    status = fields.String(
        metadata={"description": "running, completed, refused (safety cap), interrupted or failed."}
    )
    counts = fields.Nested(
        SweepCounts, metadata={"description": "Done, or for dry and refused runs: would do."}
    )
    started_by = fields.String()
    started_at = UtcDateTime()
    finished_at = UtcDateTime(allow_none=True)
    timings = fields.Dict(
        metadata={"description": "plan_seconds, act_seconds, total_seconds, batches, accounts."}
    )
    message = fields.String(allow_none=True)


class DormancyNoticeOut(Schema):
    account_id = fields.String()
    at = UtcDateTime(metadata={"description": "When the sweep made the account dormant."})
    suspend_after = UtcDateTime(
        metadata={"description": "Suspended at the first sweep after this, unless active."}
    )
    delivered_at = UtcDateTime(allow_none=True)


class DormancyNoticePage(Schema):
    items = fields.List(fields.Nested(DormancyNoticeOut))
    next = fields.String(allow_none=True)


class DormancyNoticeArgs(PageArgs):
    undelivered = fields.Boolean(
        load_default=False, metadata={"description": "Only notices not yet marked delivered."}
    )


class DeliveredIn(Schema):
    account_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=128)),
        required=True,
        validate=validate.Length(min=1, max=1000),
    )


class DeliveredOut(Schema):
    marked = fields.Integer(metadata={"description": "Notices newly marked delivered."})
    unknown_accounts = fields.List(
        fields.String(), metadata={"description": "Not among this run's dormancy notices."}
    )
