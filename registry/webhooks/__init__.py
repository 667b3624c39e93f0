"""Signed webhooks: subscriptions, their secrets, and the deliverer that sends the event outbox."""
