"""Staff users: roles mapped onto the API's scopes, Argon2 passwords, TOTP, lock-out and sessions.

Decisions taken here:
- A role is a set of the API's scopes (``registry/auth/models.py``) plus three the console alone
  uses: ``reviews`` (work the review queue; the API asks ``bans:write`` for it, but a reviewer may
  not ban by hand), ``bans:lift`` (lifting is a supervisor's act) and ``staff`` (manage staff of
  lower roles).
- After ``console_lockout_after`` failed sign-ins in a row the user is locked for
  ``console_lockout_seconds``, doubling with every further failure (at most an hour); while locked
  even the right password is refused. A success resets the count.
- Sessions live in ``staff_sessions``: the cookie carries a random token, the table its SHA-256.
  Sign-in replaces the session (a fresh token: no fixation); sign-out deletes it; a session not seen
  for ``console_idle_minutes`` is gone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from registry.audit.service import record
from registry.auth.models import ApiKey
from registry.console.models import ROLES, StaffSession, StaffUser
from registry.domain_errors import Conflict, Forbidden, InvalidField, NotFound
from registry.extensions import db
from registry.settings import app_settings
from registry.timeutil import utcnow

_READ = frozenset({"accounts:read", "bans:read"})
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "reviewer": _READ | {"reviews"},
    "moderator": _READ | {"reviews", "bans:write", "tiers:write", "verification:write", "accounts:write"},
    "supervisor": _READ
    | {"reviews", "bans:write", "tiers:write", "verification:write", "accounts:write"}
    | {"sweeps:run", "bans:lift", "staff", "reports:read"},
    "auditor": _READ | {"audit:read", "reports:read", "reviews:read", "sweeps:read"},
}
# Which roles a role may manage (create, disable, reset the second factor of).
RANK = {"reviewer": 1, "auditor": 1, "moderator": 2, "supervisor": 3}
TOTP_REQUIRED = frozenset({"supervisor"})
MAX_LOCK_SECONDS = 3600.0
MIN_PASSWORD = 10

_hasher = PasswordHasher()
# Verified against when the name is unknown, so that a wrong name costs what a wrong password does.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def scopes_of(role: str) -> frozenset[str]:
    """Return what a role may do."""
    return ROLE_SCOPES[role]


def may(role: str, scope: str) -> bool:
    """Tell whether a role carries ``scope`` (reading reviews comes with working them)."""
    have = ROLE_SCOPES.get(role, frozenset())
    return (
        scope in have
        or (scope == "reviews:read" and "reviews" in have)
        or (scope == "sweeps:read" and "sweeps:run" in have)
    )


def hash_password(password: str) -> str:
    """Return the Argon2id hash of a password."""
    return _hasher.hash(password)


def find(name: str) -> StaffUser | None:
    """Return the staff user of this name, if any."""
    return db.session.scalar(sa.select(StaffUser).where(StaffUser.name == name))


def create_staff(
    name: str, role: str, password: str, *, actor: str, actor_role: str | None = None
) -> StaffUser:
    """Create a staff user; a console creator (``actor_role``) may only create lower roles."""
    name = name.strip()
    if not name or len(name) > 128:
        raise InvalidField("name", "Give a name of 1-128 characters.")
    if role not in ROLES:
        raise InvalidField("role", f"One of {', '.join(ROLES)}.")
    if actor_role is not None and RANK[role] >= RANK[actor_role]:
        raise Forbidden(f"A {actor_role} may only create staff of lower roles.")
    if len(password) < MIN_PASSWORD:
        raise InvalidField("password", f"At least {MIN_PASSWORD} characters.")
    if find(name) is not None:
        raise Conflict(f"A staff user named {name!r} exists already.")
    if db.session.scalar(sa.select(ApiKey.id).where(ApiKey.name == name)) is not None:
        # Both appear as the actor in the audit trail: one name must mean one party.
        raise Conflict(f"An API key is named {name!r}; the audit trail would confuse the two.")
    user = StaffUser(
        name=name,
        role=role,
        password_hash=hash_password(password),
        created_by=actor,
        totp_enabled=False,
        failed_logins=0,
    )
    db.session.add(user)
    db.session.flush()
    record("staff.create", f"staff:{name}", {"role": role}, actor=actor)
    return user


def list_staff() -> list[StaffUser]:
    """Return every staff user, by name."""
    return list(db.session.scalars(sa.select(StaffUser).order_by(StaffUser.name)))


def _get(name: str) -> StaffUser:
    user = find(name)
    if user is None:
        raise NotFound(f"No staff user {name!r}.")
    return user


def disable_staff(name: str, *, actor: str) -> StaffUser:
    """Disable a staff user and end their sessions."""
    user = _get(name)
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        db.session.execute(sa.delete(StaffSession).where(StaffSession.staff_id == user.id))
        record("staff.disable", f"staff:{name}", {"role": user.role}, actor=actor)
    return user


def reset_totp(name: str, *, actor: str) -> StaffUser:
    """Forget a staff user's second factor: they enrol again at their next sign-in."""
    user = _get(name)
    user.totp_secret = None
    user.totp_enabled = False
    db.session.execute(sa.delete(StaffSession).where(StaffSession.staff_id == user.id))
    record("staff.reset_totp", f"staff:{name}", {"role": user.role}, actor=actor)
    return user


