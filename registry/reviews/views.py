"""HTTP: /v1/reviews."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.actor import current_actor
from registry.auth import require_scope
from registry.backcheck import service as backcheck
from registry.reviews import service
from registry.reviews.schemas import ClaimIn, ResolveIn, ReviewListArgs, ReviewOut, ReviewPage

blp = Blueprint(
    "reviews", __name__, url_prefix="/v1/reviews", description="The review queue of flagged signups"
)


@blp.route("")
class Reviews(MethodView):
    @require_scope("bans:write")
    @blp.arguments(ReviewListArgs, location="query")
    @blp.response(200, ReviewPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List reviews, oldest first, by status and assignee, a page at a time."""
        items, nxt = service.list_reviews(args)
        return {"items": items, "next": nxt}


@blp.route("/<string:review_id>")
class ReviewById(MethodView):
    @require_scope("bans:write")
    @blp.response(200, ReviewOut)
    def get(self, review_id: str) -> Any:
        """Read one review."""
        return service.get_review(review_id)


@blp.route("/<string:review_id>/claim")
class ClaimReview(MethodView):
    @require_scope("bans:write")
    @blp.arguments(ClaimIn)
    @blp.response(200, ReviewOut)
    def post(self, data: dict[str, Any], review_id: str) -> Any:
        """Claim a review for the calling key (409 if someone else holds it, unless forced)."""
        return service.claim_review(review_id, force=data["force"], actor=current_actor())


@blp.route("/<string:review_id>/resolve")
class ResolveReview(MethodView):
    @require_scope("bans:write")
    @blp.arguments(ResolveIn)
    @blp.response(200, ReviewOut)
    def post(self, data: dict[str, Any], review_id: str) -> Any:
        """Resolve a review: confirmed bans the tied account, false_positive suppresses the name match."""
        review = service.resolve_review(review_id, data, actor=current_actor())
        if review.ban_id:
            # A confirmed review made a ban: back-check it after the commit (registry/backcheck).
            backcheck.after_commit([review.ban_id], actor=current_actor())
        return review
