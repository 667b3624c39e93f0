"""HTTP: /v1/audit."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.audit import service
from registry.audit.schemas import AuditListArgs, AuditPage
from registry.auth import require_scope

blp = Blueprint("audit", __name__, url_prefix="/v1/audit", description="The hash-chained audit trail")


@blp.route("")
class AuditEntries(MethodView):
    @require_scope("audit:read")
    @blp.arguments(AuditListArgs, location="query")
    @blp.response(200, AuditPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List audit entries by subject, actor, action and time, newest first, a page at a time."""
        items, nxt = service.list_entries(args)
        return {"items": items, "next": nxt}
