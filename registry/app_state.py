"""Per-app objects kept in ``app.extensions`` (hashers, keys, catalogues), read back with their type."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app

T = TypeVar("T")


def app_object(key: str, kind: type[T], make: Callable[[Flask], T], app: Flask | None = None) -> T:
    """Return the object the app (default: the current one) keeps under ``key``, made on first use.

    ``app.extensions`` holds Any; the object read back is checked to be a ``kind``, so a key reused
    for something else fails here rather than as an attribute error somewhere downstream.
    """
    app = app or current_app
    ext = app.extensions
    if key not in ext:
        ext[key] = make(app)
    value = ext[key]
    if not isinstance(value, kind):
        raise TypeError(f"app.extensions[{key!r}] holds a {type(value).__name__}, not a {kind.__name__}")
    return value
