"""The event outbox: what the registry decided, written in the deciding transaction (webhooks send it)."""
