"""The rules catalogue: which rule codes exist and which actions each allows (REGISTRY_RULES_FILE).

Without a catalogue any rule code goes. With one, staff can only act under a listed code and only in
the ways that code allows, so no tier change, ban or verification goes beyond the written rules
(不得超范围处置).

File format::

    {"rules": [{"code": "R2.1", "title": "Spam",
                "actions": ["tier", "ban", "lift", "violation", "verification"]}]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from registry.domain_errors import InvalidField
from registry.settings import ConfigError, app_settings

ACTIONS: tuple[str, ...] = ("tier", "ban", "lift", "violation", "verification")
EXTENSION_KEY = "registry.rules"


@dataclass(frozen=True)
class Rule:
    """One entry of the catalogue."""

    code: str
    title: str
    actions: tuple[str, ...]


class RulesCatalogue:
    """The parsed catalogue, by code."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = {r.code: r for r in rules}

    @classmethod
    def from_file(cls, path: str | Path) -> RulesCatalogue:
        """Read and validate a catalogue file; raise ConfigError naming the bad entry."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"REGISTRY_RULES_FILE {path!r} cannot be read: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"REGISTRY_RULES_FILE {path!r} is not valid JSON: {exc}") from exc
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "rules") -> RulesCatalogue:
        """Validate a catalogue document; raise ConfigError naming the bad entry."""
        where = f"REGISTRY_RULES_FILE {source!r}"
        if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
            raise ConfigError(f'{where}: the top level must be {{"rules": [...]}}')
        rules: list[Rule] = []
        seen: set[str] = set()
        for i, entry in enumerate(data["rules"]):
            at = f"{where}: rules[{i}]"
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{at} must be an object with code, title and actions")
            code = entry.get("code")
            if not isinstance(code, str) or not code.strip() or len(code) > 64:
                raise ConfigError(f"{at}.code must be a non-empty string of at most 64 characters")
            at = f"{at} ({code!r})"
            if code in seen:
                raise ConfigError(f"{at}: the code appears twice")
            seen.add(code)
            title = entry.get("title", "")
            if not isinstance(title, str):
                raise ConfigError(f"{at}.title must be a string")
            actions = entry.get("actions")
            if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
                raise ConfigError(f"{at}.actions must be a list of strings from {', '.join(ACTIONS)}")
            unknown = sorted(set(actions) - set(ACTIONS))
            if unknown:
                raise ConfigError(
                    f"{at}.actions has unknown action(s) {', '.join(unknown)}; known: {', '.join(ACTIONS)}"
                )
            extra = sorted(set(entry) - {"code", "title", "actions"})
            if extra:
                raise ConfigError(f"{at} has unknown key(s) {', '.join(extra)}")
            rules.append(Rule(code, title, tuple(dict.fromkeys(actions))))
        return cls(rules)

    def problem(self, code: str | None, action: str) -> str | None:
        """Return why ``code`` may not be cited for ``action``, or None if it may."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if not code:
            return f"a rule code from the catalogue is required for '{action}'"
        rule = self.rules.get(code)
        if rule is None:
            return f"unknown rule code {code!r}: it is not in the rules catalogue"
        if action not in rule.actions:
            allowed = ", ".join(rule.actions) or "nothing"
            return f"rule {code!r} does not allow '{action}' (it allows: {allowed})"
        return None


def catalogue() -> RulesCatalogue | None:
    """Return the current app's catalogue, or None when none is configured."""
    if EXTENSION_KEY not in current_app.extensions:
        init_app(current_app)
    return current_app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]


def check_rule(code: str | None, action: str, field: str = "rule") -> None:
    """Abort 422 naming ``field`` if a configured catalogue does not allow ``code`` for ``action``."""
    cat = catalogue()
    if cat is None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        return
    problem = cat.problem(code, action)
    if problem is not None:
        raise InvalidField(field, problem)


def describe() -> dict[str, Any]:
    """Return whether a catalogue is configured and its rules in file order."""
    cat = catalogue()
    return {"configured": cat is not None, "items": list(cat.rules.values()) if cat is not None else []}


def init_app(app: Flask) -> None:
    """Load and validate the catalogue once, at start, so a bad file stops the service early."""
    path = app_settings(app).rules_file
    app.extensions[EXTENSION_KEY] = RulesCatalogue.from_file(path) if path else None