def start_totp(user: StaffUser) -> str:
    """Give the user a new (not yet enabled) TOTP secret and return it."""
    user.totp_secret = pyotp.random_base32()
    user.totp_enabled = False
    return user.totp_secret


def confirm_totp(user: StaffUser, code: str) -> None:
    """Enable the pending secret once a code from it is entered."""
    if not user.totp_secret or not pyotp.TOTP(user.totp_secret).verify(code.strip(), valid_window=1):
        raise InvalidField("totp", "That code does not match; enter the current one.")
    user.totp_enabled = True
    record("staff.totp_enrol", f"staff:{user.name}", {}, actor=user.name)


def provisioning_uri(user: StaffUser) -> str:
    """Return the otpauth:// URI of the user's pending secret."""
    assert user.totp_secret
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.name, issuer_name="Registry console")


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: the user, or why not (``problem``: a message key)."""

    user: StaffUser | None
    problem: str | None = None


def sign_in(name: str, password: str, totp: str | None) -> SignIn:
    """Check a name, password and (when enrolled) code, counting failures toward the lock-out."""
    settings = app_settings()
    now = utcnow()
    user = db.session.scalar(sa.select(StaffUser).where(StaffUser.name == name).with_for_update())
    if user is None or user.disabled_at is not None:
        _verify(_DUMMY_HASH, password)
        record(
            "staff.login_failed", f"staff:{name[:100]}", {"why": "unknown"}, actor=name[:128] or "anonymous"
        )
        return SignIn(None, "bad")
    if user.locked_until is not None and user.locked_until > now:
        record("staff.login_failed", f"staff:{name}", {"why": "locked"}, actor=name)
        return SignIn(None, "locked")
    ok = _verify(user.password_hash, password)
    if ok and user.totp_enabled:
        ok = bool(totp) and pyotp.TOTP(user.totp_secret or "").verify((totp or "").strip(), valid_window=1)
    if not ok:
        user.failed_logins += 1
        over = user.failed_logins - settings.console_lockout_after
        if over >= 0:
            seconds = min(settings.console_lockout_seconds * (2**over), MAX_LOCK_SECONDS)
            user.locked_until = now + timedelta(seconds=seconds)
        record(
            "staff.login_failed",
            f"staff:{name}",
            {"why": "credentials", "failures": user.failed_logins},
            actor=name,
        )
        return SignIn(None, "locked" if over >= 0 else "bad")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    record("staff.login", f"staff:{name}", {"role": user.role}, actor=name)
    return SignIn(user)


def _verify(stored: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


# --- sessions -----------------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_session(staff_id: int | None) -> tuple[str, StaffSession]:
    """Create a session and return its cookie token with it."""
    token = secrets.token_urlsafe(32)
    row = StaffSession(token_hash=_digest(token), staff_id=staff_id, csrf_token=secrets.token_urlsafe(32))
    db.session.add(row)
    db.session.flush()
    return token, row


def load_session(token: str | None) -> StaffSession | None:
    """Return the live session of a cookie token, refreshing its idle clock; drop it when idle too long."""
    if not token or len(token) > 100:
        return None
    row = db.session.get(StaffSession, _digest(token))
    if row is None:
        return None
    now = utcnow()
    if now - row.seen_at > timedelta(minutes=app_settings().console_idle_minutes):
        db.session.delete(row)
        db.session.commit()
        return None
    if now - row.seen_at > timedelta(seconds=30):
        row.seen_at = now
        db.session.commit()
    return row


def end_session(row: StaffSession) -> None:
    """Delete a session (sign-out, or replaced at sign-in)."""
    db.session.delete(row)


def csrf_ok(row: StaffSession | None, sent: str | None) -> bool:
    """Tell whether a form's token is the session's."""
    return row is not None and bool(sent) and hmac.compare_digest(row.csrf_token, sent or "")
