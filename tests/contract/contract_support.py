"""Constants and assertions shared by the contract tests (callers' view of /work/shared/API.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

# The contract's examples, and valid/invalid check digits from DOMAIN.md.
PHONE = "+86 138 0013 8000"
ID_NUMBER = "11010519491231002X"
ID_NUMBER_2 = "440524188001010014"
BAD_ID_NUMBER = "110105194912310021"
USCC = "91350100M000100Y43"
USCC_2 = "91110000600037341L"
BAD_USCC = "91350100M000100Y44"

# An ISO 8601 time that carries a zone: Z or +hh:mm.
ZONED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")


def iso(moment: datetime) -> str:
    """Format an aware time the way a caller would send it."""
    return moment.astimezone(UTC).isoformat()


def days_ago(n: float) -> str:
    """Return the time n days before now, zoned."""
    return iso(datetime.now(UTC) - timedelta(days=n))


def parse(value: str) -> datetime:
    """Parse a zoned time from a response, asserting it carries a zone."""
    assert isinstance(value, str) and ZONED.match(value), value
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.tzinfo is not None
    return moment


def assert_error(response: Any, code: int) -> dict[str, Any]:
    """Assert the contract's error shape and code, and return the body."""
    assert response.status_code == code, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) >= {"code", "status", "message"}, body
    assert body["code"] == code
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str)
    return body


def assert_names_field(body: dict[str, Any], field: str) -> None:
    """Assert a validation error names ``field`` somewhere in its errors."""
    errors = body.get("errors")
    assert isinstance(errors, dict), body

    def names(node: Any) -> bool:
        return isinstance(node, dict) and (field in node or any(names(v) for v in node.values()))

    assert names(errors), body


def reasons_of(result: dict[str, Any], code: str) -> list[dict[str, Any]]:
    """Return the reasons of a check with this code."""
    return [r for r in result["reasons"] if r["code"] == code]
