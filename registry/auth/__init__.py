"""API keys, bearer authentication and scopes."""

from registry.auth.service import current_actor, require_scope

__all__ = ["current_actor", "require_scope"]
