"""HTTP: /v1/appeals."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.actor import current_actor, current_scopes
from registry.appeals import service
from registry.appeals.schemas import AppealDecided, AppealIn, AppealListArgs, AppealOut, AppealPage, DecideIn
from registry.auth import require_scope

blp = Blueprint(
    "appeals", __name__, url_prefix="/v1/appeals", description="Appeals (申诉) of bans and violations"
)


@blp.route("")
class Appeals(MethodView):
    @require_scope("accounts:write")
    @blp.arguments(AppealIn)
    @blp.response(201, AppealOut)
    def post(self, data: dict[str, Any]) -> Any:
        """File a user's appeal of a ban or a violation of their account."""
        return service.appeal_doc(service.file_appeal(data, actor=current_actor()))

    @require_scope("bans:read")
    @blp.arguments(AppealListArgs, location="query")
    @blp.response(200, AppealPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List appeals, oldest first, by status (open, overdue, decided), a page at a time."""
        items, nxt = service.list_appeals(args)
        return {"items": [service.appeal_doc(a) for a in items], "next": nxt}


@blp.route("/<string:appeal_id>")
class AppealById(MethodView):
    @require_scope("bans:read")
    @blp.response(200, AppealOut)
    def get(self, appeal_id: str) -> Any:
        """Read one appeal."""
        return service.appeal_doc(service.get_appeal(appeal_id))


@blp.route("/<string:appeal_id>/decide")
class AppealDecide(MethodView):
    @require_scope("bans:write")
    @blp.arguments(DecideIn)
    @blp.response(200, AppealDecided)
    def post(self, data: dict[str, Any], appeal_id: str) -> Any:
        """Grant (lift the ban or void the violation) or deny an open appeal."""
        return service.decide_appeal(appeal_id, data, actor=current_actor(), scopes=current_scopes())
