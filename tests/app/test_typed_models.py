"""The models are typed: mypy refuses a misspelled attribute or a wrongly typed column value.

Every model subclasses ``registry.extensions.Model`` (SQLAlchemy's typed declarative base with
Flask-SQLAlchemy's mixins), not ``db.Model`` (Any to mypy). This runs mypy, as configured for the
project (strict), on a few lines that use a model, and reads its verdict.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SNIPPET = textwrap.dedent(
    """\
    from registry.accounts.models import Account

    account = Account(id="a-1", tier="standard")
    account.verification_status = "verified"
    account.verfication_status = "verified"
    account.credit = "full"
    reveal_type(account.verified_at)
    """
)


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> str:
    pytest.importorskip("mypy")
    folder = tmp_path_factory.mktemp("typing")
    snippet = folder / "uses_account.py"
    snippet.write_text(SNIPPET)
    # pytest's cache folder keeps mypy's cache between runs (a cold run reads SQLAlchemy's types).
    pytest_cache = getattr(pytestconfig, "cache", None)
    cache = Path(pytest_cache.mkdir("mypy")) if pytest_cache else folder / ".mypy_cache"
    # Run from the snippet's folder: the registry is found as installed (editable or not), as a
    # project that depends on it would find it.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            snippet.name,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr or proc.stdout
    return proc.stdout


def lines(output: str, code: str) -> list[str]:
    return [line for line in output.splitlines() if line.endswith(f"[{code}]")]


def test_a_misspelled_attribute_on_a_model_is_a_mypy_error(mypy_output: str) -> None:
    [error] = lines(mypy_output, "attr-defined")
    assert error.startswith("uses_account.py:5:")
    assert '"Account" has no attribute "verfication_status"' in error


def test_a_column_is_typed_by_its_mapped_annotation(mypy_output: str) -> None:
    [error] = lines(mypy_output, "assignment")
    assert error.startswith("uses_account.py:6:")
    assert 'expression has type "str"' in error and "int" in error.split("variable has type")[1]
    assert 'Revealed type is "datetime.datetime | None"' in mypy_output


def test_nothing_else_is_reported(mypy_output: str) -> None:
    # The constructor and the correctly spelled, correctly typed assignment pass.
    reported = [line for line in mypy_output.splitlines() if ": error:" in line]
    assert len(reported) == 2, mypy_output
