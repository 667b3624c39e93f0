"""HTTP: /v1/check."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.auth import require_scope
from registry.check import service
from registry.check.schemas import CheckBatchIn, CheckBatchOut, CheckIn, CheckOut

blp = Blueprint("check", __name__, url_prefix="/v1/check", description="Signup checks against the blacklist")


@blp.route("")
class Check(MethodView):
    @require_scope("check")
    @blp.arguments(CheckIn)
    @blp.response(200, CheckOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Check a signup against active bans and the name rules: allow, review or deny."""
        return service.run_check(data)


@blp.route("/batch")
class CheckBatch(MethodView):
    @require_scope("check")
    @blp.arguments(CheckBatchIn)
    @blp.response(200, CheckBatchOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Check up to 1,000 signups at once: each answer is what POST /v1/check gives, in order."""
        return {"results": service.run_checks(data["checks"])}
