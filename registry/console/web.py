"""The console's plumbing: its blueprint, sessions and sign-in guard, CSRF, CSP, languages, messages.

Every console request loads its session (``staff_sessions``), sets the staff member's name as the
actor (``g.actor``: services and the audit trail read it through ``registry.actor``), refuses a POST
whose ``csrf_token`` is not the session's, and answers with a Content-Security-Policy that allows no
inline script and no framing.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from flask import Blueprint, Flask, g, redirect, render_template, request, url_for
from flask_babel import Babel, gettext, lazy_gettext
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from registry.console import staff
from registry.console.models import StaffUser
from registry.db import writing
from registry.domain_errors import DomainError, describe
from registry.extensions import db
from registry.jsonlines import flatten_errors
from registry.settings import app_settings

F = TypeVar("F", bound=Callable[..., Any])
HERE = Path(__file__).resolve().parent
COOKIE = "registry_console"
LANG_COOKIE = "registry_console_lang"
LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh_CN"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
# Endpoints reachable without signing in (the sign-in form, its assets, the language switch).
PUBLIC = frozenset({"console.login", "console.static", "console.language"})
# Reachable by a signed-in user who must still enrol a second factor.
ENROLMENT = PUBLIC | {"console.totp", "console.logout"}

# Words stored in the database (statuses, roles, outcomes, steps), shown through the catalogues.
LABELS = {
    "active": lazy_gettext("active"),
    "dormant": lazy_gettext("dormant"),
    "suspended": lazy_gettext("suspended"),
    "banned": lazy_gettext("banned"),
    "purged": lazy_gettext("purged"),
    "open": lazy_gettext("open"),
    "claimed": lazy_gettext("claimed"),
    "resolved": lazy_gettext("resolved"),
    "confirmed": lazy_gettext("confirmed"),
    "false_positive": lazy_gettext("false positive"),
    "reviewer": lazy_gettext("reviewer"),
    "moderator": lazy_gettext("moderator"),
    "supervisor": lazy_gettext("supervisor"),
    "auditor": lazy_gettext("auditor"),
    "review": lazy_gettext("review"),
    "deny": lazy_gettext("deny"),
    "allow": lazy_gettext("allow"),
    "unverified": lazy_gettext("unverified"),
    "pending": lazy_gettext("pending"),
    "verified": lazy_gettext("verified"),
    "rejected": lazy_gettext("rejected"),
    "revoked": lazy_gettext("revoked"),
    "expired": lazy_gettext("expired"),
    "minor": lazy_gettext("minor"),
    "moderate": lazy_gettext("moderate"),
    "severe": lazy_gettext("severe"),
    "personal": lazy_gettext("personal"),
    "organization": lazy_gettext("organization"),
    "public": lazy_gettext("public"),
    "running": lazy_gettext("running"),
    "done": lazy_gettext("done"),
    "refused": lazy_gettext("refused"),
    "failed": lazy_gettext("failed"),
    "overdue": lazy_gettext("overdue"),
    "decided": lazy_gettext("decided"),
    "granted": lazy_gettext("granted"),
    "denied": lazy_gettext("denied"),
}
# Identifier fields (the linked-accounts panel says which one two accounts share).
FIELD_LABELS = {
    "phone": lazy_gettext("phone"),
    "id_number": lazy_gettext("ID number"),
    "device_id": lazy_gettext("device id"),
    "email": lazy_gettext("email"),
    "ip": lazy_gettext("IP"),
}
# Review kinds: a signup check's review, or a back-check of a new ban against existing accounts.
KIND_LABELS = {
    "signup": lazy_gettext("signup"),
    "backcheck": lazy_gettext("back-check"),
}
BAN_LABELS = {
    "active": lazy_gettext("in force"),
    "lifted": lazy_gettext("lifted"),
    "expired": lazy_gettext("expired"),
}


def label(word: str | None) -> str:
    """Return a stored word in the reader's language (unknown words as they are)."""
    return str(LABELS.get(word or "", word or ""))


def field_label(name: str) -> str:
    """Return an identifier field's name in the reader's language."""
    return str(FIELD_LABELS.get(name, name))


def kind_label(kind: str | None) -> str:
    """Return a review kind in the reader's language."""
    return str(KIND_LABELS.get(kind or "signup", kind or ""))


def ban_label(status: str) -> str:
    """Return a ban's status in the reader's language."""
    return str(BAN_LABELS.get(status, status))


blp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def current_staff() -> StaffUser | None:
    """Return the signed-in staff member of this request, if any."""
    staff_user = g.get("staff")
    return staff_user if isinstance(staff_user, StaffUser) else None


def may(scope: str) -> bool:
    """Tell whether the signed-in staff member's role carries ``scope`` (templates use it)."""
    user = current_staff()
    return user is not None and staff.may(user.role, scope)


