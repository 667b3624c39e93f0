"""HTTP: /v1/accounts."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.accounts import service
from registry.accounts.schemas import AccountIn, AccountListArgs, AccountOut, AccountPage, AccountPatch
from registry.auth import require_scope

blp = Blueprint("accounts", __name__, url_prefix="/v1/accounts", description="Accounts of the platform")


@blp.route("")
class Accounts(MethodView):
    @require_scope("accounts:write")
    @blp.arguments(AccountIn)
    @blp.response(201, AccountOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Register an account (after its signup check)."""
        return service.create_account(data)

    @require_scope("accounts:read")
    @blp.arguments(AccountListArgs, location="query")
    @blp.response(200, AccountPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List accounts by tier, status, type or verification, a page at a time."""
        items, nxt = service.list_accounts(args)
        return {"items": items, "next": nxt}


@blp.route("/<string:account_id>")
class AccountById(MethodView):
    @require_scope("accounts:read")
    @blp.response(200, AccountOut)
    def get(self, account_id: str) -> Any:
        """Read one account with its status, tier, credit and verification."""
        return service.get_account(account_id)

    @require_scope("accounts:write")
    @blp.arguments(AccountPatch)
    @blp.response(200, AccountOut)
    def patch(self, data: dict[str, Any], account_id: str) -> Any:
        """Rename an account (username, display name, news licence) under the name rules."""
        return service.rename_account(account_id, data)
