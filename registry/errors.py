"""One JSON error shape for everything: ``{"code", "status", "message", "errors"}``."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, NoReturn

from flask import Flask, g, jsonify
from flask_smorest import abort as smorest_abort
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from registry.domain_errors import DomainError
from registry.extensions import api, db

log = logging.getLogger(__name__)


def error_body(code: int, message: str, errors: Any = None) -> dict[str, Any]:
    """Build the error document every failure answers with."""
    # ``errors`` is always there (empty when nothing is per field): callers parse one shape.
    return {"code": code, "status": HTTPStatus(code).phrase, "message": message, "errors": errors or {}}


def abort(code: int, message: str, errors: Any = None) -> NoReturn:
    """Stop the request with an error in the service's shape."""
    if errors is not None:
        smorest_abort(code, message=message, errors=errors)
    smorest_abort(code, message=message)
    raise AssertionError("unreachable")  # pragma: no cover


def field_error(field: str, message: str, code: int = 422) -> NoReturn:
    """Stop the request with a validation error naming one JSON field."""
    abort(code, f"Invalid value for {field}.", {"json": {field: [message]}})


def _http_exception(exc: DomainError) -> HTTPException:
    try:
        abort(exc.status, exc.message, exc.errors)
    except HTTPException as http:
        return http
    raise AssertionError("unreachable")  # pragma: no cover


def init_app(app: Flask) -> None:
    """Register handlers so that nothing escapes as an HTML page or a stack trace."""

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> Any:
        # Through the same path as ``abort``: identical bodies, capped field lists, status phrases.
        return api.handle_http_exception(_http_exception(exc))

    @app.errorhandler(IntegrityError)
    def integrity_error(exc: IntegrityError) -> Any:
        # A unique constraint lost a race with a concurrent request: the caller can retry or read.
        db.session.rollback()
        log.info("integrity conflict request_id=%s: %s", g.get("request_id"), exc.orig.__class__.__name__)
        return jsonify(error_body(409, "The request conflicts with existing data.")), 409

    @app.errorhandler(DataError)
    def data_error(exc: DataError) -> Any:
        # A value the database cannot store (out of range, bad encoding) that validation let through.
        db.session.rollback()
        log.warning("data error request_id=%s: %s", g.get("request_id"), exc.orig.__class__.__name__)
        return jsonify(
            error_body(422, "A value in the request cannot be stored; check its size and characters.")
        ), 422

    @app.errorhandler(OperationalError)
    def operational_error(exc: OperationalError) -> Any:
        db.session.rollback()
        log.error("database unavailable request_id=%s: %s", g.get("request_id"), exc.orig.__class__.__name__)
        response = jsonify(error_body(503, "The database is busy or unavailable; retry shortly."))
        response.headers["Retry-After"] = "1"
        return response, 503

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return exc
        db.session.rollback()
        log.exception("unhandled error request_id=%s", g.get("request_id"))
        message = f"Internal error; quote request id {g.get('request_id', '-')} when reporting it."
        return jsonify(error_body(500, message)), 500
