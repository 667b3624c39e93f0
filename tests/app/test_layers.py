"""One direction of dependencies: a module imports only from its own layer or the layers below it.

The layers, bottom to top, are written down in the README ("Architecture"). Imports must follow them,
at module level and inside functions alike: a lower layer that needs a higher one done calls a hook
(registry/hooks.py) that the app wiring fills.
"""

from __future__ import annotations

import ast
from pathlib import Path

import registry

ROOT = Path(registry.__file__).parent

# Domain packages, bottom to top; a package may import those before it. Packages on one rank sit
# beside each other (audit and auth record each other's work; credit calls tiers). The check index's
# change log sits under every writer of it (accounts, verification, bans, reviews). Appeals sit beside
# the check, above what a granted appeal undoes (a ban's lift, a violation's credit).
DOMAIN = {
    "audit": 2,
    "auth": 2,
    "events": 2,
    "index_changes": 2,
    "accounts": 3,
    "tiers": 4,
    "verification": 4,
    "activity": 4,
    "links": 4,
    "credit": 5,
    "bans": 6,
    "check": 7,
    "appeals": 7,
    "backcheck": 8,
    "reviews": 8,
    "sweep": 9,
    # The staff console: its staff service and plumbing sit above every service its screens call.
    "console": 10,
    "webhooks": 10,
    "reports": 10,
}
# Shared helpers and pure logic (no domain package below them): rank 0. Tables (every package's
# ``models``): rank 1, so any service may read any table. Lock helpers over the tables: rank 2.
LOCKS = {"locking"}
# What a request or a command enters through (views and their schemas, commands), and the app
# wiring: above everything.
TOP_MODULES = {"views", "schemas", "cli"}
TOP_LEVEL_WIRING = {"__init__", "models", "file_formats", "cli", "serve"}
TOP = 100


def rank(module: str) -> int:
    """Return the layer of a module named ``registry.<...>``."""
    parts = module.split(".")[1:]
    if not parts:
        return TOP
    head = parts[0]
    if head in DOMAIN:
        kind = parts[1] if len(parts) > 1 else "__init__"
        if kind == "models":
            return 1
        if kind in TOP_MODULES:
            return TOP
        return DOMAIN[head]
    if len(parts) == 1 and head in TOP_LEVEL_WIRING:
        return TOP
    if head in LOCKS:
        return 2
    return 0


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1 and parts[1] in DOMAIN:
        # A domain package's __init__ re-exports its service: same layer as the package.
        return ".".join(parts)
    return ".".join(parts)


def imports(tree: ast.Module) -> list[tuple[ast.stmt, str, bool]]:
    """Return (node, imported registry module, at module level) for every import of ``registry.*``."""
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name.startswith("registry."):
                found.append((node, name, id(node) in top))
    return found


def violations() -> list[str]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        if "_migrations" in path.relative_to(ROOT).parts:
            # The installed wheel carries the Alembic scripts inside the package (pyproject's
            # force-include): they run once at upgrade and may use any layer, like the CLI.
            continue
        source = path.read_text()
        tree = ast.parse(source)
        here = module_name(path)
        same_package = here.split(".")[:2]
        for node, target, at_top in imports(tree):
            if target.split(".")[:2] == same_package:
                continue
            if rank(target) <= rank(here):
                continue
            where = f"{path.relative_to(ROOT.parent)}:{node.lineno} imports {target}"
            place = "at module level" if at_top else "inside a function"
            out.append(f"{where} {place}, against the layers (a hook, registry/hooks.py, goes upward)")
    return out


def test_imports_follow_the_layers():
    assert violations() == []


def test_the_rank_function_reads_the_layers_right():
    assert rank("registry.reviews.models") < rank("registry.check.service") < rank("registry.reviews.service")
    assert rank("registry.accounts.service") < rank("registry.bans.service") < rank("registry.check.index")
    assert rank("registry.timeutil") < rank("registry.bans.models") < rank("registry.locking")
    assert rank("registry.locking") < rank("registry.accounts.service") < rank("registry.bans.views")
    assert rank("registry.serve") == rank("registry.sweep.cli")
    assert rank("registry.index_changes") < rank("registry.accounts.service") < rank("registry.bans.importer")
    assert rank("registry.bans.importer") < rank("registry.check.index.sync")


def test_test_modules_do_not_import_the_tests_folder_as_a_package():
    """CI installs the package non-editable: ``tests`` is not importable there, only pytest's paths."""
    root = Path(__file__).resolve().parents[1]
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in root.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.startswith(("from tests.", "import tests"))
    ]
    assert not offenders, f"import helpers as pytest puts them on the path (conftest, ...): {offenders}"
