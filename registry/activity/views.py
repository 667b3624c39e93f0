"""HTTP: /v1/activity."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.activity import service
from registry.activity.schemas import ActivityIn, ActivityOut
from registry.auth import require_scope

blp = Blueprint("activity", __name__, url_prefix="/v1/activity", description="Account activity feed")


@blp.route("")
class Activity(MethodView):
    @require_scope("accounts:write")
    @blp.arguments(ActivityIn)
    @blp.response(202, ActivityOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Record up to 1,000 activity events; keeps each account's last activity time."""
        return service.ingest(data["events"])
