"""Typed errors the services raise, in domain terms without HTTP (``registry/errors.py`` maps them)."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A request the domain refuses, with a message for people and optional per-field errors."""

    # The HTTP status the API answers with; the CLI ignores it and prints the message.
    status: ClassVar[int] = 400

    def __init__(self, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class Unauthenticated(DomainError):
    """The caller sent no usable credentials."""

    status = 401


class Forbidden(DomainError):
    """The caller's credentials do not allow this."""

    status = 403


class NotFound(DomainError):
    """The thing named does not exist."""

    status = 404


class Conflict(DomainError):
    """The request contradicts the current state (taken, resolved, purged, not active)."""

    status = 409


class Invalid(DomainError):
    """The input is malformed; ``errors`` names the fields, under ``json`` or ``query``."""

    status = 422


class InvalidField(Invalid):
    """One field's value is refused."""

    def __init__(
        self, field: str, problem: str, *, location: str = "json", message: str | None = None
    ) -> None:
        super().__init__(message or f"Invalid value for {field}.", {location: {field: [problem]}})
        self.field = field
        self.problem = problem


class InvalidCursor(InvalidField):
    """A listing's cursor is not one this service issued."""

    def __init__(self) -> None:
        super().__init__(
            "cursor", "Not a cursor this service issued.", location="query", message="Invalid cursor."
        )


def describe(exc: DomainError) -> str:
    """Return one line for a person: the per-field errors flattened, else the message."""
    # Imported here: this module stays free of Flask, which registry.jsonlines pulls in.
    from registry.jsonlines import flatten_errors

    if not exc.errors:
        return exc.message
    errors = exc.errors
    return flatten_errors(errors.get("json", errors))
