"""Who is making the current change: the API key of the request, else the caller's default."""

from __future__ import annotations

from flask import g, has_app_context


def current_actor(default: str = "system") -> str:
    """Return the name of the key (or CLI user) making the current change."""
    # ``g.actor`` is set by authentication (registry/auth/service.py) for the request's key.
    if not has_app_context():
        return default
    return str(g.get("actor") or default)


def current_scopes() -> frozenset[str]:
    """Return the scopes of the current request's key (none outside a request with a key)."""
    if not has_app_context():
        return frozenset()
    return frozenset(g.get("scopes") or ())
