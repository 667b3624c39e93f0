"""The published JSON Schemas of the import/export files match the code and mean what the code does."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from marshmallow import ValidationError

from registry.accounts.schemas import AccountIn
from registry.bans.schemas import BanIn
from registry.file_formats import FORMATS, json_schema

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_committed_schema_matches_the_code(name):
    """Regenerate with `registry schemas`."""
    committed = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    assert committed == json_schema(name)
    jsonschema.Draft202012Validator.check_schema(committed)


BAN_LINES = [
    ({"identifiers": {"phone": ["+86 138 0013 8000"]}, "reason": "spam", "rule": "R1"}, True),
    ({"names": ["zhangsan_88"], "reason": "spam", "rule": "R1", "expires_at": None}, True),
    ({"account_id": "u1", "reason": "spam", "rule": "R1", "expires_at": "2030-01-01T00:00:00Z"}, True),
    ({"names": ["x"], "reason": "spam"}, False),
    ({"names": ["x"], "reason": "spam", "rule": "R1", "colour": "red"}, False),
    ({"names": "x", "reason": "spam", "rule": "R1"}, False),
    ({"identifiers": {"fax": ["1"]}, "reason": "spam", "rule": "R1"}, False),
]
ACCOUNT_LINES = [
    ({"id": "u1", "username": "zhangsan"}, True),
    ({"id": "u1", "username": "zhangsan", "account_type": "organization", "phone": None}, True),
    ({"id": "u1"}, False),
    ({"id": 7, "username": "zhangsan"}, False),
    ({"id": "u1", "username": "zhangsan", "account_type": "alien"}, False),
    ({"id": "u1", "username": "zhangsan", "extra": 1}, False),
]


@pytest.mark.parametrize(
    ("name", "schema", "line", "valid"),
    [("bans-import", BanIn, line, ok) for line, ok in BAN_LINES]
    + [("accounts-import", AccountIn, line, ok) for line, ok in ACCOUNT_LINES],
)
def test_the_file_schema_and_the_importer_agree_on_shape(name, schema, line, valid):
    validator = jsonschema.Draft202012Validator(json_schema(name))
    assert validator.is_valid(line) is valid
    if valid:
        schema().load(line)
    else:
        with pytest.raises(ValidationError):
            schema().load(line)
