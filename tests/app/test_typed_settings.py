"""Settings are read through one typed accessor, registry.settings.app_settings()."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

import registry
from registry.settings import Settings, app_settings

ROOT = Path(registry.__file__).parent
# Only the app factory stores the settings, and only the accessor reads them back.
ALLOWED = {ROOT / "__init__.py", ROOT / "settings.py"}
RAW_READ = re.compile(r"""config\s*(\[\s*|\.get\(\s*)["']REGISTRY["']""")


def test_the_accessor_returns_the_typed_settings(app: Flask) -> None:
    with app.app_context():
        settings = app_settings()
    assert isinstance(settings, Settings)
    assert app_settings(app) is settings


def test_an_app_without_registry_settings_is_refused() -> None:
    with pytest.raises(RuntimeError, match="no registry settings"):
        app_settings(Flask("bare"))


def test_no_module_reads_the_raw_config_entry() -> None:
    offenders = [
        f"{path.relative_to(ROOT.parent)}:{number}"
        for path in sorted(ROOT.rglob("*.py"))
        # The Alembic scripts the wheel carries inside the package (CI installs non-editable) are
        # frozen history: they read the raw entry as they did when written, and are no module's API.
        if path not in ALLOWED and "_migrations" not in path.relative_to(ROOT).parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if RAW_READ.search(line)
    ]
    assert offenders == [], "read settings with registry.settings.app_settings(), not app.config['REGISTRY']"
