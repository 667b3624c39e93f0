"""Reading JSON Lines for the bulk imports: one document per line, errors as messages, not exceptions."""

from __future__ import annotations

import json
from typing import Any

from registry.extensions import nul_path


def parse_line(line: str) -> tuple[Any, str | None]:
    """Parse one line; return (document, None) or (None, a message naming what is wrong)."""
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} at column {exc.colno}"
    # PostgreSQL cannot store NUL in text: refuse the line here rather than fail its whole batch.
    if "\\u0000" in line or "\x00" in line:
        where = nul_path(doc)
        if where:
            return None, f"{where}: must not contain NUL characters"
    return doc, None
