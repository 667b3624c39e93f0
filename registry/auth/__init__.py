"""API keys, bearer authentication and scopes."""

from registry.actor import current_actor
from registry.auth.service import require_scope

__all__ = ["current_actor", "require_scope"]
