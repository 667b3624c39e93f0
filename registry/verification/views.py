"""HTTP: /v1/accounts/{id}/verification."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.accounts.schemas import AccountOut
from registry.auth import current_actor, require_scope
from registry.verification import service
from registry.verification.schemas import VerificationIn

blp = Blueprint(
    "verification", __name__, url_prefix="/v1/accounts", description="Real-name verification (实名)"
)


@blp.route("/<string:account_id>/verification")
class AccountVerification(MethodView):
    @require_scope("verification:write")
    @blp.arguments(VerificationIn)
    @blp.response(200, AccountOut)
    def put(self, data: dict[str, Any], account_id: str) -> Any:
        """Record a verification step: pending, verified, rejected, revoked or expired (409 if forbidden)."""
        return service.set_verification(account_id, data, actor=current_actor())
