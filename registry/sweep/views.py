"""HTTP: /v1/sweeps."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.actor import current_actor
from registry.auth import require_scope
from registry.sweep import service
from registry.sweep.schemas import (
    DeliveredIn,
    DeliveredOut,
    DormancyNoticeArgs,
    DormancyNoticePage,
    SweepIn,
    SweepOut,
)

blp = Blueprint("sweeps", __name__, url_prefix="/v1/sweeps", description="Zombie and shell account sweeps")


@blp.route("")
class Sweeps(MethodView):
    @require_scope("sweeps:run")
    @blp.arguments(SweepIn)
    @blp.response(201, SweepOut)
    @blp.alt_response(409, description="Refused by the safety cap, or another sweep is running")
    def post(self, data: dict[str, Any]) -> Any:
        """Run the sweep (or a dry run) as of a time, default now."""
        return service.start_from_request(data, current_actor())


@blp.route("/<string:run_id>")
class SweepById(MethodView):
    @require_scope("sweeps:run")
    @blp.response(200, SweepOut)
    def get(self, run_id: str) -> Any:
        """Read a sweep run: its counts, timings and who started it."""
        return service.get_run(run_id)


@blp.route("/<string:run_id>/dormant")
class SweepDormancyNotices(MethodView):
    @require_scope("sweeps:run")
    @blp.arguments(DormancyNoticeArgs, location="query")
    @blp.response(200, DormancyNoticePage)
    def get(self, args: dict[str, Any], run_id: str) -> Any:
        """List the accounts a run turned dormant (its dormancy notices, for warning their owners)."""
        items, nxt = service.list_dormancy_notices(run_id, args)
        return {"items": items, "next": nxt}


@blp.route("/<string:run_id>/dormant/delivered")
class SweepDormancyNoticesDelivered(MethodView):
    @require_scope("sweeps:run")
    @blp.arguments(DeliveredIn)
    @blp.response(200, DeliveredOut)
    def post(self, data: dict[str, Any], run_id: str) -> Any:
        """Mark dormancy notices delivered once the platform has warned those account owners."""
        return service.mark_notices_delivered(run_id, data["account_ids"], current_actor())
