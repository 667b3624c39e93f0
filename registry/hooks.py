"""Typed hooks: a lower layer calls a slot that a higher layer fills when the app is wired.

A layer may import only the layers below it (README "Architecture"). Where a lower layer must have
something done by a higher one (a new account ties its signup check's review, which reviews own), the
lower layer declares a ``Hook`` typed by the call it makes, and ``registry.create_app`` registers the
higher layer's function in it. Registering again replaces the function (one app per process, or the
same functions for every app the tests build).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class HookNotRegistered(RuntimeError):
    """A hook was called before the app wiring registered a function for it."""


class Hook(Generic[F]):
    """One slot of type ``F``: ``register`` fills it, ``call`` is the registered function."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._fn: F | None = None

    def register(self, fn: F) -> None:
        """Fill the slot (at app wiring)."""
        self._fn = fn

    @property
    def registered(self) -> bool:
        return self._fn is not None

    @property
    def call(self) -> F:
        """The registered function; HookNotRegistered if the app wiring has not filled the slot."""
        if self._fn is None:
            raise HookNotRegistered(f"hook {self.name!r} has no function: registry.create_app registers it")
        return self._fn

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, registered={self.registered})"
