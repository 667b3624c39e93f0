"""HTTP: /v1/bans."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.actor import current_actor
from registry.auth import require_scope
from registry.backcheck import service as backcheck
from registry.bans import service
from registry.bans.schemas import BanCreateIn, BanListArgs, BanOut, BanPage, LiftIn

blp = Blueprint("bans", __name__, url_prefix="/v1/bans", description="Bans: the blacklist")


@blp.route("")
class Bans(MethodView):
    @require_scope("bans:write")
    @blp.arguments(BanCreateIn)
    @blp.response(201, BanOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Ban identifiers, names and/or an account (with "registrant": every account of its registrant)."""
        ban = service.create_ban(data)
        # After the commit: existing accounts matching the new ban open reviews (registry/backcheck).
        backcheck.after_commit([ban.id], actor=current_actor())
        return ban

    @require_scope("bans:read")
    @blp.arguments(BanListArgs, location="query")
    @blp.response(200, BanPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List bans by status, account or rule, a page at a time."""
        items, nxt = service.list_bans(args)
        return {"items": items, "next": nxt}


@blp.route("/<string:ban_id>")
class BanById(MethodView):
    @require_scope("bans:read")
    @blp.response(200, BanOut)
    def get(self, ban_id: str) -> Any:
        """Read one ban with its status (active, lifted or expired)."""
        return service.get_ban(ban_id)


@blp.route("/<string:ban_id>/lift")
class BanLift(MethodView):
    @require_scope("bans:write")
    @blp.arguments(LiftIn)
    @blp.response(200, BanOut)
    def post(self, data: dict[str, Any], ban_id: str) -> Any:
        """Lift an active ban, giving a reason."""
        return service.lift_ban(ban_id, data["reason"])
