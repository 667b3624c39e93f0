"""The hooks lower layers call (registry/hooks.py) are all filled once the app is built."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import registry
from registry.hooks import Hook, HookNotRegistered


def declared_hooks() -> list[tuple[str, Hook]]:
    found = []
    for info in pkgutil.walk_packages(registry.__path__, "registry."):
        if not info.name.endswith(".hooks"):
            continue
        module = importlib.import_module(info.name)
        found += [(f"{info.name}.{k}", v) for k, v in vars(module).items() if isinstance(v, Hook)]
    return found


def test_create_app_fills_every_hook(app):
    hooks = declared_hooks()
    assert hooks, "no hooks found"
    assert [name for name, hook in hooks if not hook.registered] == []


def test_an_unfilled_hook_names_itself():
    hook: Hook = Hook("example.unfilled")
    with pytest.raises(HookNotRegistered, match="example.unfilled"):
        hook.call()
