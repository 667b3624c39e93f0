"""HTTP: /v1/accounts/{id}/tier, tier history and unpinning, bulk tiering, and /v1/rules."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry import rules
from registry.accounts.schemas import AccountOut
from registry.actor import current_actor
from registry.auth import require_scope
from registry.tiers import service
from registry.tiers.schemas import (
    BulkTierIn,
    BulkTierOut,
    RuleList,
    TierHistory,
    TierIn,
    UnpinIn,
)

blp = Blueprint("tiers", __name__, url_prefix="/v1", description="Tiers (分类分级) and the rules catalogue")


@blp.route("/accounts/<string:account_id>/tier")
class AccountTier(MethodView):
    @require_scope("tiers:write")
    @blp.arguments(TierIn)
    @blp.response(200, AccountOut)
    def put(self, data: dict[str, Any], account_id: str) -> Any:
        """Set an account's tier by hand, citing a reason and a rule; this pins the tier."""
        return service.set_tier(account_id, data, actor=current_actor())


@blp.route("/accounts/<string:account_id>/tier/unpin")
class AccountTierUnpin(MethodView):
    @require_scope("tiers:write")
    @blp.arguments(UnpinIn)
    @blp.response(200, AccountOut)
    def post(self, data: dict[str, Any], account_id: str) -> Any:
        """Unpin an account's tier so that credit moves it again."""
        return service.unpin_tier(account_id, data, actor=current_actor())


@blp.route("/accounts/<string:account_id>/tier-history")
class AccountTierHistory(MethodView):
    @require_scope("accounts:read")
    @blp.response(200, TierHistory)
    def get(self, account_id: str) -> Any:
        """List an account's tier changes, newest first."""
        return {"items": service.tier_history(account_id)}


@blp.route("/tiers/bulk")
class BulkTiers(MethodView):
    @require_scope("tiers:write")
    @blp.arguments(BulkTierIn)
    @blp.response(200, BulkTierOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Set the tiers of many accounts at once: all or nothing."""
        return service.bulk_set_tier(data, actor=current_actor())


@blp.route("/rules")
class Rules(MethodView):
    @require_scope("accounts:read")
    @blp.response(200, RuleList)
    def get(self) -> Any:
        """List the rules catalogue: each code, its title and the actions it allows."""
        return rules.describe()
