"""HTTP: /v1/accounts/{id}/violations."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.actor import current_actor
from registry.auth import require_scope
from registry.credit import service
from registry.credit.schemas import ViolationCreated, ViolationIn, ViolationList

blp = Blueprint(
    "credit", __name__, url_prefix="/v1/accounts", description="Violation records and credit (用户信用记录)"
)


@blp.route("/<string:account_id>/violations")
class Violations(MethodView):
    @require_scope("accounts:write")
    @blp.arguments(ViolationIn)
    @blp.response(201, ViolationCreated)
    def post(self, data: dict[str, Any], account_id: str) -> Any:
        """Record a violation under a rule; credit drops by severity and the tier may follow."""
        return service.add_violation(account_id, data, actor=current_actor())

    @require_scope("accounts:read")
    @blp.response(200, ViolationList)
    def get(self, account_id: str) -> Any:
        """List an account's violations, newest first."""
        return {"items": service.list_violations(account_id)}
