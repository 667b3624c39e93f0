"""Create, list and revoke API keys; authenticate a request and enforce its scope."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, g, request
from flask_smorest import Blueprint

from registry.audit.service import record
from registry.auth.models import SCOPES, ApiKey
from registry.domain_errors import Forbidden, Unauthenticated
from registry.extensions import db
from registry.settings import app_settings
from registry.timeutil import utcnow

F = TypeVar("F", bound=Callable[..., Any])
KEY_PREFIX = "rk_"
# last_used_at is a hint for operators, not an audit record: refresh it at most once a minute per
# process so the hot check path does not write on every call.
TOUCH_INTERVAL_SECONDS = 60.0


class KeyError_(ValueError):
    """A key operation was refused; the message says why."""


def hash_key(secret: str) -> str:
    """Return the stored form of an API key."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_key(name: str, scopes: list[str], actor: str) -> tuple[ApiKey, str]:
    """Create a key with the given scopes and return it with its secret (shown once)."""
    name = name.strip()
    if not name:
        raise KeyError_("the key needs a name")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise KeyError_(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not scopes:
        raise KeyError_("give at least one --scope")
    if db.session.scalar(sa.select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise KeyError_(f"a key named {name!r} exists already")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        prefix=secret[:10],
        key_hash=hash_key(secret),
        scopes=" ".join(sorted(set(scopes))),
        created_by=actor,
    )
    db.session.add(key)
    db.session.flush()
    record("key.create", f"key:{name}", {"scopes": sorted(set(scopes)), "prefix": key.prefix}, actor=actor)
    return key, secret


def list_keys() -> list[ApiKey]:
    """Return every key, newest first."""
    return list(db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id.desc())))


def revoke_key(name: str, actor: str) -> ApiKey:
    """Revoke the named key; it stops working at once."""
    key = db.session.scalar(sa.select(ApiKey).where(ApiKey.name == name))
    if key is None:
        raise KeyError_(f"no key named {name!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        record("key.revoke", f"key:{name}", {"prefix": key.prefix}, actor=actor)
    return key


@dataclass(frozen=True)
class Principal:
    """Who a valid key belongs to: what a request needs to know after authentication."""

    key_id: int
    name: str
    scopes: frozenset[str]


def _lookup(digest: str) -> Principal | None:
    """Find the active key with this hash, through a short per-process cache.

    Every check would otherwise pay a database round trip just to authenticate. Only valid keys are
    cached, for ``key_cache_seconds``: a revoked key stops working within that time in every worker.
    """
    ttl = float(app_settings().key_cache_seconds)
    cache: dict[str, tuple[float, Principal]] = current_app.extensions.setdefault("registry.key_cache", {})
    now = time.monotonic()
    hit = cache.get(digest)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    key = db.session.scalar(sa.select(ApiKey).where(ApiKey.key_hash == digest))
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, digest):
        cache.pop(digest, None)
        return None
    principal = Principal(key.id, key.name, key.scope_set)
    if ttl > 0:
        if len(cache) > 10_000:  # unbounded growth only from many distinct valid keys; start over
            cache.clear()
        cache[digest] = (now, principal)
    return principal


def authenticate(scope: str) -> Principal:
    """Check the bearer key of the current request and that it carries ``scope``; abort otherwise."""
    header = request.headers.get("Authorization", "")
    kind, _, secret = header.partition(" ")
    if kind.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("Missing API key: send 'Authorization: Bearer <key>'.")
    principal = _lookup(hash_key(secret.strip()))
    if principal is None:
        raise Unauthenticated("Unknown or revoked API key.")
    if scope not in principal.scopes and "admin" not in principal.scopes:
        raise Forbidden(f"This key lacks the '{scope}' scope.")
    g.api_key_id = principal.key_id
    g.actor = principal.name
    g.scopes = principal.scopes
    now = time.monotonic()
    touched: dict[int, float] = current_app.extensions.setdefault("registry.key_touched", {})
    if now - touched.get(principal.key_id, -TOUCH_INTERVAL_SECONDS) >= TOUCH_INTERVAL_SECONDS:
        touched[principal.key_id] = now
        g.touch_key = principal.key_id
    return principal


def require_scope(scope: str) -> Callable[[F], F]:
    """Decorate a view so it needs a bearer key with ``scope`` (or ``admin``); documents it too."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authenticate(scope)
            return fn(*args, **kwargs)

        # flask-smorest's doc() is untyped; it returns the function it was given, documented.
        documented: F = Blueprint.doc(
            security=[{"bearerAuth": []}],
            responses={"401": {"description": "No or unknown key"}, "403": {"description": f"Needs {scope}"}},
        )(wrapper)
        return documented

    return decorator


def init_app(app: Flask) -> None:
    """Refresh keys' last-use time after the request's own transaction is over."""

    @app.teardown_request
    def touch_key(_exc: BaseException | None) -> None:
        key_id = g.pop("touch_key", None)
        if key_id is None:
            return
        try:
            db.session.rollback()
            db.session.execute(sa.update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))
            db.session.commit()
        except Exception:  # noqa: BLE001 - a lost hint must never fail a request
            db.session.rollback()
