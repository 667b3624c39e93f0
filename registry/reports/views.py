"""HTTP: /v1/reports (the yearly report and the monthly ledger, JSON)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.auth import require_scope
from registry.reports import service
from registry.reports.schemas import AnnualArgs, MonthlyArgs, Report

blp = Blueprint(
    "reports",
    __name__,
    url_prefix="/v1/reports",
    description="The yearly report to the regulator and its monthly ledger",
)


@blp.route("/annual")
class Annual(MethodView):
    @require_scope("reports:read")
    @blp.arguments(AnnualArgs, location="query")
    @blp.response(200, Report)
    def get(self, args: dict[str, Any]) -> Any:
        """Return the figures of a year (local months of REGISTRY_REPORT_TIMEZONE), section by section."""
        return service.annual(service.parse_year(args["year"]))


@blp.route("/monthly")
class Monthly(MethodView):
    @require_scope("reports:read")
    @blp.arguments(MonthlyArgs, location="query")
    @blp.response(200, Report)
    def get(self, args: dict[str, Any]) -> Any:
        """Return the figures of one month (the ledger, 台账)."""
        year, month = service.parse_month(args["month"])
        return service.monthly(year, month)
