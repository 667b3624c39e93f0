"""HTTP: /v1/accounts/{id}/linked."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.auth import require_scope
from registry.links import service
from registry.links.schemas import LinkedArgs, LinkedOut

blp = Blueprint(
    "links", __name__, url_prefix="/v1/accounts", description="Accounts linked by shared identifiers"
)


@blp.route("/<string:account_id>/linked")
class LinkedAccounts(MethodView):
    @require_scope("accounts:read")
    @blp.arguments(LinkedArgs, location="query")
    @blp.response(200, LinkedOut)
    def get(self, args: dict[str, Any], account_id: str) -> Any:
        """List the accounts sharing a phone, ID number, device id or email with this one; IPs apart."""
        return service.linked_accounts(account_id, limit=args["limit"])