def needs(scope: str) -> Callable[[F], F]:
    """Decorate a screen so only roles carrying ``scope`` reach it; others get a 403 page."""

    def decorator(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not may(scope):
                user = current_staff()
                role = user.role if user else "-"
                message = gettext("Your role (%(role)s) may not do this.", role=label(role))
                return render_template("console/refused.html", message=message), 403
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def problem(exc: DomainError | ValidationError) -> str:
    """Return the message a refusal shows: the same words the API's error body carries."""
    if isinstance(exc, ValidationError):
        messages = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        return str(gettext("Invalid request: %(detail)s", detail=flatten_errors(messages)))
    return describe(exc)


def _secret(app: Flask) -> str:
    key = app_settings(app).audit_key or app_settings(app).pii_key
    return hmac.new(key.encode("utf-8"), b"registry-console-flash", hashlib.sha256).hexdigest()


def _locale() -> str:
    chosen = request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def _undecodable_field() -> str | None:
    """Name the first form field that is not storable text (bytes not UTF-8, or a NUL), if any.

    Read before the form is parsed: the parsed values can no longer tell ``%FF`` typed from a byte
    0xFF sent (Werkzeug keeps those as ``%FF``, and a ban on that literal name was made); PostgreSQL
    cannot store a NUL (a 500).
    """
    if request.mimetype == "application/x-www-form-urlencoded":
        for pair in request.get_data(cache=True).split(b"&"):
            name, _, value = (unquote_to_bytes(part.replace(b"+", b" ")) for part in pair.partition(b"="))
            try:
                text = name.decode("utf-8") + value.decode("utf-8")
            except UnicodeDecodeError:
                text = "\x00"
            if "\x00" in text:
                return name.decode("utf-8", "replace").replace("\x00", "")[:64] or "-"
        return None
    # Multipart fields are decoded with replacement characters: refuse those instead.
    for key, text in request.form.items(multi=True):
        if any(c in text or c in key for c in ("\ufffd", "\x00")):
            return key.replace("\x00", "")[:64] or "-"
    return None


@blp.before_request
def guard() -> Any:
    """Load the session, refuse a POST without its CSRF token, send strangers to the sign-in form."""
    if request.endpoint == "console.static":
        return None
    bad = _undecodable_field() if request.method == "POST" else None
    if bad is not None:
        return render_template(
            "console/refused.html",
            message=gettext(
                "The field %(field)s is not valid text (bytes that are not UTF-8, or a NUL).", field=bad
            ),
        ), 400
    with writing():
        row = staff.load_session(request.cookies.get(COOKIE))
        db.session.commit()
    g.console_session = row
    user = db.session.get(StaffUser, row.staff_id) if row is not None and row.staff_id else None
    if user is not None and user.disabled_at is not None:
        user = None
    g.staff = user
    if user is not None:
        g.actor = user.name
    if request.method == "POST" and not staff.csrf_ok(row, request.form.get("csrf_token")):
        return render_template(
            "console/refused.html",
            message=gettext(
                "The form's security token is missing or out of date: reload the page and try again."
            ),
        ), 400
    endpoint = request.endpoint or ""
    if endpoint in PUBLIC:
        return None
    if user is None:
        return redirect(url_for("console.login", next=request.path))
    if user.role in staff.TOTP_REQUIRED and not user.totp_enabled and endpoint not in ENROLMENT:
        return redirect(url_for("console.totp"))
    return None


@blp.after_request
def headers(response: Response) -> Response:
    """Lock the console's pages down: CSP, no framing, no sniffing, no caching of staff data."""
    response.headers["Content-Security-Policy"] = g.pop("console_csp", CSP)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def set_session_cookie(response: Response, token: str) -> None:
    """Set the session cookie: HttpOnly, SameSite=Lax, Secure on HTTPS (or always, if configured)."""
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure or app_settings().console_secure_cookie,
        path="/console",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/console")


def csrf_token() -> str:
    """Return this session's CSRF token, starting an anonymous session for the sign-in form if needed."""
    row = g.get("console_session")
    if row is None:
        token, row = staff.new_session(None)
        db.session.commit()
        g.console_session = row
        g.new_cookie = token
    return str(row.csrf_token)


def init_app(app: Flask) -> None:
    """Register the console: blueprint, languages, and a cookie for a session begun on this request."""
    app.secret_key = app.secret_key or _secret(app)
    # Flask's own signed cookie carries only the one-shot messages (flash) between a form and its page.
    app.config["SESSION_COOKIE_NAME"] = "registry_console_flash"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_PATH"] = "/console"
    Babel(app, locale_selector=_locale, default_translation_directories=str(HERE / "translations"))
    app.register_blueprint(blp)

    @app.after_request
    def new_session_cookie(response: Response) -> Response:
        token = g.pop("new_cookie", None)
        if token is not None:
            set_session_cookie(response, token)
        return response

    @app.context_processor
    def console_globals() -> dict[str, Any]:
        if not (request.blueprint or "").startswith("console"):
            return {}
        return {
            "csrf_token": csrf_token,
            "may": may,
            "current_staff": current_staff(),
            "languages": LANGUAGES,
            "current_language": _locale(),
            "label": label,
            "ban_label": ban_label,
            "field_label": field_label,
            "kind_label": kind_label,
        }
