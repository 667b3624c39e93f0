"""Identifiers the service mints: time-ordered, so keyset pagination by id follows creation order."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str = "") -> str:
    """Return a new id: 12 hex digits of milliseconds, then 16 random hex digits."""
    return f"{prefix}{int(time.time() * 1000):012x}{secrets.token_hex(8)}"
