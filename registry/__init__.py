"""Account registry and blacklist service."""

from __future__ import annotations

import importlib
import logging
import os
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, g, request

from registry.settings import Settings

# Feature folders, each exposing ``views.blp`` and/or ``cli.init_app`` and optionally ``init_app``.
FEATURES = (
    "registry.accounts",
    "registry.activity",
    "registry.appeals",
    "registry.backcheck",
    "registry.bans",
    "registry.check",
    "registry.audit",
    "registry.credit",
    "registry.reports",
    "registry.links",
    "registry.reviews",
    "registry.sweep",
    "registry.tiers",
    "registry.verification",
    "registry.webhooks",
)

REQUEST_ID_HEADER = "X-Request-Id"
# An incoming request id is echoed into the response and the logs: only a short plain token is kept.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Checks decide read-only and write (a flagged check) in a transaction of their own.
_READ_FIRST_PATHS = frozenset({"/v1/check", "/v1/check/batch"})


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; ``config`` overrides settings by field name (tests use it)."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("REGISTRY_INSTANCE_PATH") or None,
        instance_relative_config=False,
    )
    settings = Settings.from_env(instance_path=app.instance_path, overrides=config)
    app.config["REGISTRY"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config.update(_openapi_config())
    _configure_logging(settings.log_level)

    from registry import auth, db, errors, health, metrics, models  # noqa: F401 - models fill the metadata
    from registry.auth import cli as auth_cli
    from registry.extensions import api

    db.init_app(app)
    api.init_app(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    errors.init_app(app)
    auth.service.init_app(app)
    auth_cli.init_app(app)
    app.register_blueprint(health.blp)
    metrics.init_app(app)
    for name in FEATURES:
        _load_feature(app, name)
    _register_hooks()
    _request_hooks(app)
    _docs_assets(app)
    # The staff console: server-rendered screens over the same services (not part of the OpenAPI).
    from registry.console import cli as console_cli
    from registry.console import views as console_views

    console_views.init_app(app)
    console_cli.init_app(app)
    return app


def _register_hooks() -> None:
    """Fill the hooks lower layers call (registry/hooks.py) with the higher layers' functions."""
    from registry.accounts import hooks as account_hooks
    from registry.check import service as check_service
    from registry.reviews import service as review_service

    account_hooks.lock_check_review.register(review_service.lock_check_review)
    account_hooks.tie_check.register(review_service.tie_check)
    account_hooks.live_name_policy.register(check_service.live_name_policy)
    account_hooks.file_name_review.register(check_service.file_name_review)


DOCS_ASSETS_PATH = "/docs/assets"


def _docs_assets(app: Flask) -> None:
    """Serve Swagger UI's files (the page at /docs loads them) from the installed package."""
    from flask import send_from_directory

    folder = _swagger_ui_folder()

    @app.get(DOCS_ASSETS_PATH + "/<path:filename>")
    def docs_asset(filename: str) -> Any:
        return send_from_directory(folder, filename, max_age=86400)


def _load_feature(app: Flask, package: str) -> None:
    from registry.extensions import api

    for module_name, hook in (("views", "blp"), ("cli", "init_app"), ("service", "init_app")):
        try:
            module = importlib.import_module(f"{package}.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{module_name}":
                raise
            continue
        target = getattr(module, hook, None)
        if target is None:
            continue
        if hook == "blp":
            api.register_blueprint(target)
        else:
            target(app)


def _swagger_ui_folder() -> str:
    """Find the Swagger UI files the swagger-ui-bundle package ships, without importing it."""
    # Its __init__ prefers an importlib_resources backport when one is installed, and old ones warn
    # (an error under the test suite): only the files are needed, so find them from the spec.
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("swagger_ui_bundle")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-bundle package is missing; reinstall the service")
    vendor = Path(next(iter(spec.submodule_search_locations))) / "vendor"
    folders = sorted(p for p in vendor.glob("swagger-ui-*") if (p / "swagger-ui-bundle.js").is_file())
    if not folders:
        raise RuntimeError(f"no Swagger UI files under {vendor}")
    return str(folders[-1])


def _request_hooks(app: Flask) -> None:
    from registry import errors
    from registry.db import write_intent

    @app.before_request
    def start() -> None:
        environ = request.environ
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)
        path = request.path
        query = environ.get("QUERY_STRING", "")
        if query and not _utf8_query(query):
            # Werkzeug decodes the raw query string strictly when the arguments are first read, so
            # bytes that are not UTF-8 would fail there as a 500 (before any key is checked, too).
            errors.abort(400, "The query string is not valid UTF-8 (percent-encode text as UTF-8).")
        # A NUL in the arguments comes from "%00" (or a raw NUL) in the query string: parse it only then.
        if "\x00" in path or (
            ("%00" in query or "\x00" in query)
            and any("\x00" in k or "\x00" in v for k, v in request.args.items(True))
        ):
            # PostgreSQL cannot compare text with a NUL in it; refuse before any query sees one.
            errors.abort(400, "The path or query string contains a NUL character.")
        if request.method in _WRITE_METHODS and path not in _READ_FIRST_PATHS:
            g.write_token = write_intent.set(True)

    @app.after_request
    def finish(response: Any) -> Any:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        return response

    @app.teardown_request
    def reset(_exc: BaseException | None) -> None:
        token = g.pop("write_token", None)
        if token is not None:
            write_intent.reset(token)


def _utf8_query(query: str) -> bool:
    """Tell whether a WSGI query string (bytes as latin-1) is UTF-8, raw and percent-decoded alike."""
    if query.isascii() and "%" not in query:
        return True
    try:
        raw = query.encode("latin-1")
        raw.decode("utf-8")
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeError:
        return False
    return True


def _openapi_config() -> dict[str, Any]:
    return {
        "API_TITLE": "Account registry and blacklist service",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        # Served from the swagger-ui-bundle package (see _docs_assets): /docs works on an isolated network.
        "OPENAPI_SWAGGER_UI_URL": DOCS_ASSETS_PATH + "/",
        "API_SPEC_OPTIONS": {
            "info": {
                "description": "Signup checks against the blacklist, bans, tiers, real-name verification, "
                "violations and credit, reviews, zombie/shell sweeps and the audit trail."
            }
        },
    }


def _configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("registry").setLevel(level)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
