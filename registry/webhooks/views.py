"""HTTP: /v1/webhooks (scope admin)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from registry.actor import current_actor
from registry.auth import require_scope
from registry.schemas import PageArgs
from registry.webhooks import service
from registry.webhooks.schemas import (
    DeliveryListArgs,
    DeliveryOut,
    DeliveryPage,
    WebhookIn,
    WebhookOut,
    WebhookPage,
    WebhookPatch,
    WebhookWithSecret,
)

blp = Blueprint(
    "webhooks", __name__, url_prefix="/v1/webhooks", description="Signed webhooks of registry events"
)


@blp.route("")
class Webhooks(MethodView):
    @require_scope("admin")
    @blp.arguments(WebhookIn)
    @blp.response(201, WebhookWithSecret)
    def post(self, data: dict[str, Any]) -> Any:
        """Subscribe a URL to event types; the answer holds the signing secret, shown this once."""
        return service.create_subscription(data, actor=current_actor())

    @require_scope("admin")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, WebhookPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List subscriptions (never their secrets)."""
        items, nxt = service.list_subscriptions(args)
        return {"items": items, "next": nxt}


@blp.route("/<string:webhook_id>")
class WebhookById(MethodView):
    @require_scope("admin")
    @blp.response(200, WebhookOut)
    def get(self, webhook_id: str) -> Any:
        """Read one subscription."""
        return service.subscription_doc(service.get_subscription(webhook_id))

    @require_scope("admin")
    @blp.arguments(WebhookPatch)
    @blp.response(200, WebhookOut)
    def patch(self, data: dict[str, Any], webhook_id: str) -> Any:
        """Change the URL, the event types, or pause / resume (resuming sends what waited)."""
        return service.update_subscription(webhook_id, data, actor=current_actor())

    @require_scope("admin")
    @blp.response(204)
    def delete(self, webhook_id: str) -> Any:
        """Delete a subscription and its deliveries."""
        service.delete_subscription(webhook_id, actor=current_actor())
        return ""


@blp.route("/<string:webhook_id>/rotate-secret")
class RotateSecret(MethodView):
    @require_scope("admin")
    @blp.response(200, WebhookWithSecret)
    def post(self, webhook_id: str) -> Any:
        """Mint a new signing secret (shown once); the old one also signs for the configured overlap."""
        return service.rotate_secret(webhook_id, actor=current_actor())


@blp.route("/<string:webhook_id>/deliveries")
class Deliveries(MethodView):
    @require_scope("admin")
    @blp.arguments(DeliveryListArgs, location="query")
    @blp.response(200, DeliveryPage)
    def get(self, args: dict[str, Any], webhook_id: str) -> Any:
        """List deliveries, newest first, with attempts, status codes and errors."""
        items, nxt = service.list_deliveries(webhook_id, args)
        return {"items": items, "next": nxt}


@blp.route("/deliveries/<int:delivery_id>/retry")
class RetryDelivery(MethodView):
    @require_scope("admin")
    @blp.response(200, DeliveryOut)
    def post(self, delivery_id: int) -> Any:
        """Send one delivery again (the same event id), for the whole retry window."""
        return service.retry_delivery(delivery_id, actor=current_actor())
